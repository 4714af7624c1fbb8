//! The Pushgateway body: a stream of length-delimited `io.prometheus.client.MetricFamily`
//! messages (what client_golang's push package sends), one record per family.
//!
//! Families are whole records because the gateway replaces a family by name: a POST with half
//! of a family would drop the other half. Counters carry their text name (`x_total`),
//! histograms leave the `+Inf` bucket implicit (it is the count), no sample has a timestamp
//! (the gateway refuses them). A family with a label named like a grouping label (or `job`)
//! is left out, with a warning, as client_golang refuses such a push.

use std::collections::HashSet;
use std::sync::Arc;

use aiplatform_metrics::{ConstLabels, LabelSet, MetricKind};
use aiplatform_push::{
    Collection, Concatenated, Encoder, Framing, PointValue, RecordWriter, proto,
};

/// `Content-Type` of the delimited protobuf stream.
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Encodes collections as delimited `MetricFamily` messages.
#[derive(Debug, Clone)]
pub struct MetricFamilyEncoder {
    reserved: Vec<String>,
    warned: HashSet<String>,
    name: Vec<u8>,
}

impl MetricFamilyEncoder {
    /// An encoder that leaves out families with a label in `reserved` (the grouping labels and
    /// `job`).
    pub fn new(reserved: Vec<String>) -> MetricFamilyEncoder {
        MetricFamilyEncoder {
            reserved,
            warned: HashSet::new(),
            name: Vec::new(),
        }
    }
}

fn type_code(kind: MetricKind) -> u64 {
    match kind {
        MetricKind::Counter => 0,
        MetricKind::Gauge => 1,
        MetricKind::Summary => 2,
        MetricKind::Histogram => 4,
        _ => 3,
    }
}

fn label_pairs(out: &mut Vec<u8>, names: &[&str], labels: &LabelSet, consts: &ConstLabels) {
    let pairs = names
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, labels.value(i)))
        .chain(consts.iter());
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        let l = proto::begin(out, 1);
        proto::string(out, 1, name);
        proto::string(out, 2, value);
        proto::end(out, l);
    }
}

impl Encoder for MetricFamilyEncoder {
    fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>) {
        let consts = collection.snapshot().const_labels();
        let mut names: Vec<&str> = Vec::new();
        for fp in collection.families() {
            let family = fp.family();
            if fp.is_empty() {
                continue;
            }
            names.clear();
            names.extend(family.label_names());
            if let Some(clash) = names.iter().find(|n| self.reserved.iter().any(|r| r == *n)) {
                if self.warned.insert(family.name().to_owned()) {
                    tracing::warn!(
                        family = family.name(),
                        label = *clash,
                        "pushgateway: the family has a label named like a grouping label; it is not pushed"
                    );
                }
                continue;
            }
            self.name.clear();
            self.name.extend_from_slice(family.name().as_bytes());
            self.name.extend_from_slice(family.text_suffix().as_bytes());
            let buf = out.begin();
            let mf = proto::begin_delimited(buf);
            proto::bytes(buf, 1, &self.name);
            proto::string(buf, 2, family.help());
            proto::uint64(buf, 3, type_code(family.kind()));
            let mut samples = 0u32;
            for p in fp.points() {
                let m = proto::begin(buf, 4);
                label_pairs(buf, &names, p.labels, consts);
                match p.value {
                    PointValue::Counter(c) => {
                        let v = proto::begin(buf, 3);
                        proto::double(buf, 1, c.as_f64());
                        proto::end(buf, v);
                        samples += 1;
                    }
                    PointValue::Gauge(g) => {
                        let v = proto::begin(buf, 2);
                        proto::double(buf, 1, g);
                        proto::end(buf, v);
                        samples += 1;
                    }
                    PointValue::Unknown(u) => {
                        let v = proto::begin(buf, 5);
                        proto::double(buf, 1, u);
                        proto::end(buf, v);
                        samples += 1;
                    }
                    PointValue::Histogram(h) => {
                        let v = proto::begin(buf, 7);
                        proto::uint64(buf, 1, h.count);
                        proto::double(buf, 2, h.sum);
                        for (le, count) in h.cumulative().filter(|(le, _)| le.is_finite()) {
                            let b = proto::begin(buf, 3);
                            proto::uint64(buf, 1, count);
                            proto::double(buf, 2, le);
                            proto::end(buf, b);
                        }
                        proto::end(buf, v);
                        samples += h.counts.len() as u32 + 2;
                    }
                    PointValue::Summary(s) => {
                        let v = proto::begin(buf, 4);
                        proto::uint64(buf, 1, s.count);
                        proto::double(buf, 2, s.sum);
                        let mut n = 2;
                        for (q, value) in s.quantiles() {
                            let b = proto::begin(buf, 3);
                            proto::double(buf, 1, q);
                            proto::double(buf, 2, value);
                            proto::end(buf, b);
                            n += 1;
                        }
                        proto::end(buf, v);
                        samples += n;
                    }
                }
                proto::end(buf, m);
            }
            proto::end(buf, mf);
            out.finish(fp.len() as u32, samples);
        }
    }

    fn framing(&self) -> Arc<dyn Framing> {
        Arc::new(Concatenated)
    }
}
