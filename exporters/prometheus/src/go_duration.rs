//! Go's `time.ParseDuration` syntax, which every Go exporter's duration flags and config
//! fields use (`15s`, `1m30s`, `250ms`, `1.5h`, `-2s`).

use std::time::Duration;

use thiserror::Error;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid duration {input:?}: {reason} (use Go syntax, e.g. 500ms, 15s, 1m30s)")]
pub struct GoDurationError {
    /// The string as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses a Go duration into signed nanoseconds, as `time.ParseDuration` does: an optional
/// sign, then one or more `<decimal><unit>` terms with units `ns`, `us` (`µs`, `μs`), `ms`,
/// `s`, `m`, `h`. A bare `0` is the only number allowed without a unit.
///
/// Nanoseconds (not seconds) so that `300ms` is exactly 300 000 000 and callers that
/// truncate to milliseconds, as postgres_exporter does, get Go's figure.
///
/// ```
/// use aiplatform_prometheus::parse_go_duration_nanos;
///
/// assert_eq!(parse_go_duration_nanos("1m30s"), Ok(90e9));
/// assert_eq!(parse_go_duration_nanos("-1.5ms"), Ok(-1.5e6));
/// assert!(parse_go_duration_nanos("5").is_err());
/// ```
pub fn parse_go_duration_nanos(s: &str) -> Result<f64, GoDurationError> {
    let err = |reason| GoDurationError {
        input: s.to_owned(),
        reason,
    };
    let trimmed = s.trim();
    let (negative, mut rest) = match trimmed.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(err("empty"));
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(err("expected a number"));
        }
        let value: f64 = rest[..number_len].parse().map_err(|_| err("bad number"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "" => return Err(err("missing unit")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err("unknown unit")),
        };
        rest = &rest[unit_len..];
        nanos += value * scale;
    }
    if !nanos.is_finite() {
        return Err(err("out of range"));
    }
    Ok(if negative { -nanos } else { nanos })
}

/// Parses a non-negative Go duration (a timeout, an interval).
///
/// ```
/// use std::time::Duration;
/// use aiplatform_prometheus::parse_go_duration;
///
/// assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
/// assert!(parse_go_duration("-1s").is_err());
/// ```
pub fn parse_go_duration(s: &str) -> Result<Duration, GoDurationError> {
    let nanos = parse_go_duration_nanos(s)?;
    if nanos < 0.0 {
        return Err(GoDurationError {
            input: s.to_owned(),
            reason: "negative",
        });
    }
    if nanos >= u64::MAX as f64 {
        return Err(GoDurationError {
            input: s.to_owned(),
            reason: "out of range",
        });
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_is_accepted() {
        assert_eq!(parse_go_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1500µs"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration_nanos("1h2m3.5s"), Ok(3_723.5e9));
        assert_eq!(parse_go_duration_nanos("-2s"), Ok(-2e9));
        assert_eq!(parse_go_duration_nanos("300ms").map(|n| n / 1e6), Ok(300.0));
    }

    #[test]
    fn bad_input_says_why() {
        for (bad, reason) in [
            ("", "empty"),
            ("5", "missing unit"),
            ("5x", "unknown unit"),
            ("s", "expected a number"),
            ("1..2s", "bad number"),
            ("01:02:03", "unknown unit"),
            ("-1s", "negative"),
            (&format!("{}h", "9".repeat(400)), "out of range"),
        ] {
            let e = parse_go_duration(bad).unwrap_err();
            assert_eq!(e.reason, reason, "{bad:?}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = parse_go_duration(&s);
        }
    }
}
