//! Number parsing with Go's rules where node_exporter uses `strconv` (no regex, no
//! allocation).

use crate::error::ParseErrorKind;

/// A float as `strconv.ParseFloat(s, 64)` reads it (decimal, exponent, `NaN`, `Inf`).
pub(crate) fn float(s: &str) -> Result<f64, ParseErrorKind> {
    aiplatform_prometheus::textparse::go_float(s).ok_or_else(|| ParseErrorKind::number(s))
}

/// An unsigned decimal integer, as `strconv.ParseUint(s, 10, 64)`.
pub(crate) fn uint(s: &str) -> Result<u64, ParseErrorKind> {
    if s.starts_with('+') {
        return Err(ParseErrorKind::number(s));
    }
    s.parse::<u64>().map_err(|_| ParseErrorKind::number(s))
}

/// An unsigned hexadecimal integer, as `strconv.ParseUint(s, 16, 64)` (no sign, no `0x`).
pub(crate) fn hex(s: &str) -> Result<u64, ParseErrorKind> {
    if s.starts_with('+') {
        return Err(ParseErrorKind::number(s));
    }
    u64::from_str_radix(s, 16).map_err(|_| ParseErrorKind::number(s))
}

/// A signed decimal integer.
pub(crate) fn int(s: &str) -> Result<i64, ParseErrorKind> {
    s.parse::<i64>().map_err(|_| ParseErrorKind::number(s))
}

/// A signed integer as `strconv.ParseInt(s, 0, 64)` reads it (procfs' value parser): an
/// optional sign, then `0x`, `0o`, `0b` or a leading `0` (octal) select the base; with a base
/// prefix, Go's digit-separating underscores are accepted.
pub(crate) fn int_base0(s: &str) -> Result<i64, ParseErrorKind> {
    let bad = || ParseErrorKind::number(s);
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = base0_magnitude(body).ok_or_else(bad)?;
    if neg {
        if magnitude > i64::MAX as u64 + 1 {
            return Err(bad());
        }
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| bad())
    }
}

/// An unsigned integer as `strconv.ParseUint(s, 0, 64)` reads it (no sign).
pub(crate) fn uint_base0(s: &str) -> Result<u64, ParseErrorKind> {
    base0_magnitude(s).ok_or_else(|| ParseErrorKind::number(s))
}

fn base0_magnitude(body: &str) -> Option<u64> {
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    if digits.contains('_') {
        // Only after a base prefix (which counts as a digit), and only between digits.
        if radix == 10 || digits.ends_with('_') || digits.contains("__") {
            return None;
        }
        return u64::from_str_radix(&digits.replace('_', ""), radix).ok();
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_like() {
        assert_eq!(float("1.5").unwrap(), 1.5);
        assert_eq!(float("-1").unwrap(), -1.0);
        assert!(float("NaN").unwrap().is_nan());
        assert_eq!(float("+Inf").unwrap(), f64::INFINITY);
        assert!(float("").is_err() && float("1x").is_err());
        assert!(float("1e400").is_err() && float("-1e309").is_err());
        assert_eq!(float("-Infinity").unwrap(), f64::NEG_INFINITY);
        assert_eq!(uint("18446744073709551615").unwrap(), u64::MAX);
        assert!(
            uint("18446744073709551616").is_err() && uint("-1").is_err() && uint("+1").is_err()
        );
        assert_eq!(int("-3").unwrap(), -3);
        assert_eq!(hex("0002529a").unwrap(), 0x2529a);
        assert!(hex("+1").is_err() && hex("0x1").is_err() && hex("").is_err());
        assert_eq!(int_base0("0x10").unwrap(), 16);
        assert_eq!(int_base0("010").unwrap(), 8);
        assert_eq!(int_base0("0").unwrap(), 0);
        assert_eq!(int_base0("-9223372036854775808").unwrap(), i64::MIN);
        assert!(int_base0("9223372036854775808").is_err() && int_base0("0x").is_err());
        assert!(int_base0("08").is_err() && int_base0("--1").is_err());
        assert_eq!(uint_base0("0x10").unwrap(), 16);
        assert_eq!(
            (int_base0("0x_1").unwrap(), int_base0("0_7").unwrap()),
            (1, 7)
        );
        assert!(
            int_base0("1_0").is_err() && int_base0("0x1_").is_err() && int_base0("0x__1").is_err()
        );
        assert!(uint_base0("-1").is_err() && uint_base0("+1").is_err());
    }
}
