//! Agentless metrics: the registry to Datadog's HTTP metrics intake, `POST /api/v2/series`
//! (or `/api/v1/series` for receivers that speak only v1), without an agent.

use std::sync::Arc;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_push::{Collection, Encoder, Framing, Point, PointValue, RecordWriter};

use crate::dogstatsd::push_metric_name;
use crate::text::{push_python_float, push_tag, push_tag_value};

/// Which series API to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SeriesApi {
    /// `POST /api/v2/series`: integer types, `{timestamp, value}` points, the host as a
    /// resource, units. Datadog's current intake.
    #[default]
    V2,
    /// `POST /api/v1/series`: string types, `[timestamp, value]` points, `host` on every
    /// series. For receivers that take only v1 (VictoriaMetrics before 1.97).
    V1,
}

impl SeriesApi {
    /// The path under the intake's base URL.
    pub fn path(self) -> &'static str {
        match self {
            SeriesApi::V2 => "/api/v2/series",
            SeriesApi::V1 => "/api/v1/series",
        }
    }

    /// Compressed request bodies at most (v2: 500 KB; v1: 3.2 MB).
    pub fn max_body_bytes(self) -> usize {
        match self {
            SeriesApi::V2 => 512_000,
            SeriesApi::V1 => 3_200_000,
        }
    }

    /// Decompressed request bodies below this (v2: 5 MiB; v1: 62 MiB).
    pub fn max_decompressed_bytes(self) -> usize {
        match self {
            SeriesApi::V2 => 5_242_880,
            SeriesApi::V1 => 62_914_560,
        }
    }
}

impl std::str::FromStr for SeriesApi {
    type Err = String;

    /// `v2` or `v1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v2" | "2" => Ok(SeriesApi::V2),
            "v1" | "1" => Ok(SeriesApi::V1),
            other => Err(format!("unknown series API {other:?} (expected v1 or v2)")),
        }
    }
}

/// How registry counters are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CounterType {
    /// `count` (v2 type 1): the increase over `interval` seconds. Datadog's own choice for
    /// Prometheus counters.
    #[default]
    Count,
    /// `rate` (v2 type 2): the increase per second over `interval`.
    Rate,
}

/// The `{"series":[...]}` envelope.
#[derive(Debug, Clone, Copy)]
struct SeriesArray;

impl Framing for SeriesArray {
    fn prefix(&self, _: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"series\":[");
    }

    fn separator(&self) -> &[u8] {
        b","
    }

    fn suffix(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"]}");
    }
}

/// Writes a collection as series objects of the v2 or v1 series API, one record per series
/// object (a request body can be cut between any two).
///
/// Names and tags are those of [`DogStatsdEncoder`](crate::DogStatsdEncoder) (the Datadog
/// OpenMetrics check's): counter `x` → `x.count` (type count, or rate); gauge → `x` (gauge);
/// histogram → `x.count`, `x.sum`, `x.bucket` with `upper_bound` (counts); summary →
/// `x.count`, `x.sum` (counts), `x.quantile` with `quantile` (gauges). Counts carry `interval`:
/// the seconds since the previous collection. Series that did not change are left out, gauges
/// excepted; NaN and infinite values too (JSON cannot hold them). Every series carries the host
/// (v2: a `host` resource; v1: `host`), tags from labels, constant labels and global tags, and
/// in v2 the unit where the family has one Datadog knows.
#[derive(Debug)]
pub struct SeriesEncoder {
    api: SeriesApi,
    counters: CounterType,
    namespace: String,
    host: String,
    global_tags: Vec<String>,
    /// Per collection: constant labels and global tags as JSON strings, comma-joined.
    tail: Vec<u8>,
    /// Per family.
    name: Vec<u8>,
    unit: Option<&'static str>,
    /// Per series: its label tags as JSON strings, comma-joined.
    stags: Vec<u8>,
    scratch: Vec<u8>,
}

impl SeriesEncoder {
    /// An encoder for `api`, naming metrics `namespace.<name>`, with `host` on every series and
    /// `global_tags` (`key:value`) on every series.
    pub fn new(
        api: SeriesApi,
        namespace: &str,
        host: &str,
        global_tags: &[String],
        counters: CounterType,
    ) -> SeriesEncoder {
        SeriesEncoder {
            api,
            counters,
            namespace: namespace.to_owned(),
            host: host.to_owned(),
            global_tags: global_tags.to_vec(),
            tail: Vec::new(),
            name: Vec::new(),
            unit: None,
            stags: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn start_family(&mut self, family: &MetricFamily) {
        self.name.clear();
        if !self.namespace.is_empty() {
            push_metric_name(&mut self.name, &self.namespace);
            self.name.push(b'.');
        }
        push_metric_name(&mut self.name, family.name());
        self.unit = family.unit().and_then(|u| datadog_unit(u.as_str()));
    }

    fn series_tags(&mut self, family: &MetricFamily, p: &Point<'_>) {
        self.stags.clear();
        for (i, key) in family.label_names().enumerate() {
            let v = p.labels.value(i);
            if v.is_empty() {
                continue;
            }
            self.scratch.clear();
            push_tag(&mut self.scratch, key, v);
            json_tag(&mut self.stags, &self.scratch);
        }
    }

    /// One series object. `extra` is one more tag (`upper_bound:...`), `interval_s` is set
    /// for counts.
    #[allow(clippy::too_many_arguments)]
    fn series(
        &self,
        out: &mut RecordWriter<'_>,
        suffix: &str,
        value: f64,
        gauge: bool,
        extra: &[u8],
        unit: Option<&str>,
        time_s: u64,
        interval_s: u64,
    ) -> bool {
        if !value.is_finite() {
            return false;
        }
        let rate = !gauge && self.counters == CounterType::Rate;
        let value = if rate {
            value / interval_s as f64
        } else {
            value
        };
        let buf = out.begin();
        buf.extend_from_slice(b"{\"metric\":\"");
        buf.extend_from_slice(&self.name);
        buf.extend_from_slice(suffix.as_bytes());
        buf.extend_from_slice(b"\",\"type\":");
        let (v2_type, v1_type) = match (gauge, rate) {
            (true, _) => ("3", "\"gauge\""),
            (false, false) => ("1", "\"count\""),
            (false, true) => ("2", "\"rate\""),
        };
        let mut num = ryu::Buffer::new();
        let mut int = itoa::Buffer::new();
        match self.api {
            SeriesApi::V2 => {
                buf.extend_from_slice(v2_type.as_bytes());
                if !gauge {
                    buf.extend_from_slice(b",\"interval\":");
                    buf.extend_from_slice(int.format(interval_s).as_bytes());
                }
                buf.extend_from_slice(b",\"points\":[{\"timestamp\":");
                buf.extend_from_slice(int.format(time_s).as_bytes());
                buf.extend_from_slice(b",\"value\":");
                buf.extend_from_slice(num.format_finite(value).as_bytes());
                buf.extend_from_slice(b"}]");
                if !self.host.is_empty() {
                    buf.extend_from_slice(b",\"resources\":[{\"name\":");
                    json_string(buf, self.host.as_bytes());
                    buf.extend_from_slice(b",\"type\":\"host\"}]");
                }
                if let Some(u) = unit {
                    buf.extend_from_slice(b",\"unit\":\"");
                    buf.extend_from_slice(u.as_bytes());
                    buf.push(b'"');
                }
            }
            SeriesApi::V1 => {
                buf.extend_from_slice(v1_type.as_bytes());
                if !gauge {
                    buf.extend_from_slice(b",\"interval\":");
                    buf.extend_from_slice(int.format(interval_s).as_bytes());
                }
                buf.extend_from_slice(b",\"points\":[[");
                buf.extend_from_slice(int.format(time_s).as_bytes());
                buf.push(b',');
                buf.extend_from_slice(num.format_finite(value).as_bytes());
                buf.extend_from_slice(b"]]");
                // Set on every series: some receivers carry one series' host over to the next.
                buf.extend_from_slice(b",\"host\":");
                json_string(buf, self.host.as_bytes());
            }
        }
        buf.extend_from_slice(b",\"tags\":[");
        let mut first = true;
        for part in [&self.stags[..], extra, &self.tail[..]] {
            if part.is_empty() {
                continue;
            }
            if !first {
                buf.push(b',');
            }
            buf.extend_from_slice(part);
            first = false;
        }
        buf.extend_from_slice(b"]}");
        out.finish(1, 1);
        true
    }

    fn point(&mut self, family: &MetricFamily, p: &Point<'_>, out: &mut RecordWriter<'_>) {
        let time_s = p.time_unix_nano / 1_000_000_000;
        let interval_s = (p.time_unix_nano.saturating_sub(p.start_unix_nano) + 500_000_000)
            .div_euclid(1_000_000_000)
            .max(1);
        let unit = self.unit;
        match p.value {
            PointValue::Counter(c) => {
                self.series(
                    out,
                    ".count",
                    c.as_f64(),
                    false,
                    b"",
                    None,
                    time_s,
                    interval_s,
                );
            }
            PointValue::Gauge(v) | PointValue::Unknown(v) => {
                self.series(out, "", v, true, b"", unit, time_s, interval_s);
            }
            PointValue::Histogram(h) => {
                self.series(
                    out,
                    ".count",
                    h.count as f64,
                    false,
                    b"",
                    None,
                    time_s,
                    interval_s,
                );
                self.series(out, ".sum", h.sum, false, b"", unit, time_s, interval_s);
                let mut tag = Vec::new();
                for (bound, n) in h.cumulative().take(h.bounds.len()) {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(b"upper_bound:");
                    push_python_float(&mut self.scratch, bound);
                    tag.clear();
                    json_tag(&mut tag, &self.scratch);
                    self.series(
                        out, ".bucket", n as f64, false, &tag, None, time_s, interval_s,
                    );
                }
            }
            PointValue::Summary(s) => {
                self.series(
                    out,
                    ".count",
                    s.count as f64,
                    false,
                    b"",
                    None,
                    time_s,
                    interval_s,
                );
                self.series(out, ".sum", s.sum, false, b"", unit, time_s, interval_s);
                let mut tag = Vec::new();
                for (q, v) in s.quantiles() {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(b"quantile:");
                    push_python_float(&mut self.scratch, q);
                    tag.clear();
                    json_tag(&mut tag, &self.scratch);
                    self.series(out, ".quantile", v, true, &tag, unit, time_s, interval_s);
                }
            }
        }
        let _ = family;
    }
}

/// Datadog's name for a registry unit, where it has one.
fn datadog_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "seconds" => "second",
        "bytes" => "byte",
        "ratio" => "fraction",
        "celsius" => "degree celsius",
        "joules" => "joule",
        "meters" => "meter",
        "volts" => "volt",
        "amperes" => "ampere",
        _ => return None,
    })
}

/// Appends `s` (UTF-8) as a JSON string.
pub(crate) fn json_string(out: &mut Vec<u8>, s: &[u8]) {
    let text = String::from_utf8_lossy(s);
    serde_json::to_writer(&mut *out, &*text).expect("writing to a vector cannot fail");
}

/// Appends a tag as a JSON string, after a comma if `out` already holds one.
fn json_tag(out: &mut Vec<u8>, tag: &[u8]) {
    if !out.is_empty() {
        out.push(b',');
    }
    json_string(out, tag);
}

impl Encoder for SeriesEncoder {
    fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>) {
        self.tail.clear();
        for (k, v) in collection.snapshot().const_labels().iter() {
            if v.is_empty() {
                continue;
            }
            self.scratch.clear();
            push_tag(&mut self.scratch, k, v);
            json_tag(&mut self.tail, &self.scratch);
        }
        for t in &self.global_tags {
            self.scratch.clear();
            push_tag_value(&mut self.scratch, t);
            let scratch = std::mem::take(&mut self.scratch);
            json_tag(&mut self.tail, &scratch);
            self.scratch = scratch;
        }
        for fp in collection.families() {
            if fp.is_empty() {
                continue;
            }
            let family = fp.family();
            self.start_family(family);
            let gauge_kind = matches!(family.kind(), MetricKind::Gauge | MetricKind::Unknown);
            for p in fp.points() {
                if !gauge_kind && !p.changed() {
                    continue;
                }
                self.series_tags(family, &p);
                self.point(family, &p, out);
            }
        }
    }

    fn framing(&self) -> Arc<dyn Framing> {
        Arc::new(SeriesArray)
    }
}
