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

use aiplatform_metrics::{ConstLabels, LabelSet, MetricFamily, MetricKind, write_le_value};
use aiplatform_push::{
    Collection, Concatenated, Encoder, Framing, PointValue, RecordWriter, proto,
};

/// Where one label of a family's series comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Name,
    Series(usize),
    Const(usize),
    External(usize),
    /// `le` or `quantile`.
    Extra,
}

/// Encodes collections as remote write 1.0 `TimeSeries` (and `MetricMetadata`) records.
#[derive(Debug, Clone)]
pub struct WriteRequestEncoder {
    external: Vec<(String, String)>,
    metadata: bool,
    /// Label order of the family being encoded, and of its series with `le`/`quantile`.
    plan: Vec<(Box<str>, Source)>,
    plan_extra: Vec<(Box<str>, Source)>,
    name: Vec<u8>,
    number: Vec<u8>,
}

impl WriteRequestEncoder {
    /// An encoder adding `external` labels to every series, and metadata records if asked.
    pub fn new(external: Vec<(String, String)>, metadata: bool) -> WriteRequestEncoder {
        WriteRequestEncoder {
            external,
            metadata,
            plan: Vec::new(),
            plan_extra: Vec::new(),
            name: Vec::new(),
            number: Vec::new(),
        }
    }

    fn plan_family(&mut self, family: &MetricFamily, consts: &ConstLabels) {
        let mut plan: Vec<(Box<str>, Source)> = std::mem::take(&mut self.plan);
        plan.clear();
        plan.push(("__name__".into(), Source::Name));
        for (i, n) in family.label_names().enumerate() {
            plan.push((n.into(), Source::Series(i)));
        }
        for (i, (n, _)) in consts.iter().enumerate() {
            if !plan.iter().any(|(p, _)| &**p == n) {
                plan.push((n.into(), Source::Const(i)));
            }
        }
        for (i, (n, _)) in self.external.iter().enumerate() {
            if !plan.iter().any(|(p, _)| **p == **n) {
                plan.push((n.as_str().into(), Source::External(i)));
            }
        }
        let extra = match family.kind() {
            MetricKind::Histogram => Some("le"),
            MetricKind::Summary => Some("quantile"),
            _ => None,
        };
        self.plan_extra.clear();
        if let Some(extra) = extra {
            self.plan_extra
                .extend(plan.iter().filter(|(n, _)| &**n != extra).cloned());
            self.plan_extra.push((extra.into(), Source::Extra));
            self.plan_extra
                .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        plan.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.plan = plan;
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

/// Writes one `TimeSeries` with one sample.
#[allow(clippy::too_many_arguments)]
fn series(
    out: &mut Vec<u8>,
    plan: &[(Box<str>, Source)],
    name: &[u8],
    labels: &LabelSet,
    consts: &ConstLabels,
    external: &[(String, String)],
    extra: &[u8],
    value: f64,
    ts: i64,
) {
    let ts_msg = proto::begin(out, 1);
    for (label, source) in plan {
        let value: &[u8] = match *source {
            Source::Name => name,
            Source::Series(i) => labels.value(i).as_bytes(),
            Source::Const(i) => consts.iter().nth(i).map_or(&b""[..], |(_, v)| v.as_bytes()),
            Source::External(i) => external[i].1.as_bytes(),
            Source::Extra => extra,
        };
        if value.is_empty() {
            continue;
        }
        let l = proto::begin(out, 1);
        proto::string(out, 1, label);
        proto::bytes(out, 2, value);
        proto::end(out, l);
    }
    let s = proto::begin(out, 2);
    proto::double(out, 1, value);
    proto::int64(out, 2, ts);
    proto::end(out, s);
    proto::end(out, ts_msg);
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
            let base_len = family.name().len();
            for p in fp.points() {
                let ts = p.timestamp_ms();
                self.name.clear();
                self.name.extend_from_slice(family.name().as_bytes());
                match p.value {
                    PointValue::Counter(c) => {
                        self.name.extend_from_slice(family.text_suffix().as_bytes());
                        let buf = out.begin();
                        series(
                            buf,
                            &self.plan,
                            &self.name,
                            p.labels,
                            consts,
                            &self.external,
                            b"",
                            c.as_f64(),
                            ts,
                        );
                        out.finish(1, 1);
                    }
                    PointValue::Gauge(v) | PointValue::Unknown(v) => {
                        let buf = out.begin();
                        series(
                            buf,
                            &self.plan,
                            &self.name,
                            p.labels,
                            consts,
                            &self.external,
                            b"",
                            v,
                            ts,
                        );
                        out.finish(1, 1);
                    }
                    PointValue::Histogram(h) => {
                        let buf = out.begin();
                        self.name.extend_from_slice(b"_bucket");
                        for (le, count) in h.cumulative() {
                            self.number.clear();
                            write_le_value(le, &mut self.number);
                            series(
                                buf,
                                &self.plan_extra,
                                &self.name,
                                p.labels,
                                consts,
                                &self.external,
                                &self.number,
                                count as f64,
                                ts,
                            );
                        }
                        self.name.truncate(base_len);
                        self.name.extend_from_slice(b"_sum");
                        series(
                            buf,
                            &self.plan,
                            &self.name,
                            p.labels,
                            consts,
                            &self.external,
                            b"",
                            h.sum,
                            ts,
                        );
                        self.name.truncate(base_len);
                        self.name.extend_from_slice(b"_count");
                        series(
                            buf,
                            &self.plan,
                            &self.name,
                            p.labels,
                            consts,
                            &self.external,
                            b"",
                            h.count as f64,
                            ts,
                        );
                        out.finish(1, h.counts.len() as u32 + 2);
                    }
                    PointValue::Summary(s) => {
                        let buf = out.begin();
                        let mut n = 2;
                        for (q, v) in s.quantiles() {
                            self.number.clear();
                            write_le_value(q, &mut self.number);
                            series(
                                buf,
                                &self.plan_extra,
                                &self.name,
                                p.labels,
                                consts,
                                &self.external,
                                &self.number,
                                v,
                                ts,
                            );
                            n += 1;
                        }
                        self.name.extend_from_slice(b"_sum");
                        series(
                            buf,
                            &self.plan,
                            &self.name,
                            p.labels,
                            consts,
                            &self.external,
                            b"",
                            s.sum,
                            ts,
                        );
                        self.name.truncate(base_len);
                        self.name.extend_from_slice(b"_count");
                        series(
                            buf,
                            &self.plan,
                            &self.name,
                            p.labels,
                            consts,
                            &self.external,
                            b"",
                            s.count as f64,
                            ts,
                        );
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
