//! Building the families collectors return, named and typed as the Go exporters write them.
//!
//! A scrape builds the same few hundred families every time. Every builder here goes through
//! a per-thread [`FamilyCache`], so a description is validated once and afterwards costs a
//! lookup and a clone.
//!
//! - [`family`], [`dynamic_family`], [`scalar`] and [`push`] build one family at a time, for
//!   collectors that know their families up front (the node exporter's);
//! - [`FamilySet`] collects families by name as samples arrive, the way the Go exporters send
//!   const metrics: the first use of a name fixes its type, HELP and label names, and a later
//!   sample that disagrees is skipped and counted.
//!
//! ```
//! use aiplatform_metrics::MetricKind;
//! use aiplatform_prometheus::family::{FamilySet, Naming, push, scalar};
//!
//! let load = scalar(MetricKind::Gauge, "node_load1", "1m load average.", 0.5);
//! assert_eq!((load.name(), load.len()), ("node_load1", 1));
//!
//! let mut set = FamilySet::new(Naming::AsGiven).with_namespace("redis");
//! set.gauge("db_keys", "Total number of keys by DB", &["db"], &["db0"], 3.0);
//! set.gauge("db_keys", "Total number of keys by DB", &["db"], &["db1"], 5.0);
//! set.counter("db_keys", "a clash", &[], &[], 1.0); // another type: skipped
//! assert_eq!(set.skipped(), 1);
//! let families = set.into_families();
//! assert_eq!((families[0].name(), families[0].len()), ("redis_db_keys", 2));
//! ```

use std::cell::RefCell;
use std::hash::BuildHasher;

use aiplatform_metrics::collect::{FamilyCache, PrehashedMap};
use aiplatform_metrics::{LabelCountError, MetricFamily, MetricKind, RegistrationError};

/// How a counter's name is written in text 0.0.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// client_golang's rule for a counter named `x_total`: the family is `x`, its samples
    /// `x_total` (node_exporter).
    Standard,
    /// Exactly the name given, `_total` or not, as Go exporters that send const metrics
    /// write it (postgres_exporter's `pg_stat_database_xact_commit`, redis_exporter's
    /// `redis_commands_processed_total`); OpenMetrics still gets `_total` samples.
    AsGiven,
}

thread_local! {
    static STANDARD: RefCell<FamilyCache> = RefCell::new(FamilyCache::new());
    static AS_GIVEN: RefCell<FamilyCache> = RefCell::new(FamilyCache::new().text_name_as_given());
}

impl Naming {
    /// An empty family of this description, validated the first time this thread asks
    /// for it.
    pub fn build<S: AsRef<str>>(
        self,
        kind: MetricKind,
        name: &str,
        help: &str,
        label_names: &[S],
    ) -> Result<MetricFamily, RegistrationError> {
        let cache = match self {
            Naming::Standard => &STANDARD,
            Naming::AsGiven => &AS_GIVEN,
        };
        cache.with(|c| c.borrow_mut().family(kind, name, help, label_names))
    }
}

/// A family defined in an exporter's source ([`Naming::Standard`]).
///
/// # Panics
///
/// If the name or a label name is invalid: a bug in the exporter, which its tests catch.
pub fn family(kind: MetricKind, name: &str, help: &str, label_names: &[&str]) -> MetricFamily {
    Naming::Standard
        .build(kind, name, help, label_names)
        .unwrap_or_else(|e| panic!("metric {name:?} is defined wrong: {e}"))
}

/// A family whose name comes from the data (a `/proc/meminfo` key, a vmstat field), with
/// [`Naming::Standard`]; `None`, logged at debug level, when the data makes no valid name.
pub fn dynamic_family(
    kind: MetricKind,
    name: &str,
    help: &str,
    label_names: &[&str],
) -> Option<MetricFamily> {
    match Naming::Standard.build(kind, name, help, label_names) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::debug!(metric = name, err = %e, "skipping a field that makes no valid metric name");
            None
        }
    }
}

/// Adds one series: a counter to a counter family, a gauge value to any other.
///
/// # Panics
///
/// If the number of label values differs from the family's label names: the caller's
/// definition is wrong.
pub fn push(f: &mut MetricFamily, values: &[&str], value: f64) {
    if let Err(e) = try_push(f, values, value) {
        panic!(
            "series of {:?} pushed with the wrong label_names: {e}",
            f.name()
        );
    }
}

fn try_push<V: AsRef<str>>(
    f: &mut MetricFamily,
    values: &[V],
    value: f64,
) -> Result<(), LabelCountError> {
    if f.kind() == MetricKind::Counter {
        f.push_counter(values, value)
    } else {
        f.push_gauge(values, value)
    }
}

/// A family with one unlabelled series ([`family`] and [`push`]).
pub fn scalar(kind: MetricKind, name: &str, help: &str, value: f64) -> MetricFamily {
    let mut f = family(kind, name, help, &[]);
    push(&mut f, &[], value);
    f
}

/// The HELP text of a family a [`FamilySet`] creates.
#[derive(Debug, Clone, Copy)]
pub enum Help<'a> {
    /// This text.
    Text(&'a str),
    /// `"<name> metric"`, what redis_exporter writes for the metrics it derives from `INFO`.
    NameMetric,
}

/// Families by name, in first-use order, under an optional namespace; see the
/// [module docs](self).
///
/// Built for a few hundred families per scrape without an allocation per lookup: names live
/// in one arena, indexed by their hash.
#[derive(Debug)]
pub struct FamilySet {
    naming: Naming,
    namespace: String,
    families: Vec<MetricFamily>,
    /// Names (without namespace) of `families`, concatenated; `spans[i]` is family `i`'s.
    names: String,
    spans: Vec<(u32, u32)>,
    index: PrehashedMap<u32>,
    hasher: foldhash::fast::FixedState,
    scratch: String,
    help: String,
    skipped: u64,
}

impl FamilySet {
    /// An empty set without namespace.
    pub fn new(naming: Naming) -> FamilySet {
        FamilySet {
            naming,
            namespace: String::new(),
            families: Vec::with_capacity(64),
            names: String::with_capacity(2 << 10),
            spans: Vec::with_capacity(64),
            index: PrehashedMap::with_capacity_and_hasher(64, Default::default()),
            hasher: foldhash::fast::FixedState::default(),
            scratch: String::with_capacity(128),
            help: String::with_capacity(128),
            skipped: 0,
        }
    }

    /// Prefixes every name with `namespace_` (nothing when empty).
    pub fn with_namespace(mut self, namespace: &str) -> FamilySet {
        namespace.clone_into(&mut self.namespace);
        self
    }

    /// Room for `families` families without growing.
    pub fn with_capacity(mut self, families: usize) -> FamilySet {
        self.families.reserve(families);
        self.spans.reserve(families);
        self.index.reserve(families);
        self.names.reserve(families * 32);
        self
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

    /// The family `name` (without namespace), created with `kind`, `help` and `label_names` on
    /// first use. `None` when the name is not a valid metric name or an earlier use declared
    /// another type or other label names: that sample is skipped and counted, as
    /// `prometheus.NewConstMetric` errors are in the Go exporters.
    pub fn family(
        &mut self,
        kind: MetricKind,
        name: &str,
        help: &str,
        label_names: &[&str],
    ) -> Option<&mut MetricFamily> {
        self.family_with(kind, name, Help::Text(help), label_names)
    }

    /// [`family`](Self::family) with the HELP text given as [`Help`].
    pub fn family_with(
        &mut self,
        kind: MetricKind,
        name: &str,
        help: Help<'_>,
        label_names: &[&str],
    ) -> Option<&mut MetricFamily> {
        let slot = match self.find(name) {
            Ok(i) => {
                let f = &mut self.families[i];
                if f.kind() == kind && f.label_names().eq(label_names.iter().copied()) {
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
        match self.naming.build(kind, &self.scratch, help, label_names) {
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

    /// Adds a sample to the family `name` (created on first use): a counter value to a
    /// counter, a gauge value to any other kind. A sample that does not fit (label count,
    /// clashing declaration) is skipped and counted.
    pub fn add<V: AsRef<str>>(
        &mut self,
        kind: MetricKind,
        name: &str,
        help: &str,
        label_names: &[&str],
        values: &[V],
        value: f64,
    ) {
        if let Some(f) = self.family(kind, name, help, label_names)
            && try_push(f, values, value).is_err()
        {
            self.skipped += 1;
        }
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, label_names: &[&str], values: &[&str], v: f64) {
        self.add(MetricKind::Gauge, name, help, label_names, values, v);
    }

    /// Adds a counter sample; a negative or NaN value (which no counter can have) is left out.
    pub fn counter(
        &mut self,
        name: &str,
        help: &str,
        label_names: &[&str],
        values: &[&str],
        v: f64,
    ) {
        if v >= 0.0 {
            self.add(MetricKind::Counter, name, help, label_names, values, v);
        }
    }

    /// Adds a summary sample.
    #[allow(clippy::too_many_arguments)]
    pub fn summary(
        &mut self,
        name: &str,
        help: &str,
        label_names: &[&str],
        values: &[&str],
        quantiles: &[(f64, f64)],
        count: u64,
        sum: f64,
    ) {
        if let Some(f) = self.family(MetricKind::Summary, name, help, label_names) {
            let _ = f.push_summary(values, quantiles, count, sum);
        }
    }

    /// Whether a family called `name` (without namespace) has been started.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Samples skipped because of a clashing declaration, an invalid name or wrong labels.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The families so far.
    pub fn families(&self) -> &[MetricFamily] {
        &self.families
    }

    /// The families, in first-use order.
    pub fn into_families(self) -> Vec<MetricFamily> {
        self.families
    }

    /// Moves the families that have a series into `out`.
    pub fn finish(self, out: &mut Vec<MetricFamily>) {
        out.extend(self.families.into_iter().filter(|f| !f.is_empty()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_declaration_wins() {
        let mut s = FamilySet::new(Naming::AsGiven).with_namespace("redis");
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
    fn counters_keep_their_exact_name_when_asked() {
        let mut s = FamilySet::new(Naming::AsGiven).with_namespace("redis");
        s.counter("total_error_replies", "h", &[], &[], 2.0);
        s.counter("keyspace_hits_total", "h", &[], &[], 2.0);
        s.counter("negative", "h", &[], &[], -1.0);
        let f = s.into_families();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].kind(), MetricKind::Counter);
        assert_eq!(f[0].name(), "redis_total_error_replies");
        assert_eq!(f[1].name(), "redis_keyspace_hits");
        let mut snapshot = aiplatform_metrics::Snapshot::new();
        aiplatform_metrics::Registry::new().collect_into_with(&mut snapshot, f);
        let text =
            aiplatform_metrics::encode(&snapshot, aiplatform_metrics::ExpositionFormat::Text);
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("\nredis_total_error_replies 2\n"), "{text}");
        assert!(text.contains("\nredis_keyspace_hits_total 2\n"), "{text}");
        let standard = family(MetricKind::Counter, "jobs_total", "h", &[]);
        assert_eq!(standard.name(), "jobs");
    }

    #[test]
    fn invalid_names_and_wrong_labels_are_skipped() {
        let mut s = FamilySet::new(Naming::Standard);
        s.gauge("0bad", "x", &[], &[], 1.0);
        s.gauge("ok", "x", &["__reserved"], &["v"], 1.0);
        s.gauge("two", "x", &["a", "b"], &["only one"], 1.0);
        assert_eq!(s.skipped(), 3);
        let mut out = Vec::new();
        s.finish(&mut out);
        assert!(out.is_empty(), "the family without a series is left out");
        assert!(dynamic_family(MetricKind::Gauge, "1x", "h", &[]).is_none());
    }

    #[test]
    #[should_panic(expected = "defined wrong")]
    fn a_wrong_static_definition_panics() {
        family(MetricKind::Gauge, "bad name", "h", &[]);
    }
}
