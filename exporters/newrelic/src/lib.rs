//! New Relic from an [`aiplatform_metrics::Registry`] and from `tracing` events: the
//! [Metric API] (`/metric/v1`) on the shared push pipeline, and the [Log API] (`/log/v1`) as an
//! `aiplatform-logging` output, both configured like New Relic's own agents.
//!
//! [Metric API]: https://docs.newrelic.com/docs/data-apis/ingest-apis/metric-api/introduction-metric-api/
//! [Log API]: https://docs.newrelic.com/docs/logs/log-api/introduction-log-api/
//!
//! ```no_run
//! use std::time::Duration;
//! use aiplatform_metrics::Registry;
//! use aiplatform_newrelic::NewRelic;
//! use aiplatform_push::SecretSource;
//!
//! let registry = Registry::new();
//! let pipeline = NewRelic::license_key(SecretSource::env("NEW_RELIC_LICENSE_KEY"))
//!     .service_name("billing")
//!     .metrics(&registry)?
//!     .interval(Duration::from_secs(30))
//!     .build()?;
//! // ... at exit, push what is left:
//! pipeline.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Or, configured from the environment variables New Relic's agents read
//! (`NEW_RELIC_LICENSE_KEY`, `NEW_RELIC_REGION`, `NEW_RELIC_HOST`, `NEW_RELIC_APP_NAME`,
//! `NEW_RELIC_LABELS`, ...; see [`NewRelic::from_env_vars`]):
//!
//! ```no_run
//! # let registry = aiplatform_metrics::Registry::new();
//! if let Some(newrelic) = aiplatform_newrelic::NewRelic::from_env()? {
//!     let _pipeline = newrelic.start_metrics(&registry)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What a registry becomes
//!
//! Every interval (15 s by default) the registry is collected and what changed since the
//! previous push is sent (New Relic counts are deltas):
//!
//! | registry | New Relic metric | value | time |
//! |---|---|---|---|
//! | counter `jobs_total{queue}` | `jobs_total`, `count` | increase since the previous push (the whole total for a new or reset series) | `timestamp` = start of the interval, `interval.ms` = its length |
//! | gauge, untyped | `gauge` | the value | `timestamp` = collection time (or the sample's own) |
//! | histogram `latency_seconds{route}` | `latency_seconds`, `summary` | `{"count": Δcount, "sum": Δsum, "min": null, "max": null}` | interval, as counts |
//! | its buckets | `latency_seconds.buckets`, `count`, one per finite bound, attribute `histogram.bucket.upperBound` (a number) | observations at or below the bound during the interval (cumulative, as New Relic's exporter guidelines define bucket counts); the `+Inf` bucket is the summary's `count` | interval |
//! | summary (from a collector) | `summary` as for histograms, plus `<name>.percentiles`, `gauge`, attribute `percentile` (0–100) | the quantile's value | collection time |
//!
//! - Names: counters carry the name a scrape shows (`jobs_total`), so dashboards built on New
//!   Relic's Prometheus integrations keep working; the rest their family name.
//! - Histograms and summaries keep no minimum or maximum: `min` and `max` are `null`, as New
//!   Relic's own exporters send them when unknown. Averages come from the summary
//!   (`sum`/`count`); the distribution from the `.buckets` counts faceted by
//!   `histogram.bucket.upperBound`.
//! - Attributes: a series' labels, each on its metric. Labels whose names New Relic keeps for
//!   itself (`count`, `sum`, `min`, `max`, `value`, `timestamp`, `eventType`, `accountId`,
//!   `appId`, `metricName`, `endTimestamp`, ...) or that equal the metric's name are sent as
//!   `label.<name>`. Values longer than 4096 characters are cut to 4096; a family with more
//!   labels than fit New Relic's 100 attributes per metric loses its last ones, and one with a
//!   name longer than 254 characters is not sent (each said once in the log).
//! - The `common` block carries what every metric of a request shares, once: `service.name`,
//!   `host.name`, `instrumentation.provider` (`aiplatform`), `collector.name`
//!   (`aiplatform-newrelic`), `collector.version`, your attributes, and the registry's
//!   constant labels.
//! - NaN and infinite values are left out (JSON cannot carry them and New Relic drops them).
//!
//! # Delivery
//!
//! Bodies are gzip-compressed JSON, cut so that none is larger than 10^6 bytes compressed
//! before it is sent (New Relic's limit; a series is never split across requests). The
//! answers: `202` with a `requestId` (logged at debug level: later validation errors show up
//! as `NrIntegrationError` events carrying it); `400` and other 4xx dropped, counted in
//! `aiplatform_push_dropped_samples_total{backend="newrelic",reason="rejected"}` and logged
//! with the response; `413` split in half and resent; `408`, `429` and 5xx retried with
//! backoff, after `Retry-After` when given; `403` (and `401`) means the key was refused: the
//! backend stops, logs once that the key was refused (never the key), and drops what it holds.
//! Batching, retries, the bounded queue, the optional spool and the `aiplatform_push_*`
//! self-metrics are the shared pipeline's; see [`aiplatform_push`].
//!
//! The key travels only in its header (marked sensitive); it is never in a log line, an error,
//! a metric or `Debug` output, and an error page that echoes it is scrubbed before logging.
//!
//! # Logs
//!
//! [`NewRelic::log_output`] is an `aiplatform-logging` output: events are collected and
//! redacted once by the logging layer (on the application thread), queued in the output's
//! bounded queue, encoded on the output's own thread by [`LogEncoder`]
//! (one log object each: `timestamp`, `message`, `level`, `logger.name`, `trace.id`,
//! `span.id`, `error.*`, the event's and its spans' fields), and sent by [`LogSender`] from
//! the same thread as
//! `[{"common":{"attributes":{...}},"logs":[...]}]`, gzip-compressed, in batches of at most
//! 1000 events, at the latest 1 s after their first. The `common` block carries
//! `service.name`, `service.version`, `service.environment`, `host.name`, `process.pid`,
//! `collector.name`, `collector.version` and your attributes, once per request.
//!
//! - Limits as New Relic applies them: a string value longer than what New Relic stores (its
//!   first [`MAX_LOG_SEARCHABLE_CHARS`] characters, searchable, and [`MAX_LOG_BLOB_BYTES`]
//!   more as a blob) is cut at the same point, its end replaced by
//!   `…[truncated: <kept> of <total> bytes]`, instead of New Relic dropping the rest
//!   silently; names are cut to 254 characters; an event keeps at most
//!   [`MAX_LOG_ATTRIBUTES`] attributes, common ones included (the fields closest to it
//!   first), and says how many it left out in `aiplatform.dropped_attributes`.
//! - A field named like an attribute New Relic reserves or one the encoder writes (`count`,
//!   `level`, `message`, `eventType`, ...) is sent as `field.<name>`. Integers beyond a Java
//!   `long` and non-finite floats go as strings (New Relic would drop the number).
//! - A batch whose compressed body is over 10^6 bytes is not sent: the output halves it and
//!   tries again. Answers as for metrics: `400` and other 4xx dropped, `413` halved, `408`,
//!   `429` and 5xx retried (after `Retry-After`); `403` and `401` stop the output (an ERROR
//!   event says once that the key was refused; later batches are dropped without being sent).
//!   What is dropped is counted in
//!   `aiplatform_log_events_dropped_total{sink="newrelic",reason}` and explained by the
//!   logging crate's drop notice.
//!
//! # What is on the wire
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use aiplatform_metrics::Registry;
//! use aiplatform_newrelic::MetricEncoder;
//! use aiplatform_push::{Cycle, Temporality};
//!
//! let registry = Registry::builder().without_self_metrics().build().unwrap();
//! let jobs = registry.counter("jobs_total", "Jobs done.").unwrap();
//! jobs.inc_by(3);
//! let t0 = UNIX_EPOCH + Duration::from_secs(1_767_322_800);
//! let encoder = MetricEncoder::new(&[("service.name".into(), "billing".into())]);
//! let mut cycle = Cycle::new(&registry, encoder, Temporality::Delta, t0);
//! let mut bodies = Vec::new();
//! cycle.run_at(t0 + Duration::from_secs(10), &mut |batch| {
//!     bodies.push(String::from_utf8(batch.uncompressed().unwrap()).unwrap())
//! });
//! assert_eq!(
//!     bodies,
//!     [r#"[{"common":{"attributes":{"service.name":"billing"}},"metrics":[{"name":"jobs_total","type":"count","value":3,"timestamp":1767322800000,"interval.ms":10000}]}]"#]
//! );
//! ```

#![deny(missing_docs)]

mod attributes;
mod config;
mod json;
mod logs;
mod metrics;
mod region;
mod response;

pub use config::{IngestKey, LOGS_SINK, MAX_PAYLOAD_BYTES, METRICS_BACKEND, NewRelic};
pub use logs::{
    LogEncoder, LogSender, MAX_LOG_ATTRIBUTES, MAX_LOG_BLOB_BYTES, MAX_LOG_SEARCHABLE_CHARS,
};
pub use metrics::MetricEncoder;
pub use region::Region;
