//! `aiplatform-redis-exporter`: see the library docs.

use std::process::ExitCode;

/// mimalloc: a scrape builds and drops a few thousand small objects (families, label sets,
/// strings); against glibc's allocator this takes about a third off the CPU time per scrape.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use aiplatform_metrics::Registry;
use aiplatform_prometheus::{BuildInfo, termination_signal};
use aiplatform_redis_exporter::app::App;
use aiplatform_redis_exporter::args::{Cli, exporter_cli};

fn main() -> ExitCode {
    // One scheduler thread: a scrape is a handful of awaits on one socket. Encoding runs on
    // the blocking pool, which needs few threads for one Redis.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build();
    match runtime {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("aiplatform-redis-exporter: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let build = BuildInfo::new("redis_exporter", env!("CARGO_PKG_VERSION"));
    let cli: Cli = exporter_cli(build).parse(None);
    let _log = match aiplatform_prometheus::init_logging(
        cli.redis.log_level(&cli.web),
        cli.redis.log_format(&cli.web),
    ) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("aiplatform-redis-exporter: logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = match App::from_cli(&cli) {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    let server = match app.server(&cli, Registry::new()) {
        Ok(b) => b.bind().await,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the HTTP server");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        addresses = ?server.local_addrs(),
        redis = app.main.as_ref().map(|m| m.address().to_string()).unwrap_or_default(),
        compat = %app.config.compat,
        "Redis exporter listening"
    );
    match server.serve_with_shutdown(termination_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
