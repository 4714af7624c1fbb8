//! The few JSON writers the encoders need: strings (escaped, optionally cut to a number of
//! characters), integers and finite floats, appended to a byte buffer without intermediate
//! allocations.

/// Appends `s` as a JSON string, quotes included.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// Appends `s` escaped for the inside of a JSON string (no quotes).
pub(crate) fn escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Most strings need no escape: check them 16 bytes at a time, without a branch per byte
    // (the compiler vectorizes the fold), and copy them whole.
    let needs = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    if bytes
        .chunks(16)
        .all(|c| !c.iter().fold(false, |any, &b| any | needs(b)))
    {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `s` cut to at most `max_chars` characters (Unicode scalar values, as New Relic counts
/// them), and whether it was cut.
pub(crate) fn cut_chars(s: &str, max_chars: usize) -> (&str, bool) {
    // A string of at most `max_chars` bytes has at most that many characters.
    if s.len() <= max_chars {
        return (s, false);
    }
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => (&s[..at], true),
        None => (s, false),
    }
}

/// Appends an unsigned integer; beyond `i64::MAX` (where New Relic's Java-based intake drops
/// the value) as a float.
pub(crate) fn u64(out: &mut Vec<u8>, v: u64) {
    if v <= i64::MAX as u64 {
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    } else {
        f64(out, v as f64);
    }
}

/// Appends a signed integer.
pub(crate) fn i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a finite float (callers leave non-finite values out: JSON cannot carry them).
/// Whole numbers are written without a fraction (`3`, not `3.0`).
pub(crate) fn f64(out: &mut Vec<u8>, v: f64) {
    debug_assert!(v.is_finite());
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        i64(out, v as i64);
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Appends a finite float always in float form (`1.0`, `0.005`), for attributes whose values
/// must keep one numeric type across series (New Relic types an attribute by its values).
pub(crate) fn float(out: &mut Vec<u8>, v: f64) {
    debug_assert!(v.is_finite());
    out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_round_trip_through_a_json_parser() {
        for input in [
            "plain",
            "quote \" backslash \\ slash /",
            "lines\nand\ttabs\r",
            "\u{0}\u{1f}\u{7f}",
            "unicode é 日本 🎉",
            "",
            "sixteen clean by, then a \" in the second chunk",
            "a path/with/no/escapes/that/is/longer/than/sixteen/bytes.rs",
        ] {
            let json = s(|o| string(o, input));
            let back: String = serde_json::from_str(&json).unwrap();
            assert_eq!(back, input, "{json}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(s(|o| u64(o, 42)), "42");
        assert_eq!(s(|o| u64(o, u64::MAX)), "1.8446744073709552e19");
        assert_eq!(s(|o| f64(o, 3.0)), "3");
        assert_eq!(s(|o| f64(o, -0.25)), "-0.25");
        assert_eq!(s(|o| f64(o, 1e300)), "1e300");
        assert_eq!(s(|o| i64(o, -7)), "-7");
        assert_eq!(s(|o| float(o, 1.0)), "1.0");
        assert_eq!(s(|o| float(o, 0.005)), "0.005");
    }

    #[test]
    fn cutting_counts_characters_not_bytes() {
        assert_eq!(cut_chars("abc", 3), ("abc", false));
        assert_eq!(cut_chars("abcd", 3), ("abc", true));
        assert_eq!(cut_chars("ééé", 2), ("éé", true));
        assert_eq!(cut_chars("éé", 2), ("éé", false));
    }
}
