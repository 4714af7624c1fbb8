//! Small text rules every Datadog encoder shares: tag values that cannot break a DogStatsD line
//! or a comma-separated tag list, numbers as the DogStatsD parser and the OpenMetrics check
//! write them.

/// Appends `value` with `,` `|` `#` and line breaks replaced by `_`: a `,` would split the tag
/// in two, a `|` would start a new DogStatsD field, a line break a new metric. Datadog itself
/// turns every character outside its tag alphabet into `_`, so nothing is lost that the
/// backend would keep.
pub(crate) fn push_tag_value(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    if !bytes.iter().any(|&b| breaks_tag(b)) {
        out.extend_from_slice(bytes);
        return;
    }
    out.extend(bytes.iter().map(|&b| if breaks_tag(b) { b'_' } else { b }));
}

#[inline]
fn breaks_tag(b: u8) -> bool {
    matches!(b, b',' | b'|' | b'#' | b'\n' | b'\r')
}

/// Appends `key:value` (or the bare value when `key` is empty), sanitized.
pub(crate) fn push_tag(out: &mut Vec<u8>, key: &str, value: &str) {
    if !key.is_empty() {
        push_tag_value(out, key);
        out.push(b':');
    }
    push_tag_value(out, value);
}

/// Splits a `DD_TAGS` value: tags separated by commas or whitespace, empty ones skipped.
pub(crate) fn split_tags(list: &str) -> impl Iterator<Item = &str> {
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
}

/// The key of a `key:value` tag (the part before the first colon), or the whole bare tag.
pub(crate) fn tag_key(tag: &str) -> &str {
    tag.split_once(':').map_or(tag, |(k, _)| k)
}

/// Appends `v` the way DogStatsD clients write values: an integer when it is one (within the
/// range where every integer is exact), else the shortest decimal that reads back as `v`,
/// never in exponent notation. `v` must be finite.
pub(crate) fn push_value(out: &mut Vec<u8>, v: f64) {
    debug_assert!(v.is_finite());
    // In range, `as` truncates exactly, and an integer converts back to itself (this is
    // `v == v.trunc()` without the libm call).
    if v.abs() < 9.2e18 && (v as i64) as f64 == v {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        return;
    }
    if push_short_decimal(out, v) {
        return;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    if s.contains('e') {
        // Rust's Display writes the same shortest digits without an exponent.
        out.extend_from_slice(v.to_string().as_bytes());
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Appends `v` (not an integer) with one to three decimals when that many read back as `v`:
/// then the same text as ryu's shortest round trip, at a fraction of its time (ryu strips the
/// digits of a short decimal one at a time). False, and nothing written, otherwise.
///
/// Why it is the same: below 10^12 (< 2^40) a double's spacing times 1000 is under 1/8, so if
/// some decimal with `d` <= 3 digits reads back as `v`, rounding `v * 10^d` (itself within
/// 1/8 of the exact product) finds its digits; `n / 10^d` divides two exact doubles, so it is
/// correctly rounded, as parsing the decimal is. Trying `d` = 1, 2, 3 in turn finds the
/// fewest digits that read back, and at that length there is only one candidate, so it is
/// ryu's; it never ends in `0` (then `d - 1` digits would have read back). The rounding is
/// `(x + 0.5)` truncated: within 1/4 of an integer (the only case that matters) it is exact.
#[inline]
fn push_short_decimal(out: &mut Vec<u8>, v: f64) -> bool {
    let a = v.abs();
    if !(1e-3..1e12).contains(&a) {
        return false;
    }
    let mut scale = 1.0;
    for d in 1..=3usize {
        scale *= 10.0;
        let n = (a * scale + 0.5) as u64;
        if n as f64 / scale != a {
            continue;
        }
        let p = [10, 100, 1000][d - 1];
        if v < 0.0 {
            out.push(b'-');
        }
        out.extend_from_slice(itoa::Buffer::new().format(n / p).as_bytes());
        out.push(b'.');
        let frac = n % p;
        let mut digits = [b'0'; 3];
        let mut f = frac;
        for slot in digits[..d].iter_mut().rev() {
            *slot = b'0' + (f % 10) as u8;
            f /= 10;
        }
        out.extend_from_slice(&digits[..d]);
        return true;
    }
    false
}

/// Appends `v` as Python's `str(float)` writes it, which is how Datadog's OpenMetrics check
/// writes the `upper_bound` and `quantile` tags (`0.005`, `1.0`, `10.0`, `1e-05`, `1e+16`,
/// `inf`; zero as `0`), so dashboards built on the check find the same tag values.
pub(crate) fn push_python_float(out: &mut Vec<u8>, v: f64) {
    if v == 0.0 {
        // The check canonicalizes with `float(label) or 0`.
        out.push(b'0');
        return;
    }
    if v.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    // Shortest round-trip digits and the decimal exponent of the first one.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` writes an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    if v < 0.0 {
        out.push(b'-');
    }
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
            out.extend_from_slice(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(&digits);
                out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(abs).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `push_value`'s reference: ryu's shortest round trip, without exponent.
    fn ryu_value(v: f64) -> String {
        if v == v.trunc() && v.abs() < 9.2e18 {
            return (v as i64).to_string();
        }
        let s = ryu::Buffer::new().format_finite(v).to_owned();
        if s.contains('e') { v.to_string() } else { s }
    }

    #[test]
    fn short_decimals_as_ryu_writes_them() {
        let mut vals = vec![
            0.5,
            -0.5,
            1.5,
            0.1,
            0.2,
            0.3,
            0.1 + 0.2,
            0.001,
            0.0015,
            0.999,
            1e-3,
            9.99e-4,
            123.456,
            1234.5,
            -7.25,
            0.125,
            2.675,
            1.005,
            999_999_999_999.5,
            1e12 - 0.5,
            1_099_511_627_775.5,
            0.07,
            1.0 / 3.0,
            4.35,
            8.675,
        ];
        // Decimals of one to four digits, around powers of two and ten, and arbitrary bits.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = [10.0, 100.0, 1000.0, 10000.0][(x % 4) as usize];
            let mag = 10f64.powi(((x >> 8) % 13) as i32);
            vals.push(((x >> 16) % 1_000_000) as f64 / d * mag / 1000.0);
            vals.push(((x >> 12) % 100_000_000) as f64 / d);
            let bits = f64::from_bits(x);
            if bits.is_finite() {
                vals.push(bits);
            }
        }
        for v in vals {
            for v in [v, -v] {
                let mut out = Vec::new();
                push_value(&mut out, v);
                assert_eq!(String::from_utf8(out).unwrap(), ryu_value(v), "{v:?}");
            }
        }
    }

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn python_float_repr() {
        // Checked against CPython 3: `str(float(x) or 0)`.
        for (v, want) in [
            (0.005, "0.005"),
            (0.25, "0.25"),
            (1.0, "1.0"),
            (10.0, "10.0"),
            (2.5, "2.5"),
            (1e6, "1000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5e-7, "2.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (123.456, "123.456"),
            (-0.5, "-0.5"),
            (0.0, "0"),
            (-0.0, "0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(s(|o| push_python_float(o, v)), want, "{v:?}");
        }
    }

    #[test]
    fn values_never_use_exponents() {
        for (v, want) in [
            (0.0, "0"),
            (-0.0, "0"),
            (42.0, "42"),
            (-3.0, "-3"),
            (0.5, "0.5"),
            (1e-7, "0.0000001"),
            (1e20, "100000000000000000000"),
            (123456.789, "123456.789"),
            (9007199254740993.0, "9007199254740992"),
        ] {
            assert_eq!(s(|o| push_value(o, v)), want, "{v:?}");
        }
    }

    #[test]
    fn tag_values_cannot_break_the_line() {
        assert_eq!(
            s(|o| push_tag(o, "path", "/a,b|c#d\ne\rf:g")),
            "path:/a_b_c_d_e_f:g"
        );
        assert_eq!(s(|o| push_tag(o, "", "bare")), "bare");
        assert_eq!(
            split_tags("a:1, b:2  c,,d ").collect::<Vec<_>>(),
            ["a:1", "b:2", "c", "d"]
        );
        assert_eq!(tag_key("env:prod:x"), "env");
        assert_eq!(tag_key("bare"), "bare");
    }
}
