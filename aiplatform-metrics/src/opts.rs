//! Registration options for a family.

use std::time::Duration;

use crate::counter::Counter;
use crate::family::DEFAULT_MAX_SERIES;
use crate::gauge::Gauge;
use crate::histogram::Histogram;
use crate::histogram::buckets::Buckets;
use crate::metric::{Metric, sealed::MetricImpl};
use crate::names::Unit;
use crate::series::Storage;

/// How to register a family: name, help, label names, unit and cardinality settings.
///
/// ```
/// use std::time::Duration;
/// use aiplatform_metrics::{Buckets, Opts, Registry, Unit};
///
/// let registry = Registry::new();
/// let latency = registry
///     .register(
///         Opts::histogram("request_duration", "Time to serve a request.", Buckets::default())
///             .unit(Unit::SECONDS)
///             .label_names(&["route"])
///             .max_series(500)
///             .expire_after(Duration::from_secs(600)),
///     )
///     .unwrap();
/// assert_eq!(latency.name(), "request_duration_seconds");
/// ```
#[derive(Debug, Clone)]
pub struct Opts<M: Metric> {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) unit: Option<Unit>,
    pub(crate) labels: Vec<String>,
    pub(crate) max_series: usize,
    pub(crate) expire_after: Option<Duration>,
    pub(crate) text_name_as_given: bool,
    pub(crate) config: <<M as MetricImpl>::Storage as Storage>::Config,
}

impl<M: Metric> Opts<M> {
    fn with_config(
        name: &str,
        help: &str,
        config: <<M as MetricImpl>::Storage as Storage>::Config,
    ) -> Self {
        Opts {
            name: name.to_owned(),
            help: help.to_owned(),
            unit: None,
            labels: Vec::new(),
            max_series: DEFAULT_MAX_SERIES,
            expire_after: None,
            text_name_as_given: false,
            config,
        }
    }

    /// Declares the label names; every lookup gives one value per name, in this order.
    pub fn label_names<S: AsRef<str>>(mut self, names: &[S]) -> Self {
        self.labels = names.iter().map(|n| n.as_ref().to_owned()).collect();
        self
    }

    /// Declares the unit; it is appended to the name unless the name already ends with it.
    pub fn unit(mut self, unit: Unit) -> Self {
        self.unit = Some(unit);
        self
    }

    /// Caps the number of series (default [`DEFAULT_MAX_SERIES`]). Past it, new label sets
    /// share one overflow series whose label values are all
    /// [`OVERFLOW_LABEL_VALUE`](crate::OVERFLOW_LABEL_VALUE), and each redirected lookup is
    /// counted in `aiplatform_metrics_series_overflow_total{metric}`.
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = max;
        self
    }

    /// Removes series whose value has not changed for `idle` (checked at each collection).
    /// A series that a live handle points to is never removed, so no update is lost; series
    /// updated only through [`Family::apply`](crate::Family::apply) or short-lived handles
    /// expire. Removals are counted in `aiplatform_metrics_series_expired_total{metric}`.
    pub fn expire_after(mut self, idle: Duration) -> Self {
        self.expire_after = Some(idle);
        self
    }
}

impl Opts<Counter> {
    /// A counter. A trailing `_total` is optional: samples always end in `_total`, unless
    /// [`text_name_as_given`](Self::text_name_as_given) says otherwise.
    pub fn counter(name: &str, help: &str) -> Self {
        Opts::with_config(name, help, ())
    }

    /// In text 0.0.4, writes the samples under the name exactly as given, without appending
    /// `_total`: what client_golang does, so an exporter can keep the counter names that
    /// dashboards of a Go exporter query (`pg_stat_database_xact_commit`). OpenMetrics
    /// requires the suffix, so its samples still end in `_total`. `promtool check metrics`
    /// warns about such names; prefer the default for new metrics.
    ///
    /// ```
    /// use aiplatform_metrics::{ExpositionFormat, Opts, Registry, NO_LABELS};
    ///
    /// let registry = Registry::new();
    /// let commits = registry
    ///     .register(Opts::counter("xact_commit", "Commits.").text_name_as_given())
    ///     .unwrap()
    ///     .with(NO_LABELS);
    /// commits.inc();
    /// let text = |f| String::from_utf8(registry.encode(f)).unwrap();
    /// assert!(text(ExpositionFormat::Text).contains("\nxact_commit 1\n"));
    /// assert!(text(ExpositionFormat::OpenMetrics).contains("\nxact_commit_total 1\n"));
    /// ```
    pub fn text_name_as_given(mut self) -> Self {
        self.text_name_as_given = true;
        self
    }
}

impl Opts<Gauge> {
    /// A gauge.
    pub fn gauge(name: &str, help: &str) -> Self {
        Opts::with_config(name, help, ())
    }
}

impl Opts<Histogram> {
    /// A histogram with these buckets.
    pub fn histogram(name: &str, help: &str, buckets: Buckets) -> Self {
        Opts::with_config(
            name,
            help,
            crate::histogram::HistogramConfig::new(buckets.shared()),
        )
    }
}
