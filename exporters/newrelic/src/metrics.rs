//! The Metric API encoder: a collection of delta points as New Relic metric objects.
//!
//! A request body is one JSON array holding one map: the `common` block (the attributes every
//! metric shares: service, host, the registry's constant labels, your own) and `metrics`, the
//! records. A record is one series and holds every metric object that series becomes (a
//! histogram series is a summary plus one count per bucket), so a series is never cut across
//! two requests.

use std::collections::HashSet;
use std::sync::Arc;

use aiplatform_push::{Collection, Encoder, Framing, Point, PointValue, RecordWriter};

use crate::attributes::{MAX_NAME_CHARS, label_key};
use crate::json;

/// Most attributes New Relic keeps on one metric (common ones included).
pub(crate) const MAX_METRIC_ATTRIBUTES: usize = 100;

/// Longest attribute value New Relic keeps on a metric, in characters.
pub(crate) const MAX_METRIC_VALUE_CHARS: usize = 4096;

/// Writes collections as New Relic Metric API objects; see the [crate] documentation for the
/// mapping. Expects delta points (the pipeline [`NewRelic::metrics`](crate::NewRelic::metrics)
/// builds is set up so).
#[derive(Debug)]
pub struct MetricEncoder {
    framing: Arc<MetricsFraming>,
    /// Labels a metric can carry besides the common attributes and one of its own
    /// (`histogram.bucket.upperBound`, `percentile`).
    label_budget: usize,
    /// `"key":` for each label of the family being written, back to back.
    keys: Vec<u8>,
    key_ends: Vec<usize>,
    /// The series' attributes: `"k":"v","k2":"v2"`.
    attrs: Vec<u8>,
    /// The metric's names as JSON strings: plain, `.buckets`, `.percentiles`.
    name: Vec<u8>,
    buckets_name: Vec<u8>,
    percentiles_name: Vec<u8>,
    /// Families already warned about (too long a name, too many labels).
    warned: HashSet<Box<str>>,
}

impl MetricEncoder {
    /// An encoder whose requests carry `common` as their `common.attributes` (in this order;
    /// names are not checked here).
    pub fn new(common: &[(String, String)]) -> MetricEncoder {
        let mut prefix = b"[{".to_vec();
        if !common.is_empty() {
            prefix.extend_from_slice(b"\"common\":{\"attributes\":{");
            for (i, (k, v)) in common.iter().enumerate() {
                if i > 0 {
                    prefix.push(b',');
                }
                json::string(&mut prefix, k);
                prefix.push(b':');
                json::string(&mut prefix, v);
            }
            prefix.extend_from_slice(b"}},");
        }
        prefix.extend_from_slice(b"\"metrics\":[");
        MetricEncoder {
            framing: Arc::new(MetricsFraming {
                prefix: prefix.into(),
            }),
            label_budget: MAX_METRIC_ATTRIBUTES.saturating_sub(common.len() + 1),
            keys: Vec::new(),
            key_ends: Vec::new(),
            attrs: Vec::new(),
            name: Vec::new(),
            buckets_name: Vec::new(),
            percentiles_name: Vec::new(),
            warned: HashSet::new(),
        }
    }

    fn warn_once(&mut self, family: &str, what: &str) {
        if self.warned.insert(family.into()) {
            tracing::warn!(family, "newrelic: {what}");
        }
    }

    /// Prepares the names and attribute keys of a family; false if it cannot be sent.
    fn start_family(&mut self, name: &str, suffix: &str, label_names: &[&str]) -> bool {
        let full_len = name.chars().count() + suffix.len() + ".percentiles".len();
        if full_len > MAX_NAME_CHARS {
            self.warn_once(
                name,
                "metric name longer than New Relic's 254 characters; family not sent",
            );
            return false;
        }
        let mut full = String::with_capacity(name.len() + suffix.len());
        full.push_str(name);
        full.push_str(suffix);
        for (buf, ext) in [
            (&mut self.name, ""),
            (&mut self.buckets_name, ".buckets"),
            (&mut self.percentiles_name, ".percentiles"),
        ] {
            buf.clear();
            buf.push(b'"');
            json::escaped(buf, &full);
            buf.extend_from_slice(ext.as_bytes());
            buf.push(b'"');
        }
        if label_names.len() > self.label_budget {
            self.warn_once(
                name,
                "more labels than New Relic keeps on a metric (100 with the common attributes); the last ones are left out",
            );
        }
        self.keys.clear();
        self.key_ends.clear();
        for label in label_names.iter().take(self.label_budget) {
            json::string(&mut self.keys, &label_key(label, &full));
            self.keys.push(b':');
            self.key_ends.push(self.keys.len());
        }
        true
    }

    /// Fills `attrs` with the series' labels.
    fn series_attributes(&mut self, point: &Point<'_>) {
        self.attrs.clear();
        let mut start = 0;
        for (i, (value, &end)) in point.labels.values().zip(&self.key_ends).enumerate() {
            if i > 0 {
                self.attrs.push(b',');
            }
            self.attrs.extend_from_slice(&self.keys[start..end]);
            start = end;
            let (value, _) = json::cut_chars(value, MAX_METRIC_VALUE_CHARS);
            json::string(&mut self.attrs, value);
        }
    }

    /// Writes the metric objects of one series as one record.
    fn write_series(&mut self, point: &Point<'_>, out: &mut RecordWriter<'_>) {
        // Both ends in whole milliseconds first, so that one interval starts exactly where
        // the previous one ended.
        let start_ms = (point.start_unix_nano / 1_000_000) as i64;
        let end_ms = (point.time_unix_nano / 1_000_000) as i64;
        let interval_ms = (end_ms - start_ms).max(1);
        let count_time = Time::Interval(start_ms, interval_ms);
        let gauge_time = Time::At(point.timestamp_ms());
        let buf = out.begin();
        let mut objects = Objects { buf, n: 0 };
        let attrs = &self.attrs[..];
        match point.value {
            PointValue::Counter(c) => {
                let v = c.as_f64();
                if v.is_finite() {
                    objects.write(&self.name, "count", count_time, attrs, None, |b| {
                        match c.as_u64() {
                            Some(i) => json::u64(b, i),
                            None => json::f64(b, v),
                        }
                    });
                }
            }
            PointValue::Gauge(v) | PointValue::Unknown(v) => {
                if v.is_finite() {
                    objects.write(&self.name, "gauge", gauge_time, attrs, None, |b| {
                        json::f64(b, v)
                    });
                }
            }
            PointValue::Histogram(h) => {
                if h.sum.is_finite() {
                    objects.write(&self.name, "summary", count_time, attrs, None, |b| {
                        summary(b, h.count, h.sum)
                    });
                }
                for (bound, cumulative) in h.cumulative() {
                    if !bound.is_finite() {
                        // The +Inf bucket is the summary's count.
                        continue;
                    }
                    objects.write(
                        &self.buckets_name,
                        "count",
                        count_time,
                        attrs,
                        Some(("histogram.bucket.upperBound", bound)),
                        |b| json::u64(b, cumulative),
                    );
                }
            }
            PointValue::Summary(s) => {
                if s.sum.is_finite() {
                    objects.write(&self.name, "summary", count_time, attrs, None, |b| {
                        summary(b, s.count, s.sum)
                    });
                }
                for (q, v) in s.quantiles() {
                    if v.is_finite() && q.is_finite() {
                        objects.write(
                            &self.percentiles_name,
                            "gauge",
                            gauge_time,
                            attrs,
                            Some(("percentile", q * 100.0)),
                            |b| json::f64(b, v),
                        );
                    }
                }
            }
        }
        let n = objects.n;
        if n == 0 {
            out.discard();
        } else {
            out.finish(1, n);
        }
    }
}

/// `{"count":..,"sum":..,"min":null,"max":null}`: a registry's histograms and summaries keep
/// no minimum or maximum, and New Relic's own exporters send `null` for unknown ones.
fn summary(b: &mut Vec<u8>, count: u64, sum: f64) {
    b.extend_from_slice(b"{\"count\":");
    json::u64(b, count);
    b.extend_from_slice(b",\"sum\":");
    json::f64(b, sum);
    b.extend_from_slice(b",\"min\":null,\"max\":null}");
}

#[derive(Clone, Copy)]
enum Time {
    /// Start of the interval and its length (counts, summaries).
    Interval(i64, i64),
    /// A moment (gauges).
    At(i64),
}

/// The metric objects of one record, comma-separated.
struct Objects<'a> {
    buf: &'a mut Vec<u8>,
    n: u32,
}

impl Objects<'_> {
    fn write(
        &mut self,
        name: &[u8],
        kind: &str,
        time: Time,
        attrs: &[u8],
        extra: Option<(&str, f64)>,
        value: impl FnOnce(&mut Vec<u8>),
    ) {
        let b = &mut *self.buf;
        if self.n > 0 {
            b.push(b',');
        }
        self.n += 1;
        b.extend_from_slice(b"{\"name\":");
        b.extend_from_slice(name);
        b.extend_from_slice(b",\"type\":\"");
        b.extend_from_slice(kind.as_bytes());
        b.extend_from_slice(b"\",\"value\":");
        value(b);
        b.extend_from_slice(b",\"timestamp\":");
        match time {
            Time::Interval(start, interval) => {
                json::i64(b, start);
                b.extend_from_slice(b",\"interval.ms\":");
                json::i64(b, interval);
            }
            Time::At(t) => json::i64(b, t),
        }
        if !attrs.is_empty() || extra.is_some() {
            b.extend_from_slice(b",\"attributes\":{");
            b.extend_from_slice(attrs);
            if let Some((k, v)) = extra {
                if !attrs.is_empty() {
                    b.push(b',');
                }
                json::string(b, k);
                b.push(b':');
                json::float(b, v);
            }
            b.push(b'}');
        }
        b.push(b'}');
    }
}

impl Encoder for MetricEncoder {
    fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>) {
        let mut label_names: Vec<&str> = Vec::new();
        for family in collection.families() {
            if family.is_empty() {
                continue;
            }
            let f = family.family();
            label_names.clear();
            label_names.extend(f.label_names());
            if !self.start_family(f.name(), f.text_suffix(), &label_names) {
                continue;
            }
            for point in family.points() {
                self.series_attributes(&point);
                self.write_series(&point, out);
            }
        }
    }

    fn framing(&self) -> Arc<dyn Framing> {
        self.framing.clone()
    }
}

/// `[{"common":{...},"metrics":[` records `]}]`.
#[derive(Debug)]
struct MetricsFraming {
    prefix: Box<[u8]>,
}

impl Framing for MetricsFraming {
    fn prefix(&self, _records_len: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
    }

    fn separator(&self) -> &[u8] {
        b","
    }

    fn suffix(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"]}]");
    }
}
