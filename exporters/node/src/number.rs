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

/// A signed decimal integer.
pub(crate) fn int(s: &str) -> Result<i64, ParseErrorKind> {
    s.parse::<i64>().map_err(|_| ParseErrorKind::number(s))
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
    }
}
