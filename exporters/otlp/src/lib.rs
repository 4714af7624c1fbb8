//! OTLP (OpenTelemetry protocol) from the same registry and the same `tracing` subscriber:
//! metrics, logs and spans to an OpenTelemetry Collector, or to any receiver that takes OTLP
//! (Prometheus' `/api/v1/otlp`, Datadog and New Relic endpoints, Grafana Cloud, Honeycomb).
//!
//! - **Metrics** ([`Otlp::metrics`]): the registry is collected every interval on the shared
//!   push pipeline ([`aiplatform_push`]) and encoded straight into `ExportMetricsServiceRequest`
//!   protobuf by [`MetricsEncoder`]: counters as monotonic sums (cumulative, or delta by
//!   `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`), gauges, explicit-bucket histograms.
//!   Batching, compression, retries, the bounded queue, the spool and the
//!   `aiplatform_push_*{backend="otlp"}` self-metrics are the pipeline's.
//! - **Logs** ([`Otlp::logs`]): an [`aiplatform_logging::Output`] whose events, already
//!   redacted by the logging layer on the application thread, are written as OTLP `LogRecord`s
//!   and sent in batches on the output's own thread.
//! - **Traces** ([`Otlp::traces`]): a `tracing` layer ([`SpanLayer`]) turning spans into OTLP
//!   spans, encoded here too (no OpenTelemetry SDK in the build); sampled by
//!   `OTEL_TRACES_SAMPLER` ([`Sampler`]); a `traceparent` span field continues a caller's
//!   trace; [`Otlp::traces_with_registry`] adds the exporter's health to the registry as
//!   `aiplatform_push_*{backend="otlp_traces"}`.
//! - **Protocols**: OTLP/HTTP with protobuf bodies and OTLP/gRPC, both over the push pipeline's
//!   hyper client (gRPC is one HTTP/2 request per export: no second HTTP stack).
//!
//! Everything is configured by the standard OpenTelemetry environment variables (see
//! [`config`]); builder methods override them.
//!
//! ```no_run
//! use std::time::Duration;
//! use aiplatform_metrics::Registry;
//! use aiplatform_otlp::Otlp;
//!
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 OTEL_SERVICE_NAME=billing
//! let registry = Registry::new();
//! let otlp = Otlp::from_env();
//! if otlp.is_configured() {
//!     let pipeline = otlp.metrics(&registry)?.expect("metrics are on").build()?;
//!     // ... at exit:
//!     pipeline.shutdown(Duration::from_secs(5))?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod config;
mod error;
mod grpc;
mod io;
mod logs;
mod metrics;
mod resource;
mod sampling;
mod suppress;
mod traces;
mod transport;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use aiplatform_logging::{ExportConfig, Output};
use aiplatform_metrics::Registry;
use aiplatform_push::{Compression, Pipeline, PipelineBuilder, Secret, Temporality, TlsOptions};

pub use config::{Protocol, Signal, SignalConfig};
pub use error::ConfigError;
pub use logs::{LogRecordEncoder, OtlpLogExporter};
pub use metrics::{MetricsEncoder, POINTS_PER_RECORD, ucum_unit};
pub use resource::Resource;
pub use sampling::{Sampler, TRACEPARENT_FIELD};
pub use traces::{SpanLayer, TraceGuard};
pub use transport::OtlpTransport;

use config::{Overrides, Vars};

/// The `backend` label of the metrics pipeline's self-metrics.
pub const BACKEND: &str = "otlp";

/// The `backend` label of the span exporter's self-metrics (see
/// [`Otlp::traces_with_registry`]).
pub const TRACES_BACKEND: &str = "otlp_traces";

/// OTLP export settings: the environment's, with what is set in code on top.
///
/// ```
/// use aiplatform_otlp::{Otlp, Protocol, Signal};
///
/// let otlp = Otlp::from_vars([
///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
///     ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
///     ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret"),
///     ("OTEL_TRACES_EXPORTER", "none"),
/// ]);
/// assert!(otlp.is_configured());
/// let metrics = otlp.signal(Signal::Metrics).unwrap().unwrap();
/// assert_eq!(metrics.url(), "http://collector:4318/v1/metrics");
/// assert_eq!(metrics.header_names().collect::<Vec<_>>(), ["api-key"]);
/// assert!(!format!("{metrics:?}").contains("secret"));
/// let logs = otlp.signal(Signal::Logs).unwrap().unwrap();
/// assert_eq!(logs.protocol(), Protocol::Grpc);
/// assert_eq!(
///     logs.url(),
///     "http://collector:4318/opentelemetry.proto.collector.logs.v1.LogsService/Export"
/// );
/// assert!(otlp.signal(Signal::Traces).unwrap().is_none());
/// ```
#[derive(Debug)]
pub struct Otlp {
    vars: Vars,
    overrides: Overrides,
    resource: Vec<(String, String)>,
    temporality: Option<Temporality>,
    interval: Option<Duration>,
    sampler: Option<Sampler>,
}

impl Otlp {
    /// Settings from the process environment (`OTEL_*`).
    pub fn from_env() -> Otlp {
        Otlp::with_vars(Vars::process())
    }

    /// Settings from these variables instead of the process environment.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Otlp
    where
        K: Into<String>,
        V: Into<String>,
    {
        Otlp::with_vars(Vars::list(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    fn with_vars(vars: Vars) -> Otlp {
        Otlp {
            vars,
            overrides: Overrides::default(),
            resource: Vec::new(),
            temporality: None,
            interval: None,
            sampler: None,
        }
    }

    /// Whether the settings ask for OTLP export at all: an endpoint is set (generic or for a
    /// signal, in the environment or in code) and `OTEL_SDK_DISABLED` is not `true`. A
    /// program can start exporting only then, so that an unconfigured one does not try
    /// `localhost:4318`.
    pub fn is_configured(&self) -> bool {
        if self.overrides.endpoint.is_some() {
            return !self
                .vars
                .get("OTEL_SDK_DISABLED")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        }
        config::configured(&self.vars)
    }

    /// The base endpoint (`http://collector:4318`), instead of `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// and the signal endpoints.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.overrides.endpoint = Some(url.into());
        self
    }

    /// The protocol, instead of `OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL`.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.overrides.protocol = Some(protocol);
        self
    }

    /// A header sent with every request (its value is treated as a credential), replacing one
    /// of the same name from `OTEL_EXPORTER_OTLP[_SIGNAL]_HEADERS`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides
            .headers
            .push((name.into(), Secret::new(value.into())));
        self
    }

    /// Time allowed per request, instead of `OTEL_EXPORTER_OTLP[_SIGNAL]_TIMEOUT`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// Body compression, instead of `OTEL_EXPORTER_OTLP[_SIGNAL]_COMPRESSION`.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.overrides.compression = Some(compression);
        self
    }

    /// TLS settings, instead of `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE` and friends.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.overrides.tls = Some(tls);
        self
    }

    /// Metric temporality, instead of `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub fn temporality(mut self, t: Temporality) -> Self {
        self.temporality = Some(t);
        self
    }

    /// Time between metric pushes, instead of `OTEL_METRIC_EXPORT_INTERVAL`.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Which spans are exported, instead of `OTEL_TRACES_SAMPLER` and
    /// `OTEL_TRACES_SAMPLER_ARG`.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// A resource attribute, over `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// The resource every signal is sent with.
    pub fn resource(&self) -> Result<Resource, ConfigError> {
        Resource::resolve(&self.vars, &self.resource)
    }

    /// The request settings of `signal`, or `None` when it is switched off
    /// (`OTEL_SDK_DISABLED`, `OTEL_<SIGNAL>_EXPORTER=none`).
    pub fn signal(&self, signal: Signal) -> Result<Option<SignalConfig>, ConfigError> {
        config::signal_config(&self.vars, signal, &self.overrides)
    }

    /// The metrics encoder alone (benches, custom pipelines).
    pub fn encoder(&self) -> Result<MetricsEncoder, ConfigError> {
        Ok(MetricsEncoder::new(&self.resource()?))
    }

    /// A push pipeline builder for `registry`'s metrics (interval and temporality from the
    /// settings, 1 MiB or 4096 series per request), to adjust (queue, spool) and build; `None`
    /// when metrics are switched off.
    pub fn metrics(
        &self,
        registry: &Registry,
    ) -> Result<Option<PipelineBuilder<MetricsEncoder, OtlpTransport>>, ConfigError> {
        let Some(cfg) = self.signal(Signal::Metrics)? else {
            return Ok(None);
        };
        let m = config::metric_settings(&self.vars, self.temporality, self.interval)?;
        let transport = OtlpTransport::new(&cfg)?;
        Ok(Some(
            Pipeline::builder(registry, BACKEND, self.encoder()?, transport)
                .interval(m.interval)
                .temporality(m.temporality)
                .compression(cfg.compression)
                .max_batch_bytes(1024 * 1024)
                .max_batch_series(4096),
        ))
    }

    /// A logging output sending events as OTLP log records (batching from `OTEL_BLRP_*`),
    /// to add to an [`aiplatform_logging::builder`]; `None` when logs are switched off.
    pub fn logs(&self) -> Result<Option<Output>, ConfigError> {
        let Some(cfg) = self.signal(Signal::Logs)? else {
            return Ok(None);
        };
        let batching = config::batching(&self.vars, "BLRP", Duration::from_secs(1))?;
        let io = Arc::new(io::IoThread::start()?);
        let exporter = OtlpLogExporter::new(
            OtlpTransport::new(&cfg)?,
            io,
            &self.resource()?,
            cfg.compression,
            cfg.timeout,
        );
        let export = ExportConfig::new(exporter)
            .encoder(LogRecordEncoder::new())
            .max_batch_records(batching.batch)
            .linger(batching.delay);
        Ok(Some(
            Output::export(export)
                .queue_capacity(batching.queue)
                .name("otlp"),
        ))
    }

    /// A `tracing` layer exporting spans (batching from `OTEL_BSP_*`, sampling from
    /// `OTEL_TRACES_SAMPLER`), and the guard that flushes them; `None` when traces are
    /// switched off. Add the layer to the same subscriber as the logging layer, and log
    /// records carry the ids of their span. The exporter's health is only in the guard
    /// ([`TraceGuard::spans_sent`], [`TraceGuard::spans_dropped`]); see
    /// [`Otlp::traces_with_registry`] to have it scraped.
    pub fn traces(&self) -> Result<Option<(SpanLayer, TraceGuard)>, ConfigError> {
        self.start_traces(None)
    }

    /// [`Otlp::traces`], with the span exporter's health in `registry`, in the push
    /// pipeline's `aiplatform_push_*` families with `backend="otlp_traces"`
    /// ([`TRACES_BACKEND`]): spans sent, export requests, failures and retries, spans dropped
    /// by reason, the queue, the last success (what each family means here is in
    /// [`SpanLayer`], "Self-metrics"). The series leave the registry when both the
    /// layer and the guard are dropped (so spans dropped after the guard stopped the exporter
    /// are still counted where they can be seen).
    ///
    /// ```
    /// use aiplatform_metrics::Registry;
    /// use aiplatform_otlp::Otlp;
    ///
    /// let registry = Registry::new();
    /// let otlp = Otlp::from_vars([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")]);
    /// let (_layer, guard) = otlp.traces_with_registry(&registry)?.expect("traces are on");
    /// let families = registry.collect();
    /// assert!(families.family("aiplatform_push_samples_sent").is_some());
    /// drop(guard);
    /// # Ok::<(), aiplatform_otlp::ConfigError>(())
    /// ```
    pub fn traces_with_registry(
        &self,
        registry: &Registry,
    ) -> Result<Option<(SpanLayer, TraceGuard)>, ConfigError> {
        self.start_traces(Some(registry))
    }

    fn start_traces(
        &self,
        registry: Option<&Registry>,
    ) -> Result<Option<(SpanLayer, TraceGuard)>, ConfigError> {
        let Some(cfg) = self.signal(Signal::Traces)? else {
            return Ok(None);
        };
        let sampler = match self.sampler {
            Some(s) => s,
            None => Sampler::from_vars(&self.vars)?,
        };
        traces::start(&cfg, &self.resource()?, &self.vars, sampler, registry).map(Some)
    }
}
