//! Named collectors an exporter runs at every scrape, node_exporter style.
//!
//! A collector reads one source (a `/proc` file, a SQL query, a Redis `INFO` section) and
//! appends [`MetricFamily`] values. Collectors are registered by name in a [`CollectorSet`],
//! which
//!
//! - generates `--collector.<name>` / `--no-collector.<name>` flags with per-collector
//!   defaults, plus `--collector.disable-defaults` ([`CollectorSet::augment_command`]);
//! - runs the enabled collectors of a scrape concurrently, each under a time limit (its own,
//!   or the set's), shortened to fit Prometheus' `X-Prometheus-Scrape-Timeout-Seconds`;
//! - reports `<namespace>_scrape_collector_success{collector}` (1 or 0) and
//!   `<namespace>_scrape_collector_duration_seconds{collector}` with node_exporter's HELP;
//! - honours `collect[]` / `exclude[]` query parameters ([`CollectorSet::select`]).
//!
//! A collector that fails, panics or runs out of time only sets its success to 0 (and is
//! logged); the scrape still answers 200 with everything else.
//!
//! Async collectors (database and Redis clients) implement [`ScrapeCollector`]; collectors
//! that block (reading `/proc`, `statfs`) implement [`BlockingCollector`] and run on tokio's
//! blocking pool, taken from one queue per scrape by a worker per core (another worker starts
//! when the queue stands still, so a slow collector delays nothing behind it). A blocking collector that overran its time limit is not started again
//! until its previous run has returned, so a stuck `statfs` costs one thread, not one per
//! scrape.
//!
//! ```
//! use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS};
//! use aiplatform_prometheus::{BlockingCollector, CollectError, CollectorSet, DefaultState, ScrapeContext};
//!
//! struct Loadavg;
//!
//! impl BlockingCollector for Loadavg {
//!     fn collect(&self, _ctx: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
//!         let text = std::fs::read_to_string("/proc/loadavg")?;
//!         let load1: f64 = text.split_whitespace().next().ok_or(CollectError::NoData)?
//!             .parse().map_err(CollectError::new)?;
//!         let mut f = MetricFamily::builder(MetricKind::Gauge, "node_load1", "1m load average.")
//!             .build().map_err(CollectError::new)?;
//!         f.push_gauge(NO_LABELS, load1).map_err(CollectError::new)?;
//!         out.push(f);
//!         Ok(())
//!     }
//! }
//!
//! let mut set = CollectorSet::new("node", "node_exporter").unwrap();
//! set.register_blocking("loadavg", DefaultState::Enabled, Loadavg).unwrap();
//! ```

mod context;
mod flags;
mod run;
mod set;

pub use context::ScrapeContext;
pub use set::{
    CollectorSet, DEFAULT_COLLECTOR_TIMEOUT, DEFAULT_TIMEOUT_OFFSET, DefaultState, ScrapeOptions,
    Selection, scrape_budget,
};

use std::future::Future;

use aiplatform_metrics::MetricFamily;
use thiserror::Error;

/// A collector that awaits its source (network clients). Register it with
/// [`CollectorSet::register`].
///
/// Implementations may use `async fn collect(...)`; the future must be `Send`. Check
/// [`ScrapeContext::remaining`] to bound queries: the future is dropped at the time limit.
pub trait ScrapeCollector: Send + Sync + 'static {
    /// Appends this collector's families for one scrape.
    fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> impl Future<Output = Result<(), CollectError>> + Send;
}

/// A collector that blocks (file reads, system calls). Register it with
/// [`CollectorSet::register_blocking`]; it runs on tokio's blocking pool.
///
/// A blocking call cannot be interrupted: check [`ScrapeContext::is_cancelled`] between
/// steps to give up early once the time limit has passed.
pub trait BlockingCollector: Send + Sync + 'static {
    /// Appends this collector's families for one scrape.
    fn collect(&self, ctx: &ScrapeContext, out: &mut Vec<MetricFamily>)
    -> Result<(), CollectError>;
}

impl<F> BlockingCollector for F
where
    F: Fn(&ScrapeContext, &mut Vec<MetricFamily>) -> Result<(), CollectError>
        + Send
        + Sync
        + 'static,
{
    fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        self(ctx, out)
    }
}

/// Why a collector did not succeed; any of these sets its success metric to 0.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The source had nothing to report (node_exporter's `ErrNoData`); logged at debug level.
    #[error("collector returned no data")]
    NoData,
    /// The source failed.
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
    /// The collector's time limit passed.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The collector panicked.
    #[error("collector panicked")]
    Panicked,
    /// A blocking collector's previous run has not returned yet, so it was not started again.
    #[error("previous run has not finished yet")]
    StillRunning,
}

impl CollectError {
    /// Wraps any error as [`CollectError::Failed`].
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> CollectError {
        CollectError::Failed(err.into())
    }
}

impl From<std::io::Error> for CollectError {
    fn from(err: std::io::Error) -> CollectError {
        CollectError::Failed(Box::new(err))
    }
}

/// Why a collector could not be registered or configured.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollectorSetError {
    /// The name is used twice.
    #[error("collector {0:?} is registered twice")]
    Duplicate(String),
    /// The name is empty or has characters other than `a-z`, `0-9` and `_`.
    #[error("invalid collector name {0:?}: use lower-case letters, digits and '_'")]
    InvalidName(String),
    /// No collector has this name.
    #[error("no collector named {0:?}")]
    Unknown(String),
    /// The namespace cannot prefix a metric name.
    #[error("invalid namespace {0:?}: {1}")]
    Namespace(String, String),
}

/// A `collect[]` / `exclude[]` request that cannot be served (HTTP 400).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// Both `collect[]` and `exclude[]` were given.
    #[error("Combined collect and exclude queries are not allowed.")]
    Combined,
    /// `collect[]` names a collector that does not exist.
    #[error(
        "Couldn't create filtered metrics handler: couldn't create collector: missing collector: {0}"
    )]
    Missing(String),
    /// `collect[]` names a collector that is disabled.
    #[error(
        "Couldn't create filtered metrics handler: couldn't create collector: disabled collector: {0}"
    )]
    Disabled(String),
}
