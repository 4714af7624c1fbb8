//! Datadog from an [`aiplatform_metrics::Registry`]: the same metrics a scrape shows, sent to
//! the Datadog Agent over DogStatsD or straight to Datadog's HTTP intake, configured by the
//! `DD_*` variables Datadog's own agents and libraries read.
//!
//! ```no_run
//! use std::time::Duration;
//! use aiplatform_datadog::Datadog;
//! use aiplatform_metrics::Registry;
//!
//! let registry = Registry::new();
//! let jobs = registry.counter("jobs_total", "Jobs done.").unwrap();
//! // DD_AGENT_HOST / DD_DOGSTATSD_URL: DogStatsD to the agent; else DD_API_KEY: agentless.
//! let metrics = Datadog::from_env()?.namespace("billing").start_metrics(&registry)?;
//! jobs.inc();
//! // At exit: send what is left.
//! metrics.shutdown(Duration::from_secs(2))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - **DogStatsD** ([`DogStatsdEncoder`], [`DogStatsdTransport`]): every flush interval,
//!   counters as `|c` increases, gauges `|g`, histograms and summaries as Datadog's
//!   OpenMetrics check maps them, tags from labels and the unified service tags; lines packed
//!   into datagrams of up to 1432 bytes (UDP) or 8192 (Unix socket); a bounded queue that drops
//!   the oldest when full; the `datadog.dogstatsd.client.*` telemetry.
//! - **Agentless metrics** ([`SeriesEncoder`], [`IntakeTransport`]): `POST /api/v2/series`
//!   (or `/api/v1/series`) with `DD-API-KEY`, gzip, deflate or zstd, within the intake's body
//!   limits.
//! - **Logs** ([`Datadog::logs_output`]): redacted `tracing` events from `aiplatform-logging`
//!   to `POST /api/v2/logs`, gzip, at most 1000 logs and 5 MB per request, each log at most
//!   1 MB (longer values cut with a marker).
//!
//! Delivery (batching, retries, `Retry-After`, 413 splitting, the bounded queue, the
//! `aiplatform_push_*{backend="datadog_..."}` self-metrics) is the shared pipeline's; see
//! [`aiplatform_push`]. The API key is never written to a log line, an error, a metric or
//! `Debug` output.

#![deny(missing_docs)]

mod config;
mod dogstatsd;
mod intake;
mod logs;
mod series;
mod text;

pub use config::{DEFAULT_SITE, Datadog, KNOWN_SITES, MetricsMode, SERIES_BACKEND};
pub use dogstatsd::{
    AgentAddr, BACKEND as DOGSTATSD_BACKEND, DEFAULT_PORT, DEFAULT_QUEUE_BYTES, DogStatsdEncoder,
    DogStatsdTransport, UDP_MAX_PAYLOAD_BYTES, UDP_PAYLOAD_BYTES, UDS_PAYLOAD_BYTES,
};
pub use intake::{API_KEY_HEADER, IntakeTransport};
pub use logs::{
    DatadogLogEncoder, DatadogLogExporter, LOGS_SINK, MAX_LOG_BYTES, MAX_LOGS_PAYLOAD_BYTES,
    MAX_LOGS_PER_REQUEST, TRUNCATION_MARKER,
};
pub use series::{CounterType, SeriesApi, SeriesEncoder};
