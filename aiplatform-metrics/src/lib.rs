//! Lock-free counters, gauges and histograms with labels, a registry that collects them into a
//! plain [`Snapshot`], and Prometheus text 0.0.4 / OpenMetrics 1.0 exposition.
//!
//! No async runtime, no network: backends (an HTTP endpoint, push exporters) read snapshots.
//!
//! # Recording
//!
//! Register a metric once and keep its handle; updating through a handle is the hot path.
//!
//! ```
//! use aiplatform_metrics::{Buckets, Registry};
//!
//! let registry = Registry::new();
//! let predictions = registry.counter("ml_predictions_total", "Predictions served.").unwrap();
//! let connections = registry.gauge("active_connections", "Open client connections.").unwrap();
//! let latency = registry
//!     .histogram("request_duration_seconds", "Time to serve a request.", Buckets::default())
//!     .unwrap();
//!
//! predictions.inc();
//! connections.inc();
//! latency.observe(0.042);
//! ```
//!
//! Metrics with labels are [`Family`]s. [`Family::with`] returns a handle to one series;
//! [`Family::apply`] updates a series without keeping a handle.
//!
//! ```
//! # use aiplatform_metrics::Registry;
//! # let registry = Registry::new();
//! let requests = registry
//!     .counter_family("http_requests_total", "Requests served.", &["method", "status"])
//!     .unwrap();
//! requests.with(&["GET", "200"]).inc();
//! requests.apply(&["GET", "500"], |c| c.inc());
//! ```
//!
//! # Exposing
//!
//! ```
//! # use aiplatform_metrics::Registry;
//! use aiplatform_metrics::{ExpositionFormat, negotiate};
//!
//! # let registry = Registry::new();
//! # registry.counter("ml_predictions_total", "Predictions served.").unwrap().inc();
//! // In an HTTP handler: pick the format from the scraper's Accept header.
//! let format = negotiate(Some("application/openmetrics-text;version=1.0.0,*/*;q=0.1"));
//! let body = registry.encode(format);
//! let content_type = format.content_type();
//! assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
//! assert!(body.ends_with(b"# EOF\n"));
//! ```
//!
//! # How the hot path works
//!
//! - **Handles** point at one series. An increment from the thread that first wrote the series
//!   is a plain load and store on a cache line nobody else writes, with no `lock`-prefixed
//!   instruction at all. A thread that keeps writing a series it does not own gets a cell of
//!   its own after a few writes (8 bytes for a counter, packed with the thread's cells in other
//!   series); threads that write it now and then add to one shared cell with atomics. A reader
//!   sums them. Two threads on a hot counter never contend, and a series costs the same memory
//!   whether one thread or every worker of a pool has touched it.
//! - **Histograms** work the same way: the owner, and each thread that keeps writing, records
//!   with plain stores under a sequence word (a seqlock), and every collection sees whole
//!   observations (count, sum and buckets agree). The shared part, and a writer the reader has
//!   paused, use client_golang's hot/cold halves.
//! - **Lookups** by label values read a lock-free open-addressing index inside an epoch section
//!   that writes no shared memory; removed series are freed after a grace period.
//! - **Encoding** copies label text escaped once when the series was created; collecting into a
//!   reused [`Snapshot`] with a reused [`Encoder`] allocates nothing.
//!
//! # Cardinality
//!
//! Each family has a series limit ([`Opts::max_series`], default [`DEFAULT_MAX_SERIES`]). Past
//! it, new label sets share one overflow series (label values [`OVERFLOW_LABEL_VALUE`]) and are
//! counted in `aiplatform_metrics_series_overflow_total`. Series can be removed
//! ([`Family::remove`]) or expire when idle ([`Opts::expire_after`]).
//!
//! # Collectors
//!
//! Exporters produce families at collection time with a
//! [`Collector`](collect::Collector); the [`collect`] module holds it and the rest of what
//! collectors and exporters build on (family caches, collection statistics).
//!
//! # Tuning
//!
//! Threads get small dense ids, reused as threads exit. Besides a series' home cell (which
//! goes to whichever thread writes it first), only ids below four per CPU (at least 16, at most
//! 1024) can get a cell of their own in it; threads past that, which only exist when that many
//! are alive at once, always use the shared atomic cell.
//! `AIPLATFORM_METRICS_MAX_THREAD_CELLS` (0 to 1024, read once) overrides the number, for a
//! container whose CPU count the process misreads, or to model a bigger host.

#![deny(missing_docs)]

mod barrier;
mod cell;
pub mod collect;
mod counter;
mod desc;
mod encoding;
mod epoch;
mod error;
#[cfg(feature = "facade")]
pub mod facade;
pub(crate) mod family;
mod gauge;
mod histogram;
#[cfg(feature = "tower")]
pub mod http;
mod labels;
mod metric;
mod names;
mod opts;
mod registry;
mod series;
mod snapshot;
mod sync;
mod thread_slot;

#[cfg(all(test, loom))]
mod loom_tests;

/// The README's example, compiled and run as a doctest so it cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use counter::Counter;
pub use desc::MetricKind;
pub use encoding::{
    Encoder, ExpositionFormat, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, encode, negotiate,
};
pub use error::{BucketsError, LabelCountError, NameError, NameKind, RegistrationError};
pub use family::{DEFAULT_MAX_SERIES, Family, OVERFLOW_LABEL_VALUE};
pub use gauge::Gauge;
pub use histogram::buckets::{Buckets, DEFAULT_BUCKETS};
pub use histogram::{Histogram, HistogramTimer};
pub use labels::{LabelKey, LabelSet, LabelValues, NO_LABELS, RenderedValues, rendered_values};
pub use metric::Metric;
pub use names::Unit;
pub use opts::Opts;
pub use registry::{Registry, RegistryBuilder};
pub use snapshot::{
    ConstLabels, CounterValue, HistogramValue, MetricFamily, RenderedLabels, Sample, SeriesList,
    Snapshot, SummaryValue, Value,
};
