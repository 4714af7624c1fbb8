//! Collectors: families produced at collection time (what exporter binaries are made of).

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
/// use aiplatform_metrics::{MetricFamily, MetricKind, Registry};
///
/// let registry = Registry::new();
/// registry.register_collector(|out: &mut Vec<MetricFamily>| {
///     let mut up = MetricFamily::builder(MetricKind::Gauge, "source_up", "Source reachable.")
///         .build()
///         .expect("valid name");
///     up.push_gauge(&[] as &[&str], 1.0).expect("no labels");
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
