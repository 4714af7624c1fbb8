//! What collectors and exporters are built with, apart from recording and exposition.
//!
//! - [`Collector`]: families produced when the registry is collected (`/proc` readers, SQL
//!   queries), filled through [`FamilyBuilder`] (from [`MetricFamily::builder`]);
//! - [`CollectStats`]: what a collection dropped;
//! - [`FamilyCache`]: a collector's families kept across scrapes, so a warm scrape validates
//!   and allocates nothing per family; [`PrehashedMap`] is the map it and the exporters' caches
//!   key by a hash computed once;
//! - [`write_le_value`]: histogram bounds written as a scrape writes them, for push protocols
//!   that carry `_bucket` series.
//!
//! An application that only records and exposes its own metrics needs none of this: that API
//! is at the crate root.

mod family_cache;
mod prehashed;

pub use crate::encoding::write_le_value;
pub use crate::snapshot::FamilyBuilder;
pub use family_cache::{DEFAULT_MAX_CACHED_FAMILIES, FamilyCache};
pub use prehashed::{Prehashed, PrehashedMap};

use crate::snapshot::MetricFamily;

/// Produces families when the registry is collected: `/proc` readers, SQL queries, anything
/// whose values live outside the process's own counters.
///
/// A collector builds [`MetricFamily`] values with [`MetricFamily::builder`]. The registry
/// sorts each family's series, drops repeated label sets (keeping the first) and families whose
/// names clash with another family, and counts what it dropped in
/// `aiplatform_metrics_collect_dropped_series_total`, so one bad source never fails a
/// collection.
///
/// Closures work as collectors:
///
/// ```
/// use aiplatform_metrics::{MetricFamily, MetricKind, Registry, NO_LABELS};
///
/// let registry = Registry::new();
/// registry.register_collector(|out: &mut Vec<MetricFamily>| {
///     let mut up = MetricFamily::builder(MetricKind::Gauge, "source_up", "Source reachable.")
///         .build()
///         .expect("valid name");
///     up.push_gauge(NO_LABELS, 1.0).expect("no labels");
///     out.push(up);
/// });
/// assert!(registry.collect().family("source_up").is_some());
/// ```
pub trait Collector: Send + Sync + 'static {
    /// Appends this collector's families to `out`.
    fn collect(&self, out: &mut Vec<MetricFamily>);
}

impl<F> Collector for F
where
    F: Fn(&mut Vec<MetricFamily>) + Send + Sync + 'static,
{
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        self(out)
    }
}

/// Identifies a registered collector, for [`Registry::unregister_collector`](crate::Registry::unregister_collector).
///
/// ```
/// use aiplatform_metrics::{MetricFamily, Registry};
///
/// let registry = Registry::new();
/// let id = registry.register_collector(|_: &mut Vec<MetricFamily>| {});
/// assert!(registry.unregister_collector(id));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CollectorId(pub(crate) u64);

/// What one collection dropped to keep its output valid: repeated label sets from collectors
/// (the first wins), and collector families whose names clash with another family's or whose
/// labels clash with the constant labels. Also counted, across collections, in
/// `aiplatform_metrics_collect_dropped_series_total{reason}`.
///
/// ```
/// use aiplatform_metrics::{MetricFamily, MetricKind, Registry, Snapshot};
///
/// let registry = Registry::new();
/// let mut f = MetricFamily::builder(MetricKind::Gauge, "temp", "T.").label_names(&["room"]).build().unwrap();
/// f.push_gauge(&["a"], 1.0).unwrap();
/// f.push_gauge(&["a"], 2.0).unwrap();
/// let stats = registry.collect_into_with(&mut Snapshot::new(), vec![f]);
/// assert_eq!((stats.duplicate_series, stats.dropped()), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectStats {
    /// Series dropped because an earlier series had the same label set.
    pub duplicate_series: u64,
    /// Series of families dropped for clashing names or labels.
    pub conflicting_series: u64,
}

impl CollectStats {
    /// Everything dropped.
    pub fn dropped(&self) -> u64 {
        self.duplicate_series + self.conflicting_series
    }
}
