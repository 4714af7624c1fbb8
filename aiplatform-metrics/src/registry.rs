//! The registry: families and collectors under one namespace, collected into a [`Snapshot`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::collect::{CollectStats, Collector, CollectorId};
use crate::counter::Counter;
use crate::desc::{Descriptor, MetricKind};
use crate::encoding::{Encoder, ExpositionFormat};
use crate::error::{NameError, NameKind, RegistrationError};
use crate::family::{Family, FamilyCore};
use crate::gauge::Gauge;
use crate::histogram::Histogram;
use crate::histogram::buckets::Buckets;
use crate::labels::NO_LABELS;
use crate::metric::Metric;
use crate::names::{check_label_name, check_metric_name};
use crate::opts::Opts;
use crate::snapshot::{ConstLabels, MetricFamily, Snapshot};

/// Families and collectors, collected together into one [`Snapshot`].
///
/// Cloning is cheap and every clone is the same registry. Family names are unique, including
/// the sample names they generate (`x_total`, `x_bucket`, `x_sum`, `x_count`), so two families
/// can never write clashing lines.
///
/// ```
/// use aiplatform_metrics::{ExpositionFormat, Registry};
///
/// let registry = Registry::builder().namespace("aiplatform").const_label("env", "prod").build().unwrap();
/// let predictions = registry.counter("ml_predictions_total", "Predictions served.").unwrap();
/// predictions.inc();
/// let text = String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap();
/// assert!(text.contains("aiplatform_ml_predictions_total{env=\"prod\"} 1\n"));
/// assert!(registry.counter("ml_predictions", "again").is_err());
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: Option<String>,
    const_labels: ConstLabels,
    self_metrics: bool,
    state: RwLock<State>,
    /// Copied on write, so a collection clones one `Arc` and runs collectors without a lock.
    collectors: RwLock<Arc<Vec<CollectorEntry>>>,
    next_collector: AtomicU64,
    dropped_duplicates: AtomicU64,
    dropped_conflicts: AtomicU64,
    scratch: Mutex<Vec<(Snapshot, Encoder)>>,
}

#[derive(Default)]
struct State {
    families: BTreeMap<Box<str>, Arc<dyn NativeFamily>>,
    /// Every name a family's samples use → the family name that uses it.
    /// Looked up for every collector family at every collection: a fast (non-DoS-resistant)
    /// hash is fine, the keys are metric names chosen by the program, not by clients.
    claimed: HashMap<Box<str>, Box<str>, foldhash::fast::FixedState>,
}

/// A registered collector.
struct CollectorEntry {
    id: CollectorId,
    collector: Arc<dyn Collector>,
    /// Whether the registry's namespace prefixes its families.
    namespaced: bool,
}

/// A registered family, whatever its metric type.
trait NativeFamily: Send + Sync {
    fn desc(&self) -> &Arc<Descriptor>;
    fn empty_snapshot(&self) -> MetricFamily;
    fn collect_into(&self, out: &mut MetricFamily);
    fn overflowed(&self) -> u64;
    fn expired(&self) -> u64;
}

impl<M: Metric> NativeFamily for FamilyCore<M> {
    fn desc(&self) -> &Arc<Descriptor> {
        &self.desc
    }
    fn empty_snapshot(&self) -> MetricFamily {
        FamilyCore::empty_snapshot(self)
    }
    fn collect_into(&self, out: &mut MetricFamily) {
        FamilyCore::collect_into(self, out)
    }
    fn overflowed(&self) -> u64 {
        FamilyCore::overflowed(self)
    }
    fn expired(&self) -> u64 {
        FamilyCore::expired(self)
    }
}

/// The suffixes a family's samples add to its name in the exposition.
fn claim_suffixes(kind: MetricKind) -> &'static [&'static str] {
    match kind {
        MetricKind::Counter => &["", "_total"],
        MetricKind::Histogram => &["", "_bucket", "_sum", "_count"],
        MetricKind::Summary => &["", "_sum", "_count"],
        MetricKind::Gauge | MetricKind::Unknown => &[""],
    }
}

/// The names a family's samples occupy in the exposition.
fn claimed_names(desc: &Descriptor) -> Vec<String> {
    claim_suffixes(desc.kind)
        .iter()
        .map(|s| format!("{}{s}", desc.name))
        .collect()
}

/// Calls `f` with each name a family's samples occupy, built in `buf` (no allocation once
/// `buf` has grown).
fn for_each_claim(desc: &Descriptor, buf: &mut String, mut f: impl FnMut(&str)) {
    for suffix in claim_suffixes(desc.kind) {
        buf.clear();
        buf.push_str(&desc.name);
        buf.push_str(suffix);
        f(buf);
    }
}

/// Configures a [`Registry`].
///
/// ```
/// use aiplatform_metrics::Registry;
///
/// let registry = Registry::builder()
///     .namespace("aiplatform")
///     .const_label("env", "staging")
///     .without_self_metrics()
///     .build()
///     .unwrap();
/// assert_eq!(registry.counter("jobs_total", "Jobs.").is_ok(), true);
/// assert!(Registry::builder().const_label("bad-name", "x").build().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RegistryBuilder {
    namespace: Option<String>,
    const_labels: Vec<(String, String)>,
    no_self_metrics: bool,
}

impl RegistryBuilder {
    /// Prefixes every family name with `namespace_` (collectors' families included).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Adds a label to every series (`service`, `env`, ...).
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Leaves out the `aiplatform_metrics_*` families that report overflow, expiry and dropped
    /// series (they are on by default, and only appear once something happened).
    pub fn without_self_metrics(mut self) -> Self {
        self.no_self_metrics = true;
        self
    }

    /// Validates the namespace and constant labels.
    pub fn build(self) -> Result<Registry, RegistrationError> {
        if let Some(ns) = &self.namespace {
            check_metric_name(ns)?;
        }
        let mut seen = HashSet::new();
        for (name, _) in &self.const_labels {
            check_label_name(name)?;
            if !seen.insert(name.as_str()) {
                return Err(RegistrationError::Name(NameError {
                    kind: NameKind::Label,
                    name: name.clone(),
                    reason: "constant label given twice",
                }));
            }
        }
        Ok(Registry {
            inner: Arc::new(Inner {
                namespace: self.namespace.filter(|n| !n.is_empty()),
                const_labels: ConstLabels::new(&self.const_labels),
                self_metrics: !self.no_self_metrics,
                state: RwLock::new(State::default()),
                collectors: RwLock::new(Arc::new(Vec::new())),
                next_collector: AtomicU64::new(0),
                dropped_duplicates: AtomicU64::new(0),
                dropped_conflicts: AtomicU64::new(0),
                scratch: Mutex::new(Vec::new()),
            }),
        })
    }
}

crate::metric::unwind_safe!(Registry);

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("namespace", &self.inner.namespace)
            .field("families", &self.inner.state.read().families.len())
            .field("collectors", &self.inner.collectors.read().len())
            .finish()
    }
}

impl Registry {
    /// A registry with no namespace and no constant labels.
    pub fn new() -> Registry {
        RegistryBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }

    /// Configures a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The labels this registry adds to every series (fixed when it was built), without
    /// collecting: push backends that carry them once per request (New Relic's `common`
    /// block) read them when they are set up.
    ///
    /// ```
    /// use aiplatform_metrics::Registry;
    ///
    /// let registry = Registry::builder().const_label("env", "prod").build().unwrap();
    /// assert_eq!(registry.const_labels().iter().collect::<Vec<_>>(), [("env", "prod")]);
    /// ```
    pub fn const_labels(&self) -> &ConstLabels {
        &self.inner.const_labels
    }

    /// Registers a family.
    pub fn register<M: Metric>(&self, opts: Opts<M>) -> Result<Family<M>, RegistrationError> {
        let labels: Vec<&str> = opts.labels.iter().map(String::as_str).collect();
        let desc = Descriptor::new(
            <M as crate::metric::sealed::MetricImpl>::KIND,
            &opts.name,
            &opts.help,
            opts.unit,
            &labels,
            self.inner.namespace.as_deref(),
            &self.inner.const_labels.names,
        )?;
        let desc = if opts.text_name_as_given {
            desc.text_name_as_given(&opts.name)
        } else {
            desc
        };
        let claimed = claimed_names(&desc);
        let mut state = self.inner.state.write();
        if let Some(taken) = claimed
            .iter()
            .find(|n| state.claimed.contains_key(n.as_str()))
        {
            return Err(RegistrationError::AlreadyRegistered(taken.clone()));
        }
        let name: Box<str> = desc.name.clone();
        let core = Arc::new(FamilyCore::<M>::new(
            desc,
            opts.config,
            opts.max_series,
            opts.expire_after,
        ));
        for n in claimed {
            state.claimed.insert(n.into(), name.clone());
        }
        state.families.insert(name, core.clone());
        Ok(Family::from_core(core))
    }

    /// Unregisters the family called `name` (its family name, or a counter's `_total` name).
    /// Handles keep working; their series are no longer exported. Returns whether it existed.
    pub fn unregister(&self, name: &str) -> bool {
        let mut state = self.inner.state.write();
        let Some(family) = state.claimed.get(name).cloned() else {
            return false;
        };
        state.claimed.retain(|_, owner| *owner != family);
        state.families.remove(&family).is_some()
    }

    /// Registers an unlabeled counter and returns its handle.
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, RegistrationError> {
        Ok(self.register(Opts::counter(name, help))?.with(NO_LABELS))
    }

    /// Registers an unlabeled gauge and returns its handle.
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, RegistrationError> {
        Ok(self.register(Opts::gauge(name, help))?.with(NO_LABELS))
    }

    /// Registers an unlabeled histogram and returns its handle.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        buckets: Buckets,
    ) -> Result<Histogram, RegistrationError> {
        Ok(self
            .register(Opts::histogram(name, help, buckets))?
            .with(NO_LABELS))
    }

    /// Registers a labeled counter family.
    pub fn counter_family(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
    ) -> Result<Family<Counter>, RegistrationError> {
        self.register(Opts::counter(name, help).label_names(label_names))
    }

    /// Registers a labeled gauge family.
    pub fn gauge_family(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
    ) -> Result<Family<Gauge>, RegistrationError> {
        self.register(Opts::gauge(name, help).label_names(label_names))
    }

    /// Registers a labeled histogram family.
    pub fn histogram_family(
        &self,
        name: &str,
        help: &str,
        label_names: &[&str],
        buckets: Buckets,
    ) -> Result<Family<Histogram>, RegistrationError> {
        self.register(Opts::histogram(name, help, buckets).label_names(label_names))
    }

    /// Adds a collector, called at every collection. Its families get the registry's
    /// namespace, like registered families.
    pub fn register_collector(&self, collector: impl Collector) -> CollectorId {
        self.add_collector(Arc::new(collector), true)
    }

    /// Adds a collector whose families keep their names on a namespaced registry: process and
    /// HTTP-handler metrics (`process_*`, `promhttp_*`) that dashboards expect as they are.
    ///
    /// ```
    /// use aiplatform_metrics::{MetricFamily, MetricKind, Registry, NO_LABELS};
    ///
    /// let registry = Registry::builder().namespace("app").build().unwrap();
    /// registry.register_collector_without_namespace(|out: &mut Vec<MetricFamily>| {
    ///     let mut f = MetricFamily::builder(MetricKind::Gauge, "process_open_fds", "Open fds.").build().unwrap();
    ///     f.push_gauge(NO_LABELS, 12.0).unwrap();
    ///     out.push(f);
    /// });
    /// assert!(registry.collect().family("process_open_fds").is_some());
    /// ```
    pub fn register_collector_without_namespace(&self, collector: impl Collector) -> CollectorId {
        self.add_collector(Arc::new(collector), false)
    }

    fn add_collector(&self, collector: Arc<dyn Collector>, namespaced: bool) -> CollectorId {
        let id = CollectorId(self.inner.next_collector.fetch_add(1, Ordering::Relaxed));
        let mut collectors = self.inner.collectors.write();
        let mut next: Vec<CollectorEntry> = collectors
            .iter()
            .map(|e| CollectorEntry {
                id: e.id,
                collector: e.collector.clone(),
                namespaced: e.namespaced,
            })
            .collect();
        next.push(CollectorEntry {
            id,
            collector,
            namespaced,
        });
        *collectors = Arc::new(next);
        id
    }

    /// Removes a collector; returns whether it was registered.
    pub fn unregister_collector(&self, id: CollectorId) -> bool {
        let mut collectors = self.inner.collectors.write();
        let next: Vec<CollectorEntry> = collectors
            .iter()
            .filter(|e| e.id != id)
            .map(|e| CollectorEntry {
                id: e.id,
                collector: e.collector.clone(),
                namespaced: e.namespaced,
            })
            .collect();
        let removed = next.len() != collectors.len();
        *collectors = Arc::new(next);
        removed
    }

    /// Collects every family into a new snapshot.
    pub fn collect(&self) -> Snapshot {
        let mut snapshot = Snapshot::new();
        self.collect_into(&mut snapshot);
        snapshot
    }

    /// Collects into `snapshot`, reusing its memory: once warm, collecting registered families
    /// allocates nothing per series. Returns what this collection dropped.
    pub fn collect_into(&self, snapshot: &mut Snapshot) -> CollectStats {
        self.collect_into_with(snapshot, Vec::new())
    }

    /// Like [`Registry::collect_into`], with `extra` families added to this collection only
    /// (an exporter's per-scrape results, say). They are checked, merged and de-duplicated like
    /// a collector's, but not prefixed with the namespace.
    ///
    /// ```
    /// use aiplatform_metrics::{MetricFamily, MetricKind, Registry, Snapshot, NO_LABELS};
    ///
    /// let registry = Registry::new();
    /// let mut up = MetricFamily::builder(MetricKind::Gauge, "target_up", "Target reachable.").build().unwrap();
    /// up.push_gauge(NO_LABELS, 1.0).unwrap();
    /// let mut snapshot = Snapshot::new();
    /// let stats = registry.collect_into_with(&mut snapshot, vec![up]);
    /// assert!(snapshot.family("target_up").is_some());
    /// assert_eq!(stats.dropped(), 0);
    /// assert!(registry.collect().family("target_up").is_none(), "only that collection saw it");
    /// ```
    pub fn collect_into_with(
        &self,
        snapshot: &mut Snapshot,
        mut extra: Vec<MetricFamily>,
    ) -> CollectStats {
        let inner = &*self.inner;
        if snapshot.const_labels != inner.const_labels {
            snapshot.const_labels = inner.const_labels.clone();
        }
        let mut stats = CollectStats::default();
        {
            let state = inner.state.read();
            let mut n = 0;
            for family in state.families.values() {
                match snapshot.families.get_mut(n) {
                    Some(slot) if Arc::ptr_eq(&slot.desc, family.desc()) => {
                        family.collect_into(slot)
                    }
                    slot => {
                        let mut fresh = family.empty_snapshot();
                        family.collect_into(&mut fresh);
                        match slot {
                            Some(slot) => *slot = fresh,
                            None => snapshot.families.push(fresh),
                        }
                    }
                }
                n += 1;
            }
            snapshot.families.truncate(n);
        }
        // Collectors run without the registry's lock: a slow one must not hold up a
        // registration, nor the collections queued behind it.
        let collectors = inner.collectors.read().clone();
        for entry in collectors.iter() {
            let first = extra.len();
            entry.collector.collect(&mut extra);
            if let (true, Some(ns)) = (entry.namespaced, &inner.namespace) {
                for f in &mut extra[first..] {
                    f.desc = Arc::new(f.desc.prefixed(ns));
                }
            }
        }
        let state = inner.state.read();
        if !extra.is_empty() {
            let mut taken: HashSet<Box<str>, foldhash::fast::FixedState> =
                HashSet::with_capacity_and_hasher(4 * extra.len(), Default::default());
            let mut claim = String::new();
            for mut f in extra {
                let mut clash = false;
                for_each_claim(&f.desc, &mut claim, |c| {
                    clash |= state.claimed.contains_key(c) || taken.contains(c);
                });
                let clash = clash && !mergeable(&snapshot.families, &f);
                let const_clash = f
                    .label_names()
                    .any(|l| inner.const_labels.names.iter().any(|c| &**c == l));
                if clash || const_clash {
                    stats.conflicting_series += f.len() as u64;
                    continue;
                }
                stats.duplicate_series += f.sort_and_dedup() as u64;
                for_each_claim(&f.desc, &mut claim, |c| {
                    taken.insert(c.into());
                });
                snapshot.families.push(f);
            }
            snapshot
                .families
                .sort_by(|a, b| a.desc.name.cmp(&b.desc.name));
            let mut i = 1;
            while i < snapshot.families.len() {
                if snapshot.families[i].desc.name == snapshot.families[i - 1].desc.name {
                    let later = snapshot.families.remove(i);
                    let first = &mut snapshot.families[i - 1];
                    first.absorb(later);
                    stats.duplicate_series += first.sort_and_dedup() as u64;
                } else {
                    i += 1;
                }
            }
        }
        inner
            .dropped_duplicates
            .fetch_add(stats.duplicate_series, Ordering::Relaxed);
        inner
            .dropped_conflicts
            .fetch_add(stats.conflicting_series, Ordering::Relaxed);
        // Self-metrics last, so they include what this collection dropped.
        let own = self.self_metric_families(&state);
        drop(state);
        if !own.is_empty() {
            snapshot.families.extend(own);
            snapshot
                .families
                .sort_by(|a, b| a.desc.name.cmp(&b.desc.name));
        }
        stats
    }

    fn self_metric_families(&self, state: &State) -> Vec<MetricFamily> {
        let inner = &*self.inner;
        if !inner.self_metrics {
            return Vec::new();
        }
        let mut out = Vec::new();
        let per_family = |name: &str, help: &str, get: &dyn Fn(&dyn NativeFamily) -> u64| {
            let mut fam = None;
            for (fname, f) in state.families.iter() {
                let v = get(&**f);
                if v > 0 {
                    let fam = fam.get_or_insert_with(|| {
                        MetricFamily::builder(MetricKind::Counter, name, help)
                            .label_names(&["metric"])
                            .build()
                            .expect("static self-metric description is valid")
                    });
                    fam.push_counter(&[&**fname], v as f64).expect("one label");
                }
            }
            fam
        };
        out.extend(per_family(
            "aiplatform_metrics_series_overflow_total",
            "Lookups of new label sets redirected to the overflow series by the series limit.",
            &|f| f.overflowed(),
        ));
        out.extend(per_family(
            "aiplatform_metrics_series_expired_total",
            "Series removed after staying unchanged for the family's expiry period.",
            &|f| f.expired(),
        ));
        let dups = inner.dropped_duplicates.load(Ordering::Relaxed);
        let conflicts = inner.dropped_conflicts.load(Ordering::Relaxed);
        if dups > 0 || conflicts > 0 {
            let mut f = MetricFamily::builder(
                MetricKind::Counter,
                "aiplatform_metrics_collect_dropped_series_total",
                "Series from collectors dropped at collection: repeated label sets, or families clashing with another family's names or the constant labels.",
            )
            .label_names(&["reason"])
            .build()
            .expect("static self-metric description is valid");
            f.push_counter(&["conflicting_family"], conflicts as f64)
                .expect("one label");
            f.push_counter(&["duplicate_series"], dups as f64)
                .expect("one label");
            out.push(f);
        }
        out
    }

    /// Collects and encodes in one go, reusing pooled snapshots and buffers.
    pub fn encode(&self, format: ExpositionFormat) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(format, &mut out);
        out
    }

    /// Collects and appends the exposition to `out`. Concurrent calls each take their own
    /// pooled snapshot, so a slow consumer never blocks another.
    pub fn encode_into(&self, format: ExpositionFormat, out: &mut Vec<u8>) {
        let pooled = self.inner.scratch.lock().pop();
        let (mut snapshot, mut encoder) = pooled.unwrap_or_default();
        let _ = self.collect_into(&mut snapshot);
        encoder.encode(&snapshot, format, out);
        let mut pool = self.inner.scratch.lock();
        if pool.len() < MAX_POOLED {
            pool.push((snapshot, encoder));
        }
    }
}

/// Snapshots kept for reuse by [`Registry::encode_into`]; more concurrent scrapes than this
/// still work, they just allocate.
const MAX_POOLED: usize = 4;

/// Whether `f` has the same name, type and labels as a family already collected, so its series
/// can be merged in rather than dropped.
fn mergeable(collected: &[MetricFamily], f: &MetricFamily) -> bool {
    collected.iter().any(|c| {
        c.desc.name == f.desc.name
            && c.desc.kind == f.desc.kind
            && c.desc.label_names == f.desc.label_names
            && c.desc.text_total == f.desc.text_total
    })
}
