//! Payment card numbers: issuer prefix, length and Luhn checksum, so ordinary long numbers
//! (epoch nanoseconds, order ids) are not mistaken for cards.

/// Whether `digits` (ASCII digits only) is a plausible card number.
pub(crate) fn is_card(digits: &[u8]) -> bool {
    issuer_accepts(digits) && luhn(digits)
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Issuer identification ranges of the networks the card rules name, with their lengths.
fn issuer_accepts(d: &[u8]) -> bool {
    let len = d.len();
    if !(13..=19).contains(&len) {
        return false;
    }
    let p = |n: usize| -> u32 {
        d[..n]
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    match d[0] {
        // Visa
        b'4' => matches!(len, 13 | 16 | 19),
        // Mastercard 2-series, Mir (2200-2204)
        b'2' => (2221..=2720).contains(&p(4)) && len == 16 || (2200..=2204).contains(&p(4)),
        b'3' => match p(2) {
            // Amex
            34 | 37 => len == 15,
            // JCB
            35 => (3528..=3589).contains(&p(4)) && len >= 16,
            // Diners Club
            36 | 38 | 39 => len >= 14,
            30 => (300..=305).contains(&p(3)) || p(3) == 309,
            _ => false,
        },
        // Mastercard 51-55, Maestro 50 and 56-58
        b'5' => match p(2) {
            51..=55 => len == 16,
            50 | 56..=58 => true,
            _ => false,
        },
        // Discover, UnionPay, Maestro 6x, RuPay
        b'6' => len >= 16 || p(1) == 6,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_numbers_of_each_network() {
        for n in [
            "4111111111111111",
            "4012888888881881",
            "4222222222222",
            "5555555555554444",
            "5105105105105100",
            "2223003122003222",
            "378282246310005",
            "371449635398431",
            "6011111111111117",
            "6011000990139424",
            "3530111333300000",
            "3566002020360505",
            "30569309025904",
            "38520000023237",
            "6200000000000005",
            "6759649826438453",
        ] {
            assert!(is_card(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn ordinary_numbers() {
        for n in [
            "1767225600123456789",
            "1767225600123",
            "4111111111111112",
            "123456789012",
            "9999999999999995",
            "0000000000000000",
            "411111111111111",
        ] {
            assert!(!is_card(n.as_bytes()), "{n}");
        }
    }
}
