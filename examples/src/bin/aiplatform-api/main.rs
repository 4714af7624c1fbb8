//! The guide's `aiplatform-api`: a small axum service instrumented end to end.
//!
//! - HTTP metrics from the tower layer (`http_requests_total`, `http_request_duration_seconds`,
//!   `http_requests_in_flight`), keyed by route template;
//! - the guide's application metrics (`aiplatform_requests_total`,
//!   `aiplatform_request_duration_seconds`, `aiplatform_active_connections`) and business
//!   metrics (`aiplatform_ml_predictions_total`, `aiplatform_ml_prediction_accuracy`,
//!   `aiplatform_federated_training_rounds_total`, `aiplatform_quantum_optimizations_total`);
//! - `process_*` metrics, and `/metrics` served with content negotiation and gzip;
//! - one log line per request (method, full URL, status, latency) through aiplatform-logging,
//!   shipped to Logstash when `AIPLATFORM_LOGSTASH_ADDR` is set;
//! - with `--fault-injection`, `PUT /admin/faults` to fail a share of requests with 503, for
//!   exercising the error-ratio alert and dashboards;
//! - the same metrics pushed with Prometheus remote write when `--remote-write-url` is set;
//! - metrics and request logs sent to New Relic when `NEW_RELIC_LICENSE_KEY` is set.
//!
//! `cargo run -p aiplatform-examples --bin aiplatform-api`, then
//! `curl localhost:8000/metrics`.

mod connections;
mod faults;
mod metrics;
mod newrelic;
mod push;
mod routes;
mod serve;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

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
    // A start-up failure is written as one line in the configured log format (no
    // multi-line chain, no backtrace), while the log guard is still alive.
    aiplatform_prometheus::run_until_stopped(runtime, async move {
        let registry = aiplatform_metrics::Registry::new();
        let (_logs, nr) = match init_logging(&cli, &registry) {
            Ok(started) => started,
            Err(e) => return aiplatform_prometheus::exit_with(Err(e)),
        };
        aiplatform_prometheus::exit_with(run(cli, registry, nr).await)
    })
}

/// Logging as the flags ask, with New Relic's log output when its key is set; the New Relic
/// settings are returned for the metrics.
fn init_logging(
    cli: &Cli,
    registry: &aiplatform_metrics::Registry,
) -> anyhow::Result<(
    aiplatform_logging::LogGuard,
    Option<aiplatform_newrelic::NewRelic>,
)> {
    let format: aiplatform_logging::Format = cli.log_format.parse().context("--log-format")?;
    let nr = newrelic::from_env()?;
    let logs = aiplatform_logging::builder()
        .service_name("aiplatform-api")
        .service_version(env!("CARGO_PKG_VERSION"))
        .filter(cli.log_level.clone())
        .registry(registry.clone())
        .output(aiplatform_logging::Output::stdout(format))
        .logstash_from_env("AIPLATFORM_LOGSTASH_ADDR");
    let guard = newrelic::with_log_output(logs, nr.as_ref())?
        .init()
        .context("setting up logging (is AIPLATFORM_LOGSTASH_ADDR a host:port?)")?;
    Ok((guard, nr))
}

async fn run(
    cli: Cli,
    registry: aiplatform_metrics::Registry,
    nr: Option<aiplatform_newrelic::NewRelic>,
) -> anyhow::Result<()> {
    let metrics = metrics::AppMetrics::register(&registry).context("registering metrics")?;
    let pusher = cli.remote_write.start(&registry)?;
    let nr_metrics = newrelic::start_metrics(nr.as_ref(), &registry)?;
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
    if let Some(pusher) = pusher {
        // The last values go out before the process ends.
        if let Err(e) = pusher
            .shutdown_async(std::time::Duration::from_secs(5))
            .await
        {
            tracing::warn!(error = %e, "remote write: not everything was pushed at shutdown");
        }
    }
    newrelic::stop(nr_metrics).await;
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
