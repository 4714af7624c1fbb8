//! Choosing the exposition format from an HTTP `Accept` header.

use crate::encoding::ExpositionFormat;

/// Picks the format to answer a scrape with, honouring q-values.
///
/// OpenMetrics 1.0 is chosen when the client accepts `application/openmetrics-text` (version
/// 1.0.0 or unspecified) with a higher quality than Prometheus text; otherwise, and for a
/// missing or unparsable header, text 0.0.4, which every scraper reads. A media range with
/// `q=0` means "not acceptable"; the most specific range matching a format sets its quality.
///
/// ```
/// use aiplatform_metrics::{ExpositionFormat, negotiate};
///
/// // Prometheus 3.x
/// let p3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
///           application/openmetrics-text;version=0.0.1;q=0.5,\
///           text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
///           text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
/// assert_eq!(negotiate(Some(p3)), ExpositionFormat::OpenMetrics);
/// assert_eq!(negotiate(Some("text/plain;version=0.0.4")), ExpositionFormat::Text);
/// assert_eq!(negotiate(Some("*/*")), ExpositionFormat::Text);
/// assert_eq!(negotiate(None), ExpositionFormat::Text);
/// ```
pub fn negotiate(accept: Option<&str>) -> ExpositionFormat {
    let Some(accept) = accept else {
        return ExpositionFormat::Text;
    };
    let mut om = Best::default();
    let mut text = Best::default();
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let Some((ty, sub)) = parts.next().and_then(|m| m.trim().split_once('/')) else {
            continue;
        };
        let (ty, sub) = (
            ty.trim().to_ascii_lowercase(),
            sub.trim().to_ascii_lowercase(),
        );
        let mut q = 1.0f32;
        let mut version = None;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => {
                    q = v
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0)
                }
                "version" => version = Some(v.to_owned()),
                _ => {}
            }
        }
        match (ty.as_str(), sub.as_str()) {
            ("application", "openmetrics-text") => match version.as_deref() {
                None | Some("1.0.0") => om.offer(3, q),
                _ => {}
            },
            ("text", "plain") => match version.as_deref() {
                None | Some("0.0.4") | Some("1.0.0") => text.offer(3, q),
                _ => {}
            },
            ("application", "*") => om.offer(2, q),
            ("text", "*") => text.offer(2, q),
            ("*", "*") => {
                om.offer(1, q);
                text.offer(1, q);
            }
            _ => {}
        }
    }
    if om.q > 0.0 && om.q > text.q {
        ExpositionFormat::OpenMetrics
    } else {
        ExpositionFormat::Text
    }
}

/// The quality of the most specific media range seen for one format.
#[derive(Default)]
struct Best {
    specificity: u8,
    q: f32,
}

impl Best {
    fn offer(&mut self, specificity: u8, q: f32) {
        if specificity > self.specificity || (specificity == self.specificity && q > self.q) {
            self.specificity = specificity;
            self.q = q;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_prometheus_versions_send() {
        let p2_old = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let p2_proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let p2_late = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        for h in [p2_old, p2_proto, p2_late] {
            assert_eq!(negotiate(Some(h)), ExpositionFormat::OpenMetrics, "{h}");
        }
        // Configured for text only (scrape_protocols: [PrometheusText0.0.4]).
        assert_eq!(
            negotiate(Some("text/plain;version=0.0.4;q=1,*/*;q=0.1")),
            ExpositionFormat::Text
        );
    }

    #[test]
    fn q_values_and_exclusions() {
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0, */*")),
            ExpositionFormat::Text
        );
        assert_eq!(
            negotiate(Some("text/plain;q=0.2, application/openmetrics-text;q=0.9")),
            ExpositionFormat::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.2")),
            ExpositionFormat::Text
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text; version=0.0.1")),
            ExpositionFormat::Text
        );
        assert_eq!(
            negotiate(Some("Application/OpenMetrics-Text; Version=\"1.0.0\"")),
            ExpositionFormat::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("text/plain;q=0.1, application/*;q=0.5")),
            ExpositionFormat::OpenMetrics
        );
        assert_eq!(negotiate(Some("garbage, ;;;, /")), ExpositionFormat::Text);
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=abc")),
            ExpositionFormat::Text
        );
    }
}
