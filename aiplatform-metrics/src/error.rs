//! Typed errors: what was refused, and why.

use thiserror::Error;

/// Which kind of name a [`NameError`] is about.
///
/// ```
/// use aiplatform_metrics::NameKind;
/// assert_eq!(NameKind::Label.to_string(), "label name");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A metric (family) name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    Metric,
    /// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
    Label,
    /// A unit: `[a-zA-Z0-9_]+`, used as a metric name suffix.
    Unit,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Metric => "metric name",
            NameKind::Label => "label name",
            NameKind::Unit => "unit",
        })
    }
}

/// A metric name, label name or unit that the exposition formats cannot carry.
///
/// ```
/// use aiplatform_metrics::{NameKind, Registry, RegistrationError};
///
/// let err = Registry::new().counter("http-requests", "Requests.").unwrap_err();
/// let RegistrationError::Name(name) = err else { panic!() };
/// assert_eq!((name.kind, name.name.as_str()), (NameKind::Metric, "http-requests"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {kind} {name:?}: {reason}")]
pub struct NameError {
    /// What the name was for.
    pub kind: NameKind,
    /// The name as given.
    pub name: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

/// Histogram bucket bounds that cannot form a histogram.
///
/// ```
/// use aiplatform_metrics::{Buckets, BucketsError};
/// assert_eq!(Buckets::new([1.0, 0.5]), Err(BucketsError::NotIncreasing { prev: 1.0, next: 0.5 }));
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum BucketsError {
    /// A bound is NaN or −∞ (+∞ is implied and dropped if given last).
    #[error("bucket bound {0} is not a finite number")]
    NotFinite(f64),
    /// Bounds must be strictly increasing.
    #[error("bucket bounds must be strictly increasing, but {next} follows {prev}")]
    NotIncreasing {
        /// The earlier bound.
        prev: f64,
        /// The bound that is not greater than it.
        next: f64,
    },
    /// A generator was asked for zero buckets.
    #[error("at least one bucket is required")]
    Empty,
    /// `linear` needs a positive width.
    #[error("linear bucket width must be positive, got {0}")]
    NonPositiveWidth(f64),
    /// `exponential` needs a positive start and a factor above 1.
    #[error("exponential buckets need start > 0 and factor > 1, got start {start} factor {factor}")]
    BadExponential {
        /// The first bound requested.
        start: f64,
        /// The growth factor requested.
        factor: f64,
    },
}

/// Why a family could not be registered, or a collector's family could not be built.
///
/// ```
/// use aiplatform_metrics::{Registry, RegistrationError};
///
/// let registry = Registry::new();
/// registry.counter("jobs_total", "Jobs.").unwrap();
/// assert_eq!(
///     registry.gauge("jobs_total", "Clash.").unwrap_err(),
///     RegistrationError::AlreadyRegistered("jobs_total".into())
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The metric name, a label name or the unit is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A label name is declared twice.
    #[error("label {label:?} is declared twice for metric {metric:?}")]
    DuplicateLabel {
        /// The metric.
        metric: String,
        /// The repeated label name.
        label: String,
    },
    /// A label name is reserved for this metric type (`le` on histograms, `quantile` on
    /// summaries).
    #[error("label {label:?} is reserved for {metric:?} (a {kind})")]
    ReservedLabel {
        /// The metric.
        metric: String,
        /// The reserved label name.
        label: String,
        /// The metric type that reserves it.
        kind: &'static str,
    },
    /// A label name is also a constant label of the registry.
    #[error("label {label:?} of metric {metric:?} is already a constant label of the registry")]
    ConstLabelConflict {
        /// The metric.
        metric: String,
        /// The label name in both places.
        label: String,
    },
    /// A family with this name (after the namespace prefix) is already registered.
    #[error("a metric named {0:?} is already registered")]
    AlreadyRegistered(String),
    /// The histogram bounds are invalid.
    #[error(transparent)]
    Buckets(#[from] BucketsError),
}

/// The number of label values given differs from the number of label names declared.
///
/// ```
/// use aiplatform_metrics::Registry;
///
/// let f = Registry::new().counter_family("hits_total", "Hits.", &["route", "code"]).unwrap();
/// let err = f.try_with(&["/"]).unwrap_err();
/// assert_eq!((err.expected, err.got), (2, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("metric {metric:?} declares {expected} label(s) but {got} value(s) were given")]
pub struct LabelCountError {
    /// The family.
    pub metric: String,
    /// Label names declared by the family.
    pub expected: usize,
    /// Label values given.
    pub got: usize,
}
