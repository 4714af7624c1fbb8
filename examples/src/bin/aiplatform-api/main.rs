//! `aiplatform-api`: the platform's prediction API as a small axum service, instrumented end to
//! end; the monitoring stack's dashboards and alerts are written against its metrics.
//!
//! - HTTP metrics from the tower layer (`http_requests_total`, `http_request_duration_seconds`,
//!   `http_requests_in_flight`), keyed by route template;
//! - application metrics (`aiplatform_requests_total`,
//!   `aiplatform_request_duration_seconds`, `aiplatform_active_connections`) and business
//!   metrics (`aiplatform_ml_predictions_total`, `aiplatform_ml_prediction_accuracy`,
//!   `aiplatform_federated_training_rounds_total`, `aiplatform_quantum_optimizations_total`);
//! - `process_*` metrics, and `/metrics` served with content negotiation and gzip;
//! - one log line per request (method, full URL, status, latency) through aiplatform-logging,
//!   shipped to Logstash when `AIPLATFORM_LOGSTASH_ADDR` is set;
//! - with `--fault-injection`, `PUT /admin/faults` to fail a share of requests with 503, for
//!   exercising the error-ratio alert and dashboards;
//! - the same metrics pushed with Prometheus remote write when `--remote-write-url` is set;
//! - metrics and request logs sent to New Relic when `NEW_RELIC_LICENSE_KEY` is set;
//! - metrics and logs sent to Datadog when `DD_AGENT_HOST`, `DD_DOGSTATSD_URL` or `DD_API_KEY`
//!   is set;
//! - metrics, one span per request and the logs sent over OTLP when the standard
//!   `OTEL_EXPORTER_OTLP_*` variables are set; a request's `traceparent` header continues the
//!   caller's trace, `OTEL_TRACES_SAMPLER` picks the traces exported, and the span exporter's
//!   health is on `/metrics` as `aiplatform_push_*{backend="otlp_traces"}`.
//!
//! `cargo run -p aiplatform-examples --bin aiplatform-api`, then
//! `curl localhost:8000/metrics`.

mod connections;
mod datadog;
mod faults;
mod metrics;
mod newrelic;
mod otlp;
mod push;
mod routes;
mod serve;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::prelude::*;

/// The AI Platform example API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "AIPLATFORM_API_LISTEN", default_value = "0.0.0.0:8000")]
    listen: SocketAddr,
    /// Log format: pretty, json or logfmt.
    #[arg(long, env = "AIPLATFORM_LOG_FORMAT", default_value = "pretty")]
    log_format: String,
    /// Log filter, in RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log_level: String,
    /// Serve `PUT /admin/faults` (`{"error_ratio": 0.25}`), which makes that share of
    /// `/api/v1/*` requests fail with 503: for exercising alerts and dashboards. Never enable
    /// it where clients you do not control can reach the service.
    #[arg(long, env = "AIPLATFORM_API_FAULT_INJECTION")]
    fault_injection: bool,
    /// Close a connection whose request headers have not arrived this long after it became
    /// ready for a request, idle keep-alive connections included (the exporters' value).
    #[arg(long, env = "AIPLATFORM_API_IDLE_TIMEOUT", default_value = "60s",
          value_parser = parse_duration)]
    idle_timeout: Duration,
    #[command(flatten)]
    remote_write: push::RemoteWriteArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    aiplatform_prometheus::parse_go_duration(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    // One malloc arena: request bursts on several runtime threads otherwise leave an arena's
    // worth of freed memory resident per thread.
    aiplatform_prometheus::limit_malloc_arenas();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
    {
        Ok(rt) => rt,
        Err(e) => return aiplatform_prometheus::exit_with(Err(e)),
    };
    // A failure is written as one line in the configured log format (no multi-line chain, no
    // backtrace) while the log guard, which `run` leaves here, is still alive.
    aiplatform_prometheus::run_until_stopped(runtime, async move {
        let mut logs = None;
        let result = run(cli, &mut logs).await;
        aiplatform_prometheus::exit_with(result)
    })
}

async fn run(cli: Cli, logs: &mut Option<aiplatform_logging::LogGuard>) -> anyhow::Result<()> {
    let registry = aiplatform_metrics::Registry::new();
    let format: aiplatform_logging::Format = cli.log_format.parse().context("--log-format")?;
    let nr = newrelic::from_env()?;
    let dd = datadog::from_env()?;
    let telemetry = otlp::Telemetry::from_env();
    let mut logging = aiplatform_logging::builder()
        .service_name("aiplatform-api")
        .service_version(env!("CARGO_PKG_VERSION"))
        .filter(cli.log_level.clone())
        .registry(registry.clone())
        .output(aiplatform_logging::Output::stdout(format))
        .logstash_from_env("AIPLATFORM_LOGSTASH_ADDR");
    logging = newrelic::with_log_output(logging, nr.as_ref())?;
    if let Some(output) = datadog::logs_output(dd.as_ref())? {
        logging = logging.output(output);
    }
    if let Some(output) = telemetry.log_output()? {
        logging = logging.output(output);
    }
    let filter = logging.env_filter().context("--log-level")?;
    let (log_layer, guard) = logging
        .build()
        .context("setting up logging (is AIPLATFORM_LOGSTASH_ADDR a host:port?)")?;
    let (span_layer, traces) = telemetry.span_layer(&registry)?;
    tracing_subscriber::registry()
        .with(filter)
        .with(span_layer)
        .with(log_layer)
        .try_init()
        .context("installing the tracing subscriber")?;
    *logs = Some(guard);

    let metrics = metrics::AppMetrics::register(&registry)
        .context("registering metrics")?
        .with_request_spans(traces.is_some());
    let pusher = cli.remote_write.start(&registry)?;
    let nr_metrics = newrelic::start_metrics(nr.as_ref(), &registry)?;
    let dd_metrics = datadog::start_metrics(dd.as_ref(), &registry)?;
    let otlp_metrics = telemetry.start_metrics(&registry)?;
    let faults = cli.fault_injection.then(faults::Faults::default);
    if faults.is_some() {
        tracing::warn!("fault injection enabled: PUT /admin/faults can make requests fail");
    }
    let app =
        routes::app(registry, metrics.clone(), faults).context("building the HTTP service")?;
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    tracing::info!(listen = %local, "aiplatform-api listening; try: curl http://{local}/metrics");
    let listener = connections::Counting::new(listener, metrics.active_connections.clone());
    // Free memory goes back to the system once a burst of requests is over.
    let trim = tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(10));
        loop {
            every.tick().await;
            tokio::task::spawn_blocking(aiplatform_prometheus::release_free_memory);
        }
    });
    serve::serve(listener, app, cli.idle_timeout, shutdown()).await;
    trim.abort();
    // The last values go out before the process ends.
    push::shutdown("remote write", pusher).await;
    push::shutdown("New Relic", nr_metrics).await;
    push::shutdown("Datadog", dd_metrics).await;
    push::shutdown("OTLP metrics", otlp_metrics).await;
    tracing::info!("aiplatform-api stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
