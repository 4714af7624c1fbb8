//! `aiplatform-redis-exporter`: see the library docs.

/// mimalloc: a scrape builds and drops a few thousand small objects (families, label sets,
/// strings); against glibc's allocator this takes about a third off the CPU time per scrape.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use aiplatform_metrics::Registry;
use aiplatform_prometheus::{
    BuildInfo, exit_with, init_logging, limit_malloc_arenas, release_memory_promptly,
    run_until_stopped, termination_signal,
};
use aiplatform_redis_exporter::app::App;
use aiplatform_redis_exporter::args::{Cli, exporter_cli};
use anyhow::Context;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    release_memory_promptly();
    let build = BuildInfo::new("redis_exporter", env!("CARGO_PKG_VERSION"));
    let cli: Cli = exporter_cli(build).parse(None);
    // Kept until the end of main, so that a failure below is logged in the configured format
    // (one line, no backtrace) before the process exits.
    let _log = match init_logging(
        cli.redis.log_level(&cli.web),
        cli.redis.log_format(&cli.web),
    )
    .context("setting up logging")
    {
        Ok(guard) => guard,
        Err(e) => return exit_with(Err(e)),
    };
    exit_with(run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let app = App::from_cli(cli)?;

    // One scheduler thread: a scrape is a handful of awaits on one socket. Encoding runs on
    // the blocking pool, which needs few threads for one Redis.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
        .context("starting the async runtime")?;
    // Stops within the server's grace period plus STOP_DEADLINE whatever is running.
    run_until_stopped(runtime, async {
        let server = app
            .server(cli, Registry::new())?
            .bind()
            .await
            .context("listening")?;
        tracing::info!(
            addresses = ?server.local_addrs(),
            redis = app.main.as_ref().map(|m| m.address().to_string()).unwrap_or_default(),
            compat = %app.config.compat,
            "Redis exporter listening"
        );
        server
            .serve_with_shutdown(termination_signal())
            .await
            .context("serving")
    })
}
