//! `aiplatform-node-exporter`: see the library docs.

// glibc's allocator with one arena (`limit_malloc_arenas`), not mimalloc: with every default
// collector on, mimalloc's per-thread pages cost 2.5 MiB more resident memory (RssAnon 6.9
// against 3.9 MiB) for no lower CPU per scrape (1.85 against 1.80 s per 1000 scrapes).

use aiplatform_metrics::Registry;
use aiplatform_node_exporter::app::App;
use aiplatform_node_exporter::args::{Cli, exporter_cli};
use aiplatform_node_exporter::collectors::flag_set;
use aiplatform_prometheus::{
    BuildInfo, exit_with, limit_malloc_arenas, run_until_stopped, termination_signal,
};
use anyhow::Context;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let build = BuildInfo::new("node_exporter", env!("CARGO_PKG_VERSION"));
    let mut flags = flag_set();
    let cli: Cli = exporter_cli(build.clone()).parse(Some(&mut flags));
    // Kept until the end of main, so that a failure below is logged in the configured format
    // (one line, no backtrace) before the process exits.
    let _log = match cli.web.init_logging().context("setting up logging") {
        Ok(guard) => guard,
        Err(e) => return exit_with(Err(e)),
    };
    exit_with(run(cli, flags, build))
}

fn run(
    cli: Cli,
    flags: aiplatform_prometheus::CollectorSet,
    build: BuildInfo,
) -> anyhow::Result<()> {
    let app = App::from_cli(&cli, &flags)?;
    tracing::info!(version = build.version(), compat = %app.config.compat, "Starting node_exporter");
    for name in app.collectors.enabled() {
        tracing::info!(collector = name, "enabled collector");
    }

    // One async worker (node_exporter runs with GOMAXPROCS=1) and a small blocking pool: the
    // collectors are short file reads, fewer threads mean fewer context switches per scrape
    // (the largest cost on a 2-CPU host), and every idle thread costs resident memory. A
    // collector that hangs holds at most one of them (it is not started again until it
    // returns), and the filesystem collector's statfs calls run on their own threads.
    // Debug builds need more: there miniz_oxide builds its ~300 KiB compressor state on the
    // stack before boxing it, so a gzip scrape (every Prometheus scrape) overflowed 256 KiB.
    let stack_size = if cfg!(debug_assertions) {
        2 << 20
    } else {
        256 << 10
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(4)
        .thread_stack_size(stack_size)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Stops within the server's grace period plus STOP_DEADLINE, even with a collector stuck
    // in a read that never returns.
    run_until_stopped(runtime, async {
        let server = app
            .server(&cli, Registry::new(), &build)
            .bind()
            .await
            .context("listening")?;
        server
            .serve_with_shutdown(termination_signal())
            .await
            .context("serving")
    })
}
