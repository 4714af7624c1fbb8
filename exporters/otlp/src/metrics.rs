//! The metrics encoder: a registry collection as OTLP `Metric` records.
//!
//! | registry | OTLP |
//! |---|---|
//! | counter | `Sum`, monotonic, cumulative or delta; integer values as `as_int` |
//! | gauge, untyped | `Gauge`, `as_double` |
//! | histogram | `Histogram` (explicit bounds, per-bucket counts), cumulative or delta |
//! | summary (from collectors) | `Summary`, always cumulative as collected |
//!
//! Names are the registry's family names (a counter registered as `jobs_total` is `jobs`, as
//! OpenTelemetry names counters; Prometheus' OTLP receiver adds `_total` back), the help text
//! is the description, and units are written in UCUM (`seconds` → `s`, `bytes` → `By`).
//! Each series' labels are the data point's attributes, then the registry's constant labels;
//! empty label values are left out, as Prometheus treats them as absent.
//!
//! A record is one `Metric` with up to [`POINTS_PER_RECORD`] data points of one family, so a
//! large family is spread over several records (and requests) while a small one costs its
//! name and description once. With delta temporality, counter and histogram series that did
//! not change since the previous push are left out; gauges are always sent.
//!
//! ```text
//! Metric { string name = 1; string description = 2; string unit = 3;
//!          Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; Summary summary = 11; }
//! Sum { repeated NumberDataPoint data_points = 1; AggregationTemporality aggregation_temporality = 2; bool is_monotonic = 3; }
//! NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2;
//!                   fixed64 time_unix_nano = 3; double as_double = 4; sfixed64 as_int = 6; }
//! HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
//!                      fixed64 count = 4; double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7; }
//! SummaryDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
//!                    fixed64 count = 4; double sum = 5; repeated ValueAtQuantile quantile_values = 6; }
//! ```

use std::sync::Arc;

use aiplatform_metrics::{ConstLabels, MetricFamily, MetricKind, Value, rendered_values};
use aiplatform_push::{
    Collection, Encoder, Framing, Point, PointValue, RecordWriter, Temporality, proto,
};

use crate::wire::{self, Envelope};

/// Data points per `Metric` record at most.
pub const POINTS_PER_RECORD: usize = 256;

/// `AggregationTemporality` values.
const DELTA: u64 = 1;
const CUMULATIVE: u64 = 2;

/// What the OTLP `unit` of a registry unit is (UCUM, as OpenTelemetry writes units).
pub fn ucum_unit(unit: &str) -> &str {
    match unit {
        "seconds" => "s",
        "milliseconds" => "ms",
        "microseconds" => "us",
        "nanoseconds" => "ns",
        "minutes" => "min",
        "hours" => "h",
        "days" => "d",
        "bytes" => "By",
        "kilobytes" => "kBy",
        "megabytes" => "MBy",
        "gigabytes" => "GBy",
        "bits" => "bit",
        "ratio" => "1",
        "percent" => "%",
        "celsius" => "Cel",
        "joules" => "J",
        "watts" => "W",
        "meters" => "m",
        "volts" => "V",
        "amperes" => "A",
        "hertz" => "Hz",
        other => other,
    }
}

/// Which OTLP data a family becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Sum,
    Gauge,
    Histogram,
    Summary,
}

impl Shape {
    fn of(kind: MetricKind) -> Shape {
        match kind {
            MetricKind::Counter => Shape::Sum,
            MetricKind::Histogram => Shape::Histogram,
            MetricKind::Summary => Shape::Summary,
            _ => Shape::Gauge,
        }
    }

    /// The `Metric` field holding the data.
    fn field(self) -> u32 {
        match self {
            Shape::Gauge => 5,
            Shape::Sum => 7,
            Shape::Histogram => 9,
            Shape::Summary => 11,
        }
    }

    /// The data point field holding the attributes.
    fn attributes_field(self) -> u32 {
        match self {
            Shape::Histogram => 9,
            _ => 7,
        }
    }
}

/// Encodes collections as OTLP `Metric` records inside an `ExportMetricsServiceRequest`.
#[derive(Debug, Clone)]
pub struct MetricsEncoder {
    envelope: Arc<Envelope>,
    /// The registry's constant labels as attributes (field 7 and field 9 forms), for the
    /// family being encoded.
    consts7: Vec<u8>,
    consts9: Vec<u8>,
    /// Data points of the record being filled.
    points: Vec<u8>,
    /// `explicit_bounds` of the last bucket layout seen, packed, and the layout.
    bounds_of: Vec<f64>,
    bounds: Vec<u8>,
    /// The `key` field (tag, length, name) of each label of the family being encoded, back to
    /// back, and where each ends: written as is before every value.
    keys: Vec<u8>,
    key_ends: Vec<usize>,
}

/// Key and value lengths below which every length of an attribute takes one byte.
const SHORT_ATTRIBUTE: usize = 120;

/// Bytes of an attribute (`KeyValue` with a string value, as a field with a one-byte tag) whose
/// `key` field takes `key` bytes and whose value is `value` bytes long.
#[inline(always)]
fn attribute_len(key: usize, value: usize) -> usize {
    if key + value < SHORT_ATTRIBUTE {
        key + value + 6
    } else {
        let kv = key + proto::field_len(2, proto::field_len(1, value));
        1 + proto::varint_len(kv as u64) + kv
    }
}

/// Label values per series read into an array on the stack; a family with more labels reads
/// them from each series' label set.
const MAX_TEXT_LABELS: usize = 16;

impl MetricsEncoder {
    /// An encoder writing requests for `resource` (a `Resource` message's content), with the
    /// instrumentation scope `aiplatform-metrics`.
    pub fn new(resource: &crate::Resource) -> MetricsEncoder {
        MetricsEncoder {
            envelope: Arc::new(Envelope::new(
                resource.encode(),
                wire::scope("aiplatform-metrics", env!("CARGO_PKG_VERSION")),
            )),
            consts7: Vec::new(),
            consts9: Vec::new(),
            points: Vec::new(),
            bounds_of: Vec::new(),
            bounds: Vec::new(),
            keys: Vec::new(),
            key_ends: Vec::new(),
        }
    }

    /// Encodes the constant labels a family does not override.
    fn prepare_consts(&mut self, family: &MetricFamily, consts: &ConstLabels) {
        self.consts7.clear();
        self.consts9.clear();
        for (n, v) in consts.iter() {
            if v.is_empty() || family.label_names().any(|l| l == n) {
                continue;
            }
            wire::string_attribute(&mut self.consts7, 7, n, v);
            wire::string_attribute(&mut self.consts9, 9, n, v);
        }
        self.keys.clear();
        self.key_ends.clear();
        for name in family.label_names() {
            proto::string(&mut self.keys, 1, name);
            self.key_ends.push(self.keys.len());
        }
    }

    /// Makes `self.bounds` the packed `explicit_bounds` field of `bounds`.
    fn prepare_bounds(&mut self, bounds: &[f64]) {
        if self.bounds_of == bounds && !self.bounds.is_empty() {
            return;
        }
        self.bounds_of.clear();
        self.bounds_of.extend_from_slice(bounds);
        self.bounds.clear();
        if !bounds.is_empty() {
            proto::header(&mut self.bounds, 7, bounds.len() * 8);
            for b in bounds {
                self.bounds.extend_from_slice(&b.to_le_bytes());
            }
        }
    }

    /// Bytes of a point's attributes (label values `values`, then the constant labels), as
    /// field `field`.
    #[inline]
    fn attributes_len(&self, values: &[&str], field: u32) -> usize {
        let mut len = if field == 9 {
            self.consts9.len()
        } else {
            self.consts7.len()
        };
        let mut start = 0;
        for (v, &end) in values.iter().zip(&self.key_ends) {
            if !v.is_empty() {
                len += attribute_len(end - start, v.len());
            }
            start = end;
        }
        len
    }

    #[inline]
    fn write_attributes(&mut self, values: &[&str], field: u32) {
        // Fields 7 and 9, length-delimited: one-byte tags.
        let tag = (field << 3 | 2) as u8;
        let out = &mut self.points;
        let mut start = 0;
        for (v, &end) in values.iter().zip(&self.key_ends) {
            let key = &self.keys[start..end];
            start = end;
            if v.is_empty() {
                continue;
            }
            let v = v.as_bytes();
            if key.len() + v.len() < SHORT_ATTRIBUTE {
                // Every length fits in one byte.
                let any = 2 + v.len();
                out.extend_from_slice(&[tag, (key.len() + 2 + any) as u8]);
                out.extend_from_slice(key);
                out.extend_from_slice(&[0x12, any as u8, 0x0a, v.len() as u8]);
            } else {
                let any = proto::field_len(1, v.len());
                proto::header(out, field, key.len() + proto::field_len(2, any));
                out.extend_from_slice(key);
                proto::header(out, 2, any);
                proto::header(out, 1, v.len());
            }
            out.extend_from_slice(v);
        }
        let consts = if field == 9 {
            &self.consts9
        } else {
            &self.consts7
        };
        out.extend_from_slice(consts);
    }

    /// Appends one data point to the record being filled.
    fn point(&mut self, shape: Shape, p: &Point<'_>, values: &[&str], raw: Option<Value<'_>>) {
        let time = p.source_timestamp_ms.map_or(p.time_unix_nano, |ms| {
            (ms.max(0) as u64).saturating_mul(1_000_000)
        });
        let attrs_field = shape.attributes_field();
        let attrs = self.attributes_len(values, attrs_field);
        self.points.reserve(attrs + 64);
        match p.value {
            PointValue::Counter(c) => {
                let len = attrs + 27;
                proto::header(&mut self.points, 1, len);
                self.write_attributes(values, attrs_field);
                proto::fixed64(&mut self.points, 2, p.start_unix_nano);
                proto::fixed64(&mut self.points, 3, time);
                match c.as_u64().filter(|&v| v <= i64::MAX as u64) {
                    Some(v) => proto::fixed64(&mut self.points, 6, v),
                    None => proto::double(&mut self.points, 4, c.as_f64()),
                }
            }
            PointValue::Gauge(v) | PointValue::Unknown(v) => {
                proto::header(&mut self.points, 1, attrs + 18);
                self.write_attributes(values, attrs_field);
                proto::fixed64(&mut self.points, 3, time);
                proto::double(&mut self.points, 4, v);
            }
            PointValue::Histogram(h) => {
                self.prepare_bounds(h.bounds);
                let counts = proto::field_len(6, h.counts.len() * 8);
                let len = attrs + 9 * 4 + counts + self.bounds.len();
                proto::header(&mut self.points, 1, len);
                self.write_attributes(values, attrs_field);
                proto::fixed64(&mut self.points, 2, p.start_unix_nano);
                proto::fixed64(&mut self.points, 3, time);
                proto::fixed64(&mut self.points, 4, h.count);
                proto::double(&mut self.points, 5, h.sum);
                proto::header(&mut self.points, 6, h.counts.len() * 8);
                for c in h.counts {
                    self.points.extend_from_slice(&c.to_le_bytes());
                }
                self.points.extend_from_slice(&self.bounds);
            }
            PointValue::Summary(s) => {
                // Summaries stay cumulative (OTLP has no delta summary): the collected count
                // and sum, from the start of the series when known.
                let (count, sum) = match raw {
                    Some(Value::Summary(v)) => (v.count, v.sum),
                    _ => (s.count, s.sum),
                };
                let start = (raw.is_none()).then_some(p.start_unix_nano);
                let quantiles = s.quantiles().count() * proto::field_len(6, 18);
                let len = attrs + 9 * 3 + start.map_or(0, |_| 9) + quantiles;
                proto::header(&mut self.points, 1, len);
                self.write_attributes(values, attrs_field);
                if let Some(start) = start {
                    proto::fixed64(&mut self.points, 2, start);
                }
                proto::fixed64(&mut self.points, 3, time);
                proto::fixed64(&mut self.points, 4, count);
                proto::double(&mut self.points, 5, sum);
                for (q, v) in s.quantiles() {
                    proto::header(&mut self.points, 6, 18);
                    proto::double(&mut self.points, 1, q);
                    proto::double(&mut self.points, 2, v);
                }
            }
        }
    }

    /// Writes the points gathered so far as one `Metric` record.
    fn record(
        &mut self,
        family: &MetricFamily,
        shape: Shape,
        temporality: u64,
        n: usize,
        out: &mut RecordWriter<'_>,
    ) {
        if n == 0 {
            return;
        }
        let name = family.name();
        let help = family.help();
        let unit = family.unit().map_or("", |u| ucum_unit(u.as_str()));
        let trailer = match shape {
            Shape::Sum => 4,
            Shape::Histogram => 2,
            Shape::Gauge | Shape::Summary => 0,
        };
        let data = self.points.len() + trailer;
        let mut len = proto::field_len(1, name.len()) + proto::field_len(shape.field(), data);
        if !help.is_empty() {
            len += proto::field_len(2, help.len());
        }
        if !unit.is_empty() {
            len += proto::field_len(3, unit.len());
        }
        let buf = out.begin();
        buf.reserve(proto::field_len(2, len));
        proto::header(buf, 2, len);
        proto::string(buf, 1, name);
        if !help.is_empty() {
            proto::string(buf, 2, help);
        }
        if !unit.is_empty() {
            proto::string(buf, 3, unit);
        }
        proto::header(buf, shape.field(), data);
        buf.extend_from_slice(&self.points);
        match shape {
            Shape::Sum => {
                proto::uint64(buf, 2, temporality);
                proto::uint64(buf, 3, 1);
            }
            Shape::Histogram => proto::uint64(buf, 2, temporality),
            Shape::Gauge | Shape::Summary => {}
        }
        out.finish(n as u32, n as u32);
        self.points.clear();
    }
}

impl Encoder for MetricsEncoder {
    fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>) {
        let consts = collection.snapshot().const_labels();
        let delta = collection.temporality() == Temporality::Delta;
        let temporality = if delta { DELTA } else { CUMULATIVE };
        for fp in collection.families() {
            if fp.is_empty() {
                continue;
            }
            let family = fp.family();
            let shape = Shape::of(family.kind());
            self.prepare_consts(family, consts);
            self.points.clear();
            let mut n = 0;
            // Summaries read their cumulative count and sum from the collected samples.
            let mut raw = (delta && shape == Shape::Summary).then(|| family.samples());
            let names = family.label_names().len();
            let mut values = [""; MAX_TEXT_LABELS];
            // More labels than that: the values of each series in turn (allocated once).
            let mut many: Vec<&str> = Vec::new();
            for (p, text) in fp.points_with_text() {
                let sample = raw.as_mut().and_then(|r| r.next()).map(|s| s.value);
                if delta && matches!(shape, Shape::Sum | Shape::Histogram) && !p.changed() {
                    continue;
                }
                if names <= MAX_TEXT_LABELS {
                    // The values from the family's label text; an escaped one (rare) from the
                    // series' label set.
                    let mut parsed = rendered_values(text);
                    for (i, slot) in values[..names].iter_mut().enumerate() {
                        *slot = match parsed.next() {
                            Some(Some(v)) => v,
                            _ => p.labels.value(i),
                        };
                    }
                    self.point(shape, &p, &values[..names], sample);
                } else {
                    many.clear();
                    many.extend(p.labels.values());
                    self.point(shape, &p, &many, sample);
                }
                n += 1;
                if n == POINTS_PER_RECORD {
                    self.record(family, shape, temporality, n, out);
                    n = 0;
                }
            }
            self.record(family, shape, temporality, n, out);
        }
    }

    fn framing(&self) -> Arc<dyn Framing> {
        self.envelope.clone()
    }
}
