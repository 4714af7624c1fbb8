//! The `WriteRequest` encoder: one record per series (a histogram's `_bucket`, `_sum` and
//! `_count` series travel together), metadata records per family.
//!
//! ```text
//! message WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }
//! message MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
//! ```
//!
//! Labels are sorted by name (byte order) with `__name__` among them, as the protocol
//! requires; the order is worked out once per family, not per series. Empty label values are
//! left out (Prometheus treats them as absent). Series labels win over constant labels, which
//! win over external labels of the same name.

use std::sync::Arc;

use aiplatform_metrics::collect::write_le_value;
use aiplatform_metrics::{ConstLabels, LabelSet, MetricFamily, MetricKind};
use aiplatform_push::{
    Collection, Concatenated, Encoder, Framing, PointValue, RecordWriter, proto,
};

/// One label of a family's series, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// The same `Label` for every series of the family (constant and external labels),
    /// encoded once: a byte range of [`Plan::fixed`].
    Fixed(u32, u32),
    /// `__name__`, whose value is the sample name.
    Name,
    /// The series' own label `i`, named `names[i]` of the plan.
    Series(usize),
    /// `le` or `quantile`.
    Extra,
}

/// How the labels of one family's series are written: sorted by name, with every label that
/// does not change from series to series already encoded.
#[derive(Debug, Clone, Default)]
struct Plan {
    pieces: Vec<Piece>,
    /// Label names of the `Series` pieces (by series label index) and of `Extra`.
    names: Vec<Box<str>>,
    extra: Box<str>,
    fixed: Vec<u8>,
}

impl Plan {
    /// Works out the order for `family`, with `extra` (`le`, `quantile`) if given.
    fn build(
        &mut self,
        family: &MetricFamily,
        consts: &ConstLabels,
        external: &[(String, String)],
        extra: Option<&str>,
    ) {
        enum Src<'a> {
            Name,
            Series(usize),
            Value(&'a str),
            Extra,
        }
        let mut all: Vec<(&str, Src<'_>)> = vec![("__name__", Src::Name)];
        for (i, n) in family.label_names().enumerate() {
            if Some(n) != extra {
                all.push((n, Src::Series(i)));
            }
        }
        for (n, v) in consts
            .iter()
            .chain(external.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        {
            if !all.iter().any(|(p, _)| *p == n) && Some(n) != extra {
                all.push((n, Src::Value(v)));
            }
        }
        if let Some(e) = extra {
            all.push((e, Src::Extra));
        }
        all.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.pieces.clear();
        self.fixed.clear();
        self.names.clear();
        self.names
            .extend(family.label_names().map(Box::<str>::from));
        self.extra = extra.unwrap_or("").into();
        for (name, src) in all {
            let piece = match src {
                Src::Name => Piece::Name,
                Src::Series(i) => Piece::Series(i),
                Src::Extra => Piece::Extra,
                Src::Value("") => continue,
                Src::Value(v) => {
                    let start = self.fixed.len() as u32;
                    label(&mut self.fixed, name.as_bytes(), v.as_bytes());
                    Piece::Fixed(start, self.fixed.len() as u32)
                }
            };
            self.pieces.push(piece);
        }
    }

    /// The value of a per-series piece, and its label name.
    #[inline]
    fn dynamic<'a>(
        &'a self,
        piece: Piece,
        name: &'a [u8],
        series: &'a LabelSet,
        extra: &'a [u8],
    ) -> (&'a [u8], &'a [u8]) {
        match piece {
            Piece::Name => (b"__name__", name),
            Piece::Series(i) => (self.names[i].as_bytes(), series.value(i).as_bytes()),
            Piece::Extra => (self.extra.as_bytes(), extra),
            Piece::Fixed(..) => (b"", b""),
        }
    }

    /// Writes one `TimeSeries` with one sample. Its size is worked out first, so every length
    /// is written once, in place.
    #[inline]
    fn series(
        &self,
        out: &mut Vec<u8>,
        name: &[u8],
        series: &LabelSet,
        extra: &[u8],
        value: f64,
        ts: i64,
    ) {
        let mut len = 0;
        for &piece in &self.pieces {
            len += match piece {
                Piece::Fixed(a, b) => (b - a) as usize,
                _ => match self.dynamic(piece, name, series, extra) {
                    (_, b"") => 0,
                    (n, v) => proto::field_len(1, label_len(n, v)),
                },
            };
        }
        let sample = 9 + 1 + proto::varint_len(ts as u64);
        len += proto::field_len(2, sample);
        out.reserve(proto::field_len(1, len));
        proto::header(out, 1, len);
        for &piece in &self.pieces {
            match piece {
                Piece::Fixed(a, b) => out.extend_from_slice(&self.fixed[a as usize..b as usize]),
                _ => match self.dynamic(piece, name, series, extra) {
                    (_, b"") => {}
                    (n, v) => label(out, n, v),
                },
            }
        }
        proto::header(out, 2, sample);
        proto::double(out, 1, value);
        proto::int64(out, 2, ts);
    }
}

/// Bytes of a `Label` message's content.
#[inline]
fn label_len(name: &[u8], value: &[u8]) -> usize {
    proto::field_len(1, name.len()) + proto::field_len(2, value.len())
}

/// Writes a `labels` field of a `TimeSeries`.
#[inline]
fn label(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    proto::header(out, 1, label_len(name, value));
    proto::bytes(out, 1, name);
    proto::bytes(out, 2, value);
}

/// Encodes collections as remote write 1.0 `TimeSeries` (and `MetricMetadata`) records.
#[derive(Debug, Clone)]
pub struct WriteRequestEncoder {
    external: Vec<(String, String)>,
    metadata: bool,
    /// Label order of the family being encoded, and of its series with `le`/`quantile`.
    plan: Plan,
    plan_extra: Plan,
    /// The family's sample names: as is (or `_total`), `_bucket`, `_sum`, `_count`.
    name: Vec<u8>,
    bucket: Vec<u8>,
    sum: Vec<u8>,
    count: Vec<u8>,
    floats: FloatLabels,
}

impl WriteRequestEncoder {
    /// An encoder adding `external` labels to every series, and metadata records if asked.
    pub fn new(external: Vec<(String, String)>, metadata: bool) -> WriteRequestEncoder {
        WriteRequestEncoder {
            external,
            metadata,
            plan: Plan::default(),
            plan_extra: Plan::default(),
            name: Vec::new(),
            bucket: Vec::new(),
            sum: Vec::new(),
            count: Vec::new(),
            floats: FloatLabels::default(),
        }
    }

    fn plan_family(&mut self, family: &MetricFamily, consts: &ConstLabels) {
        self.plan.build(family, consts, &self.external, None);
        let extra = match family.kind() {
            MetricKind::Histogram => Some("le"),
            MetricKind::Summary => Some("quantile"),
            _ => None,
        };
        if extra.is_some() {
            self.plan_extra.build(family, consts, &self.external, extra);
        }
    }
}

fn metric_type(kind: MetricKind) -> u64 {
    match kind {
        MetricKind::Counter => 1,
        MetricKind::Gauge => 2,
        MetricKind::Histogram => 3,
        MetricKind::Summary => 5,
        _ => 0,
    }
}

/// Label values formatted for a list of bounds (or quantiles), kept while the list repeats
/// (a registry histogram family shares one list): formatting floats is the costly part.
#[derive(Debug, Clone, Default)]
struct FloatLabels {
    of: Vec<f64>,
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl FloatLabels {
    /// Makes sure the labels are those of `values` (then `+Inf` for histograms).
    fn prepare<I: Iterator<Item = f64>>(&mut self, values: impl Fn() -> I, with_inf: bool) {
        if self.of.iter().copied().eq(values())
            && self.ends.len() == self.of.len() + usize::from(with_inf)
        {
            return;
        }
        self.of.clear();
        self.text.clear();
        self.ends.clear();
        for v in values() {
            self.of.push(v);
            write_le_value(v, &mut self.text);
            self.ends.push(self.text.len());
        }
        if with_inf {
            self.text.extend_from_slice(b"+Inf");
            self.ends.push(self.text.len());
        }
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

impl Encoder for WriteRequestEncoder {
    fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>) {
        let consts = collection.snapshot().const_labels();
        for fp in collection.families() {
            let family = fp.family();
            if fp.is_empty() {
                continue;
            }
            self.plan_family(family, consts);
            if self.metadata {
                // metric_family_name is the name a scrape's TYPE line carries.
                self.name.clear();
                self.name.extend_from_slice(family.name().as_bytes());
                self.name.extend_from_slice(family.text_suffix().as_bytes());
                let buf = out.begin();
                let m = proto::begin(buf, 3);
                proto::uint64(buf, 1, metric_type(family.kind()));
                proto::bytes(buf, 2, &self.name);
                proto::string(buf, 4, family.help());
                if let Some(unit) = family.unit() {
                    proto::string(buf, 5, unit.as_str());
                }
                proto::end(buf, m);
                out.finish(0, 0);
            }
            // The family's sample names, once.
            let base = family.name().as_bytes();
            for (buf, suffix) in [
                (&mut self.name, family.text_suffix().as_bytes()),
                (&mut self.bucket, &b"_bucket"[..]),
                (&mut self.sum, b"_sum"),
                (&mut self.count, b"_count"),
            ] {
                buf.clear();
                buf.extend_from_slice(base);
                buf.extend_from_slice(suffix);
            }
            for p in fp.points() {
                let ts = p.timestamp_ms();
                match p.value {
                    PointValue::Counter(_) | PointValue::Gauge(_) | PointValue::Unknown(_) => {
                        let v = match p.value {
                            PointValue::Counter(c) => c.as_f64(),
                            PointValue::Gauge(v) | PointValue::Unknown(v) => v,
                            _ => unreachable!(),
                        };
                        self.plan
                            .series(out.begin(), &self.name, p.labels, b"", v, ts);
                        out.finish(1, 1);
                    }
                    PointValue::Histogram(h) => {
                        self.floats.prepare(|| h.bounds.iter().copied(), true);
                        let buf = out.begin();
                        for (i, (_, count)) in h.cumulative().enumerate() {
                            let le = self.floats.get(i);
                            self.plan_extra.series(
                                buf,
                                &self.bucket,
                                p.labels,
                                le,
                                count as f64,
                                ts,
                            );
                        }
                        self.plan.series(buf, &self.sum, p.labels, b"", h.sum, ts);
                        self.plan
                            .series(buf, &self.count, p.labels, b"", h.count as f64, ts);
                        out.finish(1, h.counts.len() as u32 + 2);
                    }
                    PointValue::Summary(s) => {
                        self.floats.prepare(|| s.quantiles().map(|(q, _)| q), false);
                        let buf = out.begin();
                        let mut n = 2;
                        for (i, (_, v)) in s.quantiles().enumerate() {
                            let q = self.floats.get(i);
                            self.plan_extra.series(buf, base, p.labels, q, v, ts);
                            n += 1;
                        }
                        self.plan.series(buf, &self.sum, p.labels, b"", s.sum, ts);
                        self.plan
                            .series(buf, &self.count, p.labels, b"", s.count as f64, ts);
                        out.finish(1, n);
                    }
                }
            }
        }
    }

    fn framing(&self) -> Arc<dyn Framing> {
        Arc::new(Concatenated)
    }
}
