//! A [`metrics`] facade recorder over a [`Registry`] (feature `facade`, on by default).
//!
//! Crates that already use `metrics::counter!`, `gauge!` and `histogram!` land in the same
//! registry, and so in the same exposition, as native handles.
//!
//! ```
//! use aiplatform_metrics::Registry;
//! use aiplatform_metrics::facade::RegistryRecorder;
//!
//! let registry = Registry::new();
//! let recorder = RegistryRecorder::builder(registry.clone()).build();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("jobs_total", "Jobs done.");
//!     metrics::counter!("jobs_total", "queue" => "emails").increment(2);
//!     metrics::histogram!("job_seconds").record(0.25);
//! });
//! let text = String::from_utf8(registry.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap();
//! assert!(text.contains("# HELP jobs_total Jobs done.\n"));
//! assert!(text.contains("jobs_total{queue=\"emails\"} 2\n"));
//! assert!(text.contains("job_seconds_count 1\n"));
//! ```
//!
//! How `metrics` names map: names and label keys are sanitised as metrics-exporter-prometheus
//! does (invalid characters become `_`); a metric name is one family whose label names are fixed
//! by the first key seen (sorted). A later key with other label names cannot be represented in
//! that family; its updates are dropped and counted in
//! `aiplatform_metrics_facade_dropped_total{reason="label_names_mismatch"}`. Descriptions apply
//! to families created after them (describe before first use, as `metrics` recommends).
//! Histograms are classic histograms with the default buckets unless
//! [`RegistryRecorderBuilder::buckets_for`] says otherwise; there is no sample buffer, so memory does not
//! grow between scrapes.

mod cache;
mod naming;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Key, KeyName, Metadata, SharedString, Unit as FacadeUnit};
use parking_lot::Mutex;

use crate::counter::Counter;
use crate::desc::MetricKind;
use crate::epoch;
pub use crate::family::DEFAULT_MAX_SERIES;
use crate::family::Family;
use crate::gauge::Gauge;
use crate::histogram::Histogram;
use crate::histogram::buckets::Buckets;
use crate::metric::Metric;
use crate::names::Unit;
use crate::opts::Opts;
use crate::registry::Registry;
use crate::snapshot::MetricFamily;
use cache::{Entry, KeyCache, Proxy};

/// Which metric names a bucket setting applies to.
///
/// ```
/// use aiplatform_metrics::Buckets;
/// use aiplatform_metrics::facade::{Matcher, RegistryRecorder};
///
/// let recorder = RegistryRecorder::builder(aiplatform_metrics::Registry::new())
///     .buckets_for(Matcher::Suffix("_bytes".into()), Buckets::exponential(64.0, 4.0, 8).unwrap())
///     .buckets_for(Matcher::Full("login_seconds".into()), Buckets::linear(0.1, 0.1, 10).unwrap())
///     .build();
/// # let _ = recorder;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// The whole (sanitised) name.
    Full(String),
    /// Names starting with this.
    Prefix(String),
    /// Names ending with this.
    Suffix(String),
}

impl Matcher {
    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Full(s) => name == s,
            Matcher::Prefix(s) => name.starts_with(s.as_str()),
            Matcher::Suffix(s) => name.ends_with(s.as_str()),
        }
    }
}

/// Configures a [`RegistryRecorder`].
#[derive(Debug, Clone)]
pub struct RegistryRecorderBuilder {
    registry: Registry,
    default_buckets: Buckets,
    buckets: Vec<(Matcher, Buckets)>,
    max_series: usize,
}

impl RegistryRecorderBuilder {
    /// Buckets for histograms no [`RegistryRecorderBuilder::buckets_for`] matcher covers.
    pub fn default_buckets(mut self, buckets: Buckets) -> Self {
        self.default_buckets = buckets;
        self
    }

    /// Buckets for histograms whose name `matcher` matches; the first matching rule wins.
    pub fn buckets_for(mut self, matcher: Matcher, buckets: Buckets) -> Self {
        self.buckets.push((matcher, buckets));
        self
    }

    /// Series limit of each family the recorder creates (default
    /// [`DEFAULT_MAX_SERIES`]).
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = max;
        self
    }

    /// Builds the recorder.
    pub fn build(self) -> RegistryRecorder {
        let inner = Arc::new(Inner {
            registry: self.registry.clone(),
            default_buckets: self.default_buckets,
            buckets: self.buckets,
            max_series: self.max_series,
            counters: Kind::default(),
            gauges: Kind::default(),
            histograms: Kind::default(),
            descriptions: Mutex::new(HashMap::new()),
            dropped: Arc::default(),
        });
        // The counters outlive the recorder (the registry keeps reporting them); sharing only
        // them avoids a registry → recorder → registry cycle.
        let dropped = inner.dropped.clone();
        self.registry
            .register_collector(move |out: &mut Vec<MetricFamily>| dropped.report(out));
        RegistryRecorder { inner }
    }

    /// Builds the recorder and installs it as the global `metrics` recorder.
    pub fn install(self) -> Result<(), metrics::SetRecorderError<RegistryRecorder>> {
        metrics::set_global_recorder(self.build())
    }
}

/// A `metrics::Recorder` that records into a [`Registry`].
///
/// `register_*` on a series seen before allocates nothing and takes no lock: the key is found
/// in a lock-free index and the returned handle clones an `Arc` owned by the calling thread.
#[derive(Clone)]
pub struct RegistryRecorder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RegistryRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryRecorder")
            .field("registry", &self.inner.registry)
            .finish_non_exhaustive()
    }
}

impl RegistryRecorder {
    /// Configures a recorder writing into `registry`.
    pub fn builder(registry: Registry) -> RegistryRecorderBuilder {
        RegistryRecorderBuilder {
            registry,
            default_buckets: Buckets::default(),
            buckets: Vec::new(),
            max_series: DEFAULT_MAX_SERIES,
        }
    }

    /// The registry the recorder writes into.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }
}

struct Inner {
    registry: Registry,
    default_buckets: Buckets,
    buckets: Vec<(Matcher, Buckets)>,
    max_series: usize,
    counters: Kind<Counter>,
    gauges: Kind<Gauge>,
    histograms: Kind<Histogram>,
    descriptions: Mutex<HashMap<String, (Option<FacadeUnit>, SharedString)>>,
    dropped: Arc<Dropped>,
}

/// One metric type's families and key cache.
struct Kind<M: Metric> {
    cache: KeyCache<M>,
    families: Mutex<HashMap<String, Resolved<M>>>,
}

impl<M: Metric> Default for Kind<M> {
    fn default() -> Self {
        Kind {
            cache: KeyCache::new(),
            families: Mutex::new(HashMap::new()),
        }
    }
}

/// What a metric name resolved to: a family with fixed label names, or nothing usable.
enum Resolved<M: Metric> {
    Family {
        family: Family<M>,
        labels: Vec<String>,
    },
    Rejected,
}

/// Updates the facade had to drop, by reason.
#[derive(Default)]
struct Dropped {
    label_names_mismatch: AtomicU64,
    name_conflict: AtomicU64,
}

impl Dropped {
    fn report(&self, out: &mut Vec<MetricFamily>) {
        let (a, b) = (
            self.label_names_mismatch.load(Ordering::Relaxed),
            self.name_conflict.load(Ordering::Relaxed),
        );
        if a == 0 && b == 0 {
            return;
        }
        let mut f = MetricFamily::builder(
            MetricKind::Counter,
            "aiplatform_metrics_facade_dropped_total",
            "metrics-facade handles that record nothing: a key whose label names differ from its family's, or a name already used by another metric type.",
        )
        .label_names(&["reason"])
        .build()
        .expect("static self-metric description is valid");
        f.push_counter(&["label_names_mismatch"], a as f64)
            .expect("one label");
        f.push_counter(&["name_conflict"], b as f64)
            .expect("one label");
        out.push(f);
    }
}

/// Something `metrics` handles can wrap for one metric type.
trait FacadeMetric: Metric {
    fn kind(inner: &Inner) -> &Kind<Self>;
    /// Options for a new family of this type, before labels, unit and limit are added.
    fn base_opts(inner: &Inner, name: &str, help: &str) -> Opts<Self>;
}

impl FacadeMetric for Counter {
    fn kind(inner: &Inner) -> &Kind<Self> {
        &inner.counters
    }
    fn base_opts(_: &Inner, name: &str, help: &str) -> Opts<Self> {
        Opts::counter(name, help)
    }
}

impl FacadeMetric for Gauge {
    fn kind(inner: &Inner) -> &Kind<Self> {
        &inner.gauges
    }
    fn base_opts(_: &Inner, name: &str, help: &str) -> Opts<Self> {
        Opts::gauge(name, help)
    }
}

impl FacadeMetric for Histogram {
    fn kind(inner: &Inner) -> &Kind<Self> {
        &inner.histograms
    }
    fn base_opts(inner: &Inner, name: &str, help: &str) -> Opts<Self> {
        let buckets = inner
            .buckets
            .iter()
            .find(|(m, _)| m.matches(name))
            .map_or(&inner.default_buckets, |(_, b)| b);
        Opts::histogram(name, help, buckets.clone())
    }
}

impl Inner {
    /// Registers the family for `name` with the description given to `describe_*`, if any.
    fn register<M: FacadeMetric>(
        &self,
        name: &str,
        labels: &[String],
    ) -> Result<Family<M>, crate::RegistrationError> {
        let (unit, help) = self
            .descriptions
            .lock()
            .get(name)
            .map_or((None, String::new()), |(u, d)| {
                (u.and_then(base_unit), d.to_string())
            });
        let opts = M::base_opts(self, name, &help)
            .label_names(labels)
            .max_series(self.max_series);
        // A unit is declared only when the name already carries it: the facade never renames.
        let opts = match unit {
            Some(u) if name.ends_with(&format!("_{u}")) => opts.unit(u),
            _ => opts,
        };
        self.registry.register(opts)
    }

    /// The handle for `key`: from the cache, or resolved (and cached) on first use.
    #[inline]
    fn handle<M: FacadeMetric>(&self, key: &Key) -> Option<Arc<Proxy<M>>> {
        let kind = M::kind(self);
        let guard = epoch::pin();
        if let Some(entry) = kind.cache.find(key.get_hash(), |e| e.is(key), &guard) {
            return Some(entry.proxy());
        }
        self.resolve(kind, key)
    }

    #[cold]
    #[inline(never)]
    fn resolve<M: FacadeMetric>(&self, kind: &Kind<M>, key: &Key) -> Option<Arc<Proxy<M>>> {
        let name = naming::metric_name(key.name());
        let mut pairs: Vec<(String, &str)> = key
            .labels()
            .map(|l| (naming::label_name(l.key()), l.value()))
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let label_names: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let family = {
            let mut families = kind.families.lock();
            let resolved = families.entry(name.clone()).or_insert_with(|| {
                match self.register::<M>(&name, &label_names) {
                    Ok(family) => Resolved::Family {
                        family,
                        labels: label_names.clone(),
                    },
                    Err(_) => Resolved::Rejected,
                }
            });
            match resolved {
                Resolved::Family { family, labels } if *labels == label_names => family.clone(),
                Resolved::Family { .. } => {
                    self.dropped
                        .label_names_mismatch
                        .fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                Resolved::Rejected => {
                    self.dropped.name_conflict.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        };
        let values: Vec<&str> = pairs.iter().map(|(_, v)| *v).collect();
        let metric = family.with(&values);
        if family.is_overflow(&metric) {
            // Keys past the series limit are not cached, or the cache would grow without bound.
            return Some(Arc::new(Proxy(metric)));
        }
        let mut w = kind.cache.write();
        let entry = match w.find(key.get_hash(), |e| e.is(key)) {
            Some(e) => e,
            None => w.insert(Entry::new(key, metric)),
        };
        Some(entry.proxy())
    }
}

/// The `metrics` unit as one of ours, when it is a base unit (values need no scaling).
fn base_unit(unit: FacadeUnit) -> Option<Unit> {
    match unit {
        FacadeUnit::Seconds => Some(Unit::SECONDS),
        FacadeUnit::Bytes => Some(Unit::BYTES),
        _ => None,
    }
}

impl metrics::Recorder for RegistryRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<FacadeUnit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<FacadeUnit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(
        &self,
        key: KeyName,
        unit: Option<FacadeUnit>,
        description: SharedString,
    ) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        self.inner
            .handle::<Counter>(key)
            .map_or_else(metrics::Counter::noop, metrics::Counter::from_arc)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        self.inner
            .handle::<Gauge>(key)
            .map_or_else(metrics::Gauge::noop, metrics::Gauge::from_arc)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        self.inner
            .handle::<Histogram>(key)
            .map_or_else(metrics::Histogram::noop, metrics::Histogram::from_arc)
    }
}

impl RegistryRecorder {
    fn describe(&self, key: KeyName, unit: Option<FacadeUnit>, description: SharedString) {
        // The first description of a name wins, as in metrics-exporter-prometheus.
        self.inner
            .descriptions
            .lock()
            .entry(naming::metric_name(key.as_str()))
            .or_insert((unit, description));
    }
}

impl metrics::CounterFn for Proxy<Counter> {
    #[inline]
    fn increment(&self, value: u64) {
        self.0.inc_by(value);
    }

    fn absolute(&self, value: u64) {
        // Counters only move up: raise the total to `value` if it is below.
        let current = self.0.get();
        if (value as f64) > current {
            self.0.inc_by_f64(value as f64 - current);
        }
    }
}

impl metrics::GaugeFn for Proxy<Gauge> {
    #[inline]
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.0.sub(value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

impl metrics::HistogramFn for Proxy<Histogram> {
    #[inline]
    fn record(&self, value: f64) {
        self.0.observe(value);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.0.observe_many(value, count as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Value;

    fn with_recorder(
        build: impl FnOnce(RegistryRecorderBuilder) -> RegistryRecorderBuilder,
        f: impl FnOnce(),
    ) -> Registry {
        let registry = Registry::new();
        let recorder = build(RegistryRecorder::builder(registry.clone())).build();
        metrics::with_local_recorder(&recorder, f);
        registry
    }

    #[test]
    fn counters_gauges_histograms_land_in_the_registry() {
        let registry = with_recorder(
            |b| b,
            || {
                metrics::counter!("requests_total", "method" => "GET").increment(3);
                metrics::counter!("requests_total", "method" => "GET").increment(1);
                metrics::counter!("requests_total", "method" => String::from("POST")).increment(1);
                metrics::gauge!("in_flight").increment(2.0);
                metrics::gauge!("in_flight").decrement(0.5);
                metrics::histogram!("latency_seconds").record(0.2);
                metrics::histogram!("latency_seconds").record_many(3.0, 2);
            },
        );
        let s = registry.collect();
        let requests = s.family("requests").unwrap();
        assert!(
            matches!(requests.get(&["GET"]).unwrap().value, Value::Counter(c) if c.as_f64() == 4.0)
        );
        assert!(
            matches!(requests.get(&["POST"]).unwrap().value, Value::Counter(c) if c.as_f64() == 1.0)
        );
        assert!(
            matches!(s.family("in_flight").unwrap().get::<&str>(&[]).unwrap().value, Value::Gauge(v) if v == 1.5)
        );
        let Value::Histogram(h) = s
            .family("latency_seconds")
            .unwrap()
            .get::<&str>(&[])
            .unwrap()
            .value
        else {
            panic!()
        };
        assert_eq!((h.count, h.sum), (3, 6.2));
    }

    #[test]
    fn label_order_is_irrelevant_and_names_are_sanitised() {
        let registry = with_recorder(
            |b| b,
            || {
                metrics::counter!("http.requests", "b" => "2", "a" => "1").increment(1);
                metrics::counter!("http.requests", "a" => "1", "b" => "2").increment(1);
            },
        );
        let s = registry.collect();
        let f = s.family("http_requests").unwrap();
        assert_eq!(f.label_names().collect::<Vec<_>>(), ["a", "b"]);
        assert!(
            matches!(f.get(&["1", "2"]).unwrap().value, Value::Counter(c) if c.as_f64() == 2.0)
        );
    }

    #[test]
    fn mismatched_label_names_are_dropped_and_counted() {
        let registry = with_recorder(
            |b| b,
            || {
                metrics::counter!("jobs_total", "queue" => "a").increment(1);
                metrics::counter!("jobs_total", "other" => "b").increment(5);
                metrics::gauge!("jobs_total").set(1.0);
            },
        );
        let s = registry.collect();
        assert_eq!(s.family("jobs").unwrap().len(), 1);
        let dropped = s.family("aiplatform_metrics_facade_dropped").unwrap();
        assert!(
            matches!(dropped.get(&["label_names_mismatch"]).unwrap().value, Value::Counter(c) if c.as_f64() == 1.0)
        );
        assert!(
            matches!(dropped.get(&["name_conflict"]).unwrap().value, Value::Counter(c) if c.as_f64() == 1.0)
        );
    }

    #[test]
    fn descriptions_units_and_buckets() {
        let registry = with_recorder(
            |b| {
                b.buckets_for(
                    Matcher::Suffix("_bytes".into()),
                    Buckets::new([100.0, 1000.0]).unwrap(),
                )
            },
            || {
                metrics::describe_histogram!(
                    "payload_bytes",
                    metrics::Unit::Bytes,
                    "Payload size."
                );
                metrics::histogram!("payload_bytes").record(500.0);
            },
        );
        let s = registry.collect();
        let f = s.family("payload_bytes").unwrap();
        assert_eq!(f.help(), "Payload size.");
        assert_eq!(f.unit(), Some(&Unit::BYTES));
        let Value::Histogram(h) = f.get::<&str>(&[]).unwrap().value else {
            panic!()
        };
        assert_eq!(h.bounds(), &[100.0, 1000.0]);
    }

    #[test]
    fn absolute_only_raises_counters() {
        let registry = with_recorder(
            |b| b,
            || {
                metrics::counter!("bytes_total").absolute(10);
                metrics::counter!("bytes_total").absolute(4);
            },
        );
        let s = registry.collect();
        assert!(
            matches!(s.family("bytes").unwrap().get::<&str>(&[]).unwrap().value, Value::Counter(c) if c.as_f64() == 10.0)
        );
    }

    #[test]
    fn overflow_keys_are_not_cached() {
        let registry = with_recorder(
            |b| b.max_series(2),
            || {
                for i in 0..50 {
                    metrics::counter!("users_total", "id" => i.to_string()).increment(1);
                }
            },
        );
        let s = registry.collect();
        let f = s.family("users").unwrap();
        assert_eq!(f.len(), 3, "two series plus the overflow series");
        assert!(
            matches!(f.get(&[crate::OVERFLOW_LABEL_VALUE]).unwrap().value, Value::Counter(c) if c.as_f64() == 48.0)
        );
    }
}
