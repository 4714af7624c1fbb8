//! Number formatting as the Prometheus ecosystem writes it.
//!
//! Sample values that are whole numbers are written as integers (exact, and what OpenMetrics
//! prefers); other floats use Go's `strconv.FormatFloat(v, 'g', -1, 64)` layout, which is what
//! client_golang and therefore the Go exporters emit (`0.25`, `1.5e+07`, `1e-05`). `le` and
//! `quantile` label values are written as client_golang writes them in text 0.0.4 (`1`,
//! `0.005`, `1e+06`), so selectors such as `{le="1"}` written against a Go exporter keep
//! matching, and in OpenMetrics' canonical form, which adds `.0` to whole numbers (`1.0`,
//! `10.0`, `+Inf`).

/// `v` as an integer, when it is one that prints exactly (|v| < 10¹⁵). Cheaper than
/// `f64::fract`, which is a libm call on the baseline x86-64 target; NaN and ±∞ fail the
/// round trip (the conversion saturates).
#[inline(always)]
pub(crate) fn as_exact_int(v: f64) -> Option<i64> {
    let i = v as i64;
    (i as f64 == v && i.unsigned_abs() < 1_000_000_000_000_000).then_some(i)
}

/// Writes `v` as a sample value.
#[inline]
pub(crate) fn write_value(v: f64, out: &mut Vec<u8>) {
    match as_exact_int(v) {
        Some(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        None => write_go(v, out),
    }
}

/// Writes `v` as an `le` or `quantile` label value: Go's `%g` in text 0.0.4, OpenMetrics'
/// canonical form otherwise.
pub(crate) fn write_label_float(v: f64, openmetrics: bool, out: &mut Vec<u8>) {
    if openmetrics {
        write_canonical(v, out);
    } else {
        write_go(v, out);
    }
}

/// Writes `v` in OpenMetrics' canonical form for `le` and `quantile` values.
pub(crate) fn write_canonical(v: f64, out: &mut Vec<u8>) {
    let start = out.len();
    write_go(v, out);
    let written = &out[start..];
    if v.is_finite() && !written.iter().any(|&c| c == b'.' || c == b'e') {
        out.extend_from_slice(b".0");
    }
}

/// Go's `%g` with the shortest precision that round-trips.
pub(crate) fn write_go(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v.abs());
    let (digits, dp) = shortest_digits(s);
    if v < 0.0 {
        out.push(b'-');
    }
    let nd = digits.len() as i32;
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        out.push(digits[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(e).as_bytes());
    } else if dp <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-dp) as usize));
        out.extend_from_slice(&digits);
    } else {
        let int = dp.min(nd) as usize;
        out.extend_from_slice(&digits[..int]);
        out.extend(std::iter::repeat_n(b'0', (dp - int as i32).max(0) as usize));
        if nd > dp {
            out.push(b'.');
            out.extend_from_slice(&digits[dp as usize..]);
        }
    }
}

/// Splits ryu's shortest representation of a positive finite number into its significant
/// digits (no leading or trailing zeros) and the position of the decimal point relative to
/// them (`digits × 10^(dp − len)`).
fn shortest_digits(s: &str) -> (arrayvec_lite::Digits, i32) {
    let (mantissa, exp) = match s.find('e') {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = arrayvec_lite::Digits::default();
    let mut dp = int.len() as i32 + exp;
    for &c in int.as_bytes().iter().chain(frac.as_bytes()) {
        if digits.is_empty() && c == b'0' {
            dp -= 1;
            continue;
        }
        digits.push(c);
    }
    digits.trim_trailing_zeros();
    (digits, dp)
}

mod arrayvec_lite {
    /// Up to 40 ASCII digits on the stack (ryu never produces more than 17 significant ones).
    pub(super) struct Digits {
        buf: [u8; 40],
        len: usize,
    }

    impl Default for Digits {
        fn default() -> Self {
            Digits {
                buf: [0; 40],
                len: 0,
            }
        }
    }

    impl Digits {
        pub(super) fn push(&mut self, c: u8) {
            if self.len < self.buf.len() {
                self.buf[self.len] = c;
                self.len += 1;
            }
        }
        pub(super) fn is_empty(&self) -> bool {
            self.len == 0
        }
        pub(super) fn trim_trailing_zeros(&mut self) {
            while self.len > 1 && self.buf[self.len - 1] == b'0' {
                self.len -= 1;
            }
        }
    }

    impl std::ops::Deref for Digits {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            &self.buf[..self.len]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(v: f64) -> String {
        let mut out = Vec::new();
        write_go(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn canonical(v: f64) -> String {
        let mut out = Vec::new();
        write_canonical(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn value(v: f64) -> String {
        let mut out = Vec::new();
        write_value(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_go_strconv_g() {
        // Expected strings are Go's strconv.FormatFloat(v, 'g', -1, 64).
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.5, "0.5"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (2.0878557184e10, "2.0878557184e+10"),
            (1.5e-7, "1.5e-07"),
            (-2.5, "-2.5"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.25, "100.25"),
        ];
        for &(v, want) in cases {
            assert_eq!(go(v), want, "{v:e}");
        }
        assert_eq!(go(f64::NAN), "NaN");
        assert_eq!(go(f64::INFINITY), "+Inf");
        assert_eq!(go(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn canonical_le_values() {
        assert_eq!(canonical(1.0), "1.0");
        assert_eq!(canonical(10.0), "10.0");
        assert_eq!(canonical(0.005), "0.005");
        assert_eq!(canonical(1e6), "1e+06");
        assert_eq!(canonical(f64::INFINITY), "+Inf");
        assert_eq!(canonical(0.0), "0.0");
    }

    #[test]
    fn exact_integers() {
        assert_eq!(as_exact_int(3.0), Some(3));
        assert_eq!(as_exact_int(-0.0), Some(0));
        assert_eq!(as_exact_int(0.5), None);
        assert_eq!(as_exact_int(1e15), None);
        assert_eq!(as_exact_int(f64::NAN), None);
        assert_eq!(as_exact_int(f64::INFINITY), None);
        assert_eq!(as_exact_int(-1e18), None);
    }

    #[test]
    fn values_prefer_exact_integers() {
        assert_eq!(value(42.0), "42");
        assert_eq!(value(-3.0), "-3");
        assert_eq!(value(2.0878557184e10), "20878557184");
        assert_eq!(value(1e20), "1e+20");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(f64::NAN), "NaN");
    }

    #[test]
    fn round_trips_through_parse() {
        let mut x = 1.234_567_89e-300f64;
        while x < 1e300 {
            for v in [x, -x, x * 3.7] {
                assert_eq!(go(v).parse::<f64>().unwrap(), v, "{v:e}");
            }
            x *= 17.3;
        }
    }
}
