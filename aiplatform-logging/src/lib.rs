//! Structured logs for services: a [`tracing`] layer that writes [Elastic Common Schema]
//! events, removes secrets before any byte leaves the process, fingerprints each event so
//! resends deduplicate, and ships the lines to stdout, rotating files or Logstash without
//! making the application wait.
//!
//! [Elastic Common Schema]: https://www.elastic.co/guide/en/ecs/current/index.html
//!
//! # Getting started
//!
//! An application installs logging once in `main` and keeps the guard:
//!
//! ```no_run
//! fn main() -> Result<(), aiplatform_logging::Error> {
//!     let _guard = aiplatform_logging::builder()
//!         .service_name("billing")
//!         .service_version(env!("CARGO_PKG_VERSION"))
//!         .init()?;
//!
//!     tracing::info!(user.id = 42, http.request.method = "POST", "payment accepted");
//!     Ok(())
//! }
//! ```
//!
//! That writes one line per event to stdout (wrapped here):
//!
//! ```text
//! {"@timestamp":"2026-01-02T03:04:05.678Z","log.level":"INFO","message":"payment accepted",
//!  "ecs.version":"8.11.0","service.name":"billing","service.version":"1.4.2","event.dataset":"billing",
//!  "log.logger":"billing","event":{"hash":"9c1f...","sequence":0},"host":{"name":"web-1"},
//!  "http":{"request":{"method":"POST"}},"log":{"origin":{"file":{"line":9,"name":"src/main.rs"}}},
//!  "process":{"pid":4242},"user":{"id":42}}
//! ```
//!
//! A library never installs anything; it just uses `tracing`.
//!
//! # What each event becomes
//!
//! - `@timestamp` (UTC, milliseconds, `Z`), `log.level`, `message` come first, then
//!   `ecs.version`, `service.*`, `event.dataset`, `log.logger` (the target), and `trace.id` /
//!   `span.id` when known, all as top-level dotted keys as ecs-logging writes them.
//! - Then nested objects: `error.*`, `event.hash` and `event.sequence`, `host.name`,
//!   `log.origin.file.*`, `process.pid`, and every user field whose name is an ECS field
//!   (`http.request.method`, `url.full`, `http.response.status_code`, `event.duration` in
//!   nanoseconds, `user.id`, `client.ip`, the `gen_ai.*` set, ...). Use
//!   [`LogBuilder::ecs_fields`] to declare more.
//! - `log.origin.function` is not written: tracing records the file and line of an event but
//!   not its function; name spans after functions (`#[instrument]` does) to see them in
//!   `labels.spans`.
//! - Any other field goes under `labels`, key de-dotted (`tenant.id` → `tenant_id`) and value
//!   stringified, as ECS requires. The span path (`request>db_query`) is `labels.spans`.
//! - Fields of the enclosing spans are included; the event's own field wins over a span's, an
//!   inner span's over an outer one's, the last value recorded under a name wins, and a field
//!   named like one the layer writes itself goes to `labels`, so no key is ever written twice.
//! - **OpenTelemetry context** without the OpenTelemetry SDK: record the W3C ids as fields
//!   named `trace_id` and `span_id` (or `trace.id` / `span.id`) on a span or on the event;
//!   the innermost value becomes `trace.id` / `span.id`.
//!   ```
//!   let span = tracing::info_span!("request", trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", span_id = "00f067aa0ba902b7");
//!   ```
//! - **Errors**: record a `&dyn Error` field (`error = &err as &dyn std::error::Error`); its
//!   `Display` is `error.message`, its type `error.type` (the concrete type for `std::io::Error`
//!   and the number parse errors, otherwise the leading type name of its `Debug` form), and
//!   the whole `source()` chain `error.stack_trace` (one `caused by:` line per cause).
//!
//! The same events can be written as [logfmt](Format::Logfmt) (the go-kit style of the
//! Prometheus exporters) or as [pretty text](Format::Pretty) for development; see [`Output`].
//! Redaction applies to every format.
//!
//! # Redaction
//!
//! Every message and every event and span field value goes through a [`Redactor`] before it is
//! encoded: by key name (`password`, `token`, `api_key`, `Authorization`, `Cookie`, ...) and by
//! value pattern (bearer tokens, JWTs, AWS keys, card numbers, passwords in connection strings
//! and URLs, `?api_key=` parameters, PEM keys), in one pass per string, JSON values included.
//! See the [`redact`] module for the full list and for adding your own keys and patterns.
//!
//! # Shipping to Logstash
//!
//! ```no_run
//! use aiplatform_logging::{LogstashConfig, Output, SpoolConfig, TlsConfig};
//!
//! # fn main() -> Result<(), aiplatform_logging::Error> {
//! let logstash = LogstashConfig::new("logstash.internal:5000")
//!     .tls(TlsConfig::from_ca_file("/etc/ssl/logstash-ca.pem")?)
//!     .spool(SpoolConfig::new("/var/lib/billing/log-spool"));
//! let _guard = aiplatform_logging::builder()
//!     .service_name("billing")
//!     .output(aiplatform_logging::Output::stdout(aiplatform_logging::Format::Pretty))
//!     .output(Output::logstash(logstash))
//!     .init()?;
//! # Ok(()) }
//! ```
//!
//! The application thread only encodes and enqueues; a shipper thread writes `json_lines`,
//! reconnects with backoff and jitter, resends what was not confirmed, and spills to disk
//! during long outages. What can and cannot be lost, and when a line can arrive twice, is
//! spelled out in [`LogstashConfig`]; [`Fingerprint`] shows the Logstash and
//! Elasticsearch settings that drop the duplicates.
//!
//! # Outputs from other crates
//!
//! A crate that ships logs somewhere this one does not know (a vendor's HTTP intake, OTLP)
//! adds an output with [`Output::export`]: the layer collects and redacts each event once, on
//! the application thread, and either encodes it there in a built-in [`Format`] (shared with
//! the other outputs of that format) or hands one owned copy of it, shared by every such
//! output, to the output's thread, where the output's own [`EventEncoder`] writes it from a
//! [`LogEvent`] (the copy reuses the buffers of an event the outputs are done with, and is
//! not made when the output's queue is full and would drop it); the output's thread packs the
//! records into
//! batches and hands them to its [`LogExporter`], with the same bounded queue, drop accounting
//! and flush on shutdown as the Logstash output, plus retries with backoff, `Retry-After` and
//! halving on "too large". See the [`export`] module for the rules and an example.
//!
//! # Self-metrics
//!
//! Events emitted, dropped (by sink and reason), redactions, reconnects, resends, queue depth
//! and spool size are counted in an [`aiplatform_metrics::Registry`] (yours, via
//! [`LogBuilder::registry`], or the guard's [`LogGuard::registry`]). A sink that dropped lines
//! also writes a WARN record (`log.logger` `aiplatform_logging`, fields `dropped_<reason>`)
//! through itself, at most once a second, so the gap shows in the logs where it happened.
//!
//! | metric | labels |
//! |---|---|
//! | `aiplatform_log_events_total` | |
//! | `aiplatform_log_events_dropped_total` | `sink`, `reason` (`queue_full`, `queue_timeout`, `spool_full`, `spool_corrupt`, `shutdown`, `closed`, `io_error`, `rejected`, `too_large`) |
//! | `aiplatform_log_redactions_total` | |
//! | `aiplatform_log_sink_reconnects_total` | `sink` |
//! | `aiplatform_log_sink_resent_total` | `sink` |
//! | `aiplatform_log_queue_depth` | `sink` |
//! | `aiplatform_log_spool_bytes` | `sink` |
//!
//! # Testing your logs
//!
//! Pin the clock with [`FixedClock`] and write to an in-memory buffer with
//! [`Output::blocking_writer`] to compare whole lines.

#![deny(missing_docs)]

mod builder;
mod clock;
mod encode;
mod error;
mod event;
pub mod export;
mod fingerprint;
mod layer;
mod metrics;
mod notice;
mod output;
mod queue;
mod record;
pub mod redact;
mod sink;
mod spares;
mod spool;

pub use builder::{LogBuilder, LogGuard};
pub use clock::{Clock, FixedClock, SystemClock};
pub use encode::ecs::ECS_VERSION;
pub use error::Error;
pub use event::{ErrorFields, FieldValue, LogEvent, LogResource};
pub use export::{EventEncoder, ExportConfig, ExportOutcome, LogBatch, LogExporter};
pub use fingerprint::Fingerprint;
pub use layer::LogLayer;
pub use output::{Format, Output};
pub use queue::FullPolicy;
pub use redact::{Redactor, RedactorBuilder};
pub use sink::logstash::{LogstashConfig, TlsConfig};
pub use spool::{Spool, SpoolConfig, SpoolPos};
pub use tracing_appender::rolling::Rotation;

/// Starts configuring logging; see [`LogBuilder`] for the defaults.
pub fn builder() -> LogBuilder {
    LogBuilder::default()
}
