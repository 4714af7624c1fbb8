//! Prometheus text 0.0.4 and OpenMetrics 1.0 exposition, and `Accept` negotiation.
//!
//! Both formats come from one writer: they differ only in a few places (the counter's `# TYPE`
//! name, HELP escaping, `# UNIT`, `untyped` vs `unknown`, timestamp units and `# EOF`). Output
//! is deterministic: families sorted by name, series by label values. Label text was escaped
//! when each series was created, so encoding copies bytes and formats numbers; an [`Encoder`]
//! reused across calls allocates nothing.

mod cursor;
mod float;
mod negotiate;
mod writer;

pub use negotiate::negotiate;

/// Writes `v` as Prometheus writes an `le` or `quantile` label value in text 0.0.4 (Go's
/// `%g`: `0.005`, `1`, `1e+06`, `+Inf`), for push protocols that send histograms as
/// `_bucket` series (remote write), so their series match a scrape's.
///
/// ```
/// let mut out = Vec::new();
/// aiplatform_metrics::collect::write_le_value(1e6, &mut out);
/// out.push(b' ');
/// aiplatform_metrics::collect::write_le_value(f64::INFINITY, &mut out);
/// assert_eq!(out, b"1e+06 +Inf");
/// ```
pub fn write_le_value(v: f64, out: &mut Vec<u8>) {
    float::write_go(v, out);
}

use crate::snapshot::Snapshot;

/// `Content-Type` of Prometheus text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics 1.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpositionFormat {
    /// Prometheus text format 0.0.4, what every Prometheus version reads.
    #[default]
    Text,
    /// OpenMetrics 1.0 text: `# UNIT`, `unknown`, counters' `_total` on samples only, `# EOF`.
    /// Counter samples that OpenMetrics forbids (NaN or negative, which only a collector can
    /// produce) are left out.
    OpenMetrics,
}

impl ExpositionFormat {
    /// The exact `Content-Type` to send with this format.
    ///
    /// ```
    /// use aiplatform_metrics::ExpositionFormat;
    /// assert_eq!(ExpositionFormat::Text.content_type(), "text/plain; version=0.0.4; charset=utf-8");
    /// ```
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::Text => TEXT_CONTENT_TYPE,
            ExpositionFormat::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Encodes snapshots; keeps its scratch space between calls so that, warm, it allocates
/// nothing.
///
/// ```
/// use aiplatform_metrics::{Encoder, ExpositionFormat, Registry};
///
/// let registry = Registry::new();
/// registry.gauge("temperature_celsius", "Inlet temperature.").unwrap().set(21.5);
/// let mut encoder = Encoder::new();
/// let mut out = Vec::new();
/// encoder.encode(&registry.collect(), ExpositionFormat::OpenMetrics, &mut out);
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "# TYPE temperature_celsius gauge\n# HELP temperature_celsius Inlet temperature.\ntemperature_celsius 21.5\n# EOF\n"
/// );
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    scratch: writer::Scratch,
}

impl Encoder {
    /// A new encoder.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Appends `snapshot` in `format` to `out`.
    pub fn encode(&mut self, snapshot: &Snapshot, format: ExpositionFormat, out: &mut Vec<u8>) {
        writer::write_snapshot(snapshot, format, out, &mut self.scratch);
    }
}

/// Encodes `snapshot` in `format` (a one-off [`Encoder`]).
///
/// ```
/// use aiplatform_metrics::{ExpositionFormat, Registry, encode};
///
/// let registry = Registry::new();
/// registry.counter("up_total", "").unwrap().inc();
/// assert_eq!(encode(&registry.collect(), ExpositionFormat::Text), b"# TYPE up_total counter\nup_total 1\n");
/// ```
pub fn encode(snapshot: &Snapshot, format: ExpositionFormat) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new().encode(snapshot, format, &mut out);
    out
}
