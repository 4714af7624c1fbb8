//! Collects the families of one scrape by name, the way redis_exporter sends const metrics:
//! the first use of a name fixes its type, HELP and label names.

use std::cell::RefCell;
use std::hash::BuildHasher;

use aiplatform_metrics::{FamilyCache, MetricFamily, MetricKind, PrehashedMap};

thread_local! {
    /// Descriptions built on this thread, reused by later scrapes: a scrape builds ~150
    /// families, the same ones each time. Counters keep redis_exporter's names, `_total` or
    /// not, as client_golang writes them.
    static DESCRIPTIONS: RefCell<FamilyCache> =
        RefCell::new(FamilyCache::new().text_name_as_given());
}

/// The HELP text of a family being created.
#[derive(Debug, Clone, Copy)]
pub enum Help<'a> {
    /// This text.
    Text(&'a str),
    /// `"<name> metric"`, redis_exporter's HELP for INFO-derived metrics.
    NameMetric,
}

/// The families of one scrape, in first-use order, all under one namespace.
///
/// Built for a few hundred families per scrape without an allocation per lookup: short names
/// live in one arena, indexed by their hash.
#[derive(Debug)]
pub struct FamilySet {
    namespace: String,
    families: Vec<MetricFamily>,
    /// Short names of `families`, concatenated; `spans[i]` is family `i`'s.
    names: String,
    spans: Vec<(u32, u32)>,
    index: PrehashedMap<u32>,
    hasher: foldhash::fast::FixedState,
    scratch: String,
    help: String,
    skipped: u64,
}

impl FamilySet {
    /// An empty set; every name gets the `namespace_` prefix (none when empty).
    pub fn new(namespace: &str) -> FamilySet {
        FamilySet {
            namespace: namespace.to_owned(),
            families: Vec::with_capacity(192),
            names: String::with_capacity(6 << 10),
            spans: Vec::with_capacity(192),
            index: PrehashedMap::with_capacity_and_hasher(256, Default::default()),
            hasher: foldhash::fast::FixedState::default(),
            scratch: String::with_capacity(128),
            help: String::with_capacity(128),
            skipped: 0,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn find(&self, name: &str) -> Result<usize, u64> {
        let mut h = self.hasher.hash_one(name);
        loop {
            match self.index.get(&h) {
                None => return Err(h),
                Some(&i) => {
                    let (a, b) = self.spans[i as usize];
                    if &self.names[a as usize..b as usize] == name {
                        return Ok(i as usize);
                    }
                    // A hash collision: probe the next slot.
                    h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
                }
            }
        }
    }

    /// The family `name` (without namespace), created with `kind`, `help` and `labels` on first
    /// use. `None` when the name is not a valid metric name or an earlier use declared other
    /// label names or another type: that sample is skipped (and counted), as
    /// `prometheus.NewConstMetric` errors are in redis_exporter.
    pub fn family(
        &mut self,
        kind: MetricKind,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Option<&mut MetricFamily> {
        self.family_with(kind, name, Help::Text(help), labels)
    }

    /// [`family`](Self::family) with the HELP text given as [`Help`].
    pub fn family_with(
        &mut self,
        kind: MetricKind,
        name: &str,
        help: Help<'_>,
        labels: &[&str],
    ) -> Option<&mut MetricFamily> {
        let slot = match self.find(name) {
            Ok(i) => {
                let f = &mut self.families[i];
                if f.kind() == kind && f.label_names().eq(labels.iter().copied()) {
                    return Some(f);
                }
                self.skipped += 1;
                return None;
            }
            Err(slot) => slot,
        };
        self.scratch.clear();
        if !self.namespace.is_empty() {
            self.scratch.push_str(&self.namespace);
            self.scratch.push('_');
        }
        self.scratch.push_str(name);
        let help = match help {
            Help::Text(t) => t,
            Help::NameMetric => {
                self.help.clear();
                self.help.push_str(name);
                self.help.push_str(" metric");
                &self.help
            }
        };
        let built =
            DESCRIPTIONS.with(|cache| cache.borrow_mut().family(kind, &self.scratch, help, labels));
        match built {
            Ok(f) => {
                let start = self.names.len() as u32;
                self.names.push_str(name);
                self.spans.push((start, self.names.len() as u32));
                self.index.insert(slot, self.families.len() as u32);
                self.families.push(f);
                self.families.last_mut()
            }
            Err(_) => {
                self.skipped += 1;
                None
            }
        }
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[&str], values: &[&str], v: f64) {
        if let Some(f) = self.family(MetricKind::Gauge, name, help, labels) {
            let _ = f.push_gauge(values, v);
        }
    }

    /// An INFO-derived sample without labels, HELP `"<name> metric"` as redis_exporter has it;
    /// `counter` picks [`counter`](Self::counter) semantics.
    pub fn info_metric(&mut self, name: &str, counter: bool, v: f64) {
        let kind = if counter {
            MetricKind::Counter
        } else {
            MetricKind::Gauge
        };
        if kind == MetricKind::Counter && (v.is_nan() || v < 0.0) {
            return;
        }
        if let Some(f) = self.family_with(kind, name, Help::NameMetric, &[]) {
            let _ = match kind {
                MetricKind::Counter => f.push_counter(&[] as &[&str], v),
                _ => f.push_gauge(&[] as &[&str], v),
            };
        }
    }

    /// Adds a counter sample, under redis_exporter's exact name even without `_total`.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[&str], values: &[&str], v: f64) {
        if let Some(f) = self.family(MetricKind::Counter, name, help, labels) {
            // A counter cannot go below zero; Redis never reports one, but stay valid.
            if v >= 0.0 {
                let _ = f.push_counter(values, v);
            }
        }
    }

    /// Adds a summary sample.
    #[allow(clippy::too_many_arguments)]
    pub fn summary(
        &mut self,
        name: &str,
        help: &str,
        labels: &[&str],
        values: &[&str],
        quantiles: &[(f64, f64)],
        count: u64,
        sum: f64,
    ) {
        if let Some(f) = self.family(MetricKind::Summary, name, help, labels) {
            let _ = f.push_summary(values, quantiles, count, sum);
        }
    }

    /// Whether a family called `name` (without namespace) has been started.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Samples skipped because of a clashing declaration or an invalid name.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The families, in first-use order.
    pub fn into_families(self) -> Vec<MetricFamily> {
        self.families
    }

    /// The families so far.
    pub fn families(&self) -> &[MetricFamily] {
        &self.families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_declaration_wins() {
        let mut s = FamilySet::new("redis");
        s.gauge(
            "db_keys",
            "Total number of keys by DB",
            &["db"],
            &["db0"],
            3.0,
        );
        s.gauge("db_keys", "other help", &["db"], &["db1"], 0.0);
        s.gauge("db_keys", "x", &["other"], &["v"], 1.0);
        s.counter("db_keys_total", "x", &[], &[], 1.0);
        assert_eq!(s.skipped(), 1);
        let f = &s.families()[0];
        assert_eq!(f.name(), "redis_db_keys");
        assert_eq!(f.help(), "Total number of keys by DB");
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn counters_without_total_keep_their_name() {
        let mut s = FamilySet::new("redis");
        s.counter(
            "total_error_replies",
            "total_error_replies metric",
            &[],
            &[],
            2.0,
        );
        s.counter(
            "keyspace_hits_total",
            "keyspace_hits_total metric",
            &[],
            &[],
            2.0,
        );
        let f = s.into_families();
        assert_eq!(f[0].kind(), MetricKind::Counter);
        assert_eq!(f[0].name(), "redis_total_error_replies");
        assert_eq!(f[1].kind(), MetricKind::Counter);
        assert_eq!(f[1].name(), "redis_keyspace_hits");
        let mut snapshot = aiplatform_metrics::Snapshot::new();
        aiplatform_metrics::Registry::new().collect_into_with(&mut snapshot, f);
        let text = aiplatform_metrics::encode(&snapshot, aiplatform_metrics::Format::Text);
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("\nredis_total_error_replies 2\n"), "{text}");
        assert!(text.contains("\nredis_keyspace_hits_total 2\n"), "{text}");
    }

    #[test]
    fn invalid_names_are_skipped() {
        let mut s = FamilySet::new("");
        s.gauge("0bad", "x", &[], &[], 1.0);
        s.gauge("ok", "x", &["__reserved"], &["v"], 1.0);
        assert_eq!(s.skipped(), 2);
        assert!(s.families().is_empty());
    }
}
