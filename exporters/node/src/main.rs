//! `aiplatform-node-exporter`: node_exporter's command line and HTTP surface over the
//! collectors of this crate. See the library docs for what is implemented; Go's `go_*`
//! runtime metrics are not produced.

/// mimalloc: a scrape builds and drops a few thousand small objects (families, label sets,
/// strings) on two worker threads; glibc's allocator spent a fifth of the CPU on them, part of
/// it waiting on its arena locks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use aiplatform_metrics::Registry;
use aiplatform_node_exporter::args::NodeArgs;
use aiplatform_node_exporter::build_info::build_info_collector;
use aiplatform_node_exporter::collectors::{collector_set, flag_set};
use aiplatform_prometheus::{
    BuildInfo, ExporterCli, LandingPage, Server, WebArgs, WebDefaults, termination_signal,
};
use anyhow::Context;
use clap::Parser;

/// The command line: the shared `--web.*` / `--log.*` flags and node_exporter's own.
#[derive(Debug, Parser)]
#[command(
    about = "Prometheus exporter for hardware and OS metrics exposed by *NIX kernels (node_exporter compatible).\n\nGo runtime metrics (go_*) are not exported: this is not a Go program. process_* and promhttp_* are."
)]
struct Cli {
    #[command(flatten)]
    web: WebArgs,
    #[command(flatten)]
    node: NodeArgs,
}

/// glibc gives every thread that allocates its own arena (64 MiB reserved, and whatever it
/// touches stays resident); the exporter's threads allocate little and briefly, so one arena
/// serves them all without contention worth measuring.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    let build = BuildInfo::new("node_exporter", env!("CARGO_PKG_VERSION"));
    let cli = ExporterCli::new(build.clone(), WebDefaults::new(":9100"));
    let mut flags = flag_set();
    let args: Cli = cli.parse(Some(&mut flags));
    let _log = args.web.init_logging().context("setting up logging")?;
    let config = args.node.config().context("invalid collector flags")?;
    let collectors = collector_set(&config, Some(&flags)).context("registering the collectors")?;
    tracing::info!(version = build.version(), compat = ?config.compat, "Starting node_exporter");
    for name in collectors.enabled() {
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
    runtime.block_on(async move {
        let registry = Registry::new();
        registry.register_collector(build_info_collector(
            config.compat,
            build.version(),
            option_env!("AIPLATFORM_GIT_REVISION").unwrap_or(""),
        ));
        let server = Server::builder(registry)
            .web_args(&args.web)
            .landing_page(
                LandingPage::new("Node Exporter")
                    .description("Prometheus Node Exporter")
                    .version(build.version()),
            )
            .collectors(collectors)
            .collector_filters(true)
            .bind()
            .await
            .context("listening")?;
        server
            .serve_with_shutdown(termination_signal())
            .await
            .context("serving")
    })
}
