//! Turning `metrics` key names into Prometheus names.
//!
//! `metrics` allows any string (`http.requests`, `db-latency`); Prometheus allows
//! `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names and `[a-zA-Z_][a-zA-Z0-9_]*` for labels.
//! Invalid characters become `_` and a leading digit gets a `_` prefix, as
//! metrics-exporter-prometheus does, so the same code exposes the same names on either.

/// A valid metric name for `name`.
pub(crate) fn metric_name(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A valid label name for `name` (`__`-prefixed names, reserved by Prometheus, get an extra
/// leading letter).
pub(crate) fn label_name(name: &str) -> String {
    let s = sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_');
    if s.starts_with("__") {
        format!("l{s}")
    } else {
        s
    }
}

fn sanitize(name: &str, valid: impl Fn(char) -> bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if valid(c) { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{check_label_name, check_metric_name};

    #[test]
    fn sanitizes_like_the_prometheus_exporter() {
        assert_eq!(metric_name("http.requests-total"), "http_requests_total");
        assert_eq!(metric_name("9lives"), "_9lives");
        assert_eq!(metric_name("job:rate5m"), "job:rate5m");
        assert_eq!(metric_name(""), "_");
        assert_eq!(label_name("status.code"), "status_code");
        assert_eq!(label_name("a:b"), "a_b");
        assert_eq!(label_name("__name__"), "l__name__");
    }

    #[test]
    fn results_always_validate() {
        for raw in ["", "é", "a b", "1", "::", "__x", "ok_name", "ü:ber", "-"] {
            assert_eq!(check_metric_name(&metric_name(raw)), Ok(()), "{raw:?}");
            assert_eq!(check_label_name(&label_name(raw)), Ok(()), "{raw:?}");
        }
    }
}
