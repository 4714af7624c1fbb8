//! The push pipeline every push backend shares.
//!
//! Many programs cannot be scraped: batch jobs that end before the next scrape, services
//! behind NAT, fleets that write into a horizontally scaled store or an OpenTelemetry
//! Collector. A [`Pipeline`] pushes an [`aiplatform_metrics::Registry`] instead:
//!
//! ```text
//! registry ──collect() every interval──▶ Snapshot (reused) ──▶ Tracker (cumulative | delta)
//!    ──▶ Encoder (the backend's protocol) ──▶ batches (bytes, series) ──▶ compression
//!    ──▶ bounded queue, drop-oldest [+ on-disk spool] ──▶ Transport (HTTP, datagrams)
//! ```
//!
//! A backend is an [`Encoder`] (how a collection becomes records, and the [`Framing`] of a
//! request body) plus a [`Transport`] with its protocol's endpoint, headers and status rules
//! ([`HttpTransport`] for HTTP receivers). Everything else is here, once:
//!
//! - **Temporality** ([`Tracker`]): cumulative as the registry holds it, or deltas from
//!   successive snapshots, with counter reset detection, series that appear, vanish and come
//!   back, histogram buckets, and a start time per series.
//! - **Batching** by encoded bytes and by series count, **compression** (gzip, snappy block
//!   format, zstd with the `zstd` feature).
//! - **Delivery**: connect and request timeouts; retries with exponential backoff and full
//!   jitter on connection errors, timeouts, 408, 429 and 5xx, honouring `Retry-After` in
//!   seconds or as an HTTP date; no retry on other 4xx (counted, logged with the response body
//!   cut short); 413 cuts the batch in half and resends each half, down to a single record; a
//!   queue bounded in bytes that drops the oldest batches and counts every dropped sample;
//!   [`Pipeline::flush`] and [`Pipeline::shutdown`] with deadlines; an optional on-disk spool
//!   ([`SpoolOptions`]) so a restart while the receiver is down loses nothing.
//! - **One HTTP client** ([`HttpClient`]: hyper 1 + rustls).
//! - **Self-metrics** `aiplatform_push_*{backend}` in the same registry, so the scrape endpoint
//!   shows whether pushes work:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `aiplatform_push_samples_sent_total` | counter | `backend` |
//! | `aiplatform_push_batches_sent_total` | counter | `backend` |
//! | `aiplatform_push_sent_bytes_total` | counter | `backend` |
//! | `aiplatform_push_failures_total` | counter | `backend`, `reason` (`connect`, `timeout`, `io`, `credentials`, `http_408`, `http_413`, `http_429`, `http_4xx`, `http_5xx`, `http_other`) |
//! | `aiplatform_push_retries_total` | counter | `backend` |
//! | `aiplatform_push_dropped_samples_total` | counter | `backend`, `reason` (`queue_full`, `rejected`, `too_large`, `shutdown`, `stopped`, `spool_error`) |
//! | `aiplatform_push_superseded_batches_total` | counter | `backend` |
//! | `aiplatform_push_collections_total` | counter | `backend` |
//! | `aiplatform_push_queue_bytes`, `aiplatform_push_queue_batches`, `aiplatform_push_queue_limit_bytes` | gauge | `backend` |
//! | `aiplatform_push_last_success_timestamp_seconds` | gauge | `backend` |
//! | `aiplatform_push_send_duration_seconds` | histogram | `backend` |
//! | `aiplatform_push_cycle_duration_seconds` | histogram | `backend` |
//!
//!   A sender that batches on its own instead of on a [`Pipeline`] (the OTLP span exporter)
//!   counts into the same families through a [`SenderStats`].
//!
//! - **Credentials** ([`Auth`], [`SecretSource`]): basic auth, bearer tokens, API-key headers,
//!   from flags, the environment or files; never in a log line, an error, a metric or `Debug`
//!   output.
//!
//! The application's threads never wait for a push: the pipeline runs on a thread of its own
//! and only reads the registry, like a scrape does.

#![deny(missing_docs)]

mod backoff;
mod batch;
mod client;
mod compress;
mod cycle;
mod error;
mod log_output;
mod pipeline;
pub mod proto;
mod secret;
mod stats;
mod store;
mod temporality;
mod transport;

pub use backoff::Backoff;
pub use batch::{Batch, Concatenated, Encoder, Framing, RecordWriter};
pub use client::{ClientOptions, HttpClient, SendError, TlsOptions, Trailers};
pub use compress::{Compression, Compressor};
pub use cycle::Cycle;
pub use error::{BuildError, CredentialError, FlushError};
pub use log_output::{LogRuntime, export_outcome};
pub use pipeline::{Pipeline, PipelineBuilder};
pub use secret::{Auth, Secret, SecretSource, scrub};
pub use stats::{DropObserver, DropReason, Exposed, SenderStats};
pub use store::{QueuePolicy, SpoolOptions};
pub use temporality::{
    Collection, CounterPoint, FamilyPoints, HistogramPoint, Point, PointValue, SummaryPoint,
    Temporality, Tracker,
};
pub use transport::{
    Classifier, DETAIL_BODY_BYTES, Failure, HttpTransport, HttpTransportBuilder, Outcome,
    Transport, default_outcome, retry_after,
};
