//! `aiplatform-postgres-exporter`: see the library docs.

use aiplatform_metrics::Registry;
use aiplatform_postgres_exporter::app::App;
use aiplatform_postgres_exporter::args::{Cli, exporter_cli, prescan_compat};
use aiplatform_postgres_exporter::exporter::flag_set;
use aiplatform_prometheus::{
    BuildInfo, exit_with, limit_malloc_arenas, run_until_stopped, termination_signal,
};
use anyhow::Context;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let build = BuildInfo::new("postgres_exporter", env!("CARGO_PKG_VERSION"));
    let argv: Vec<String> = std::env::args().collect();
    let mut flags = flag_set(prescan_compat(
        &argv,
        std::env::var("PG_EXPORTER_COMPAT").ok(),
    ));
    let cli: Cli = exporter_cli(build.clone()).parse(Some(&mut flags));
    cli.postgres.disable_collectors(&mut flags);
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
    let app = App::from_cli(&cli, flags, |k| std::env::var(k).ok())?;

    // One async worker is plenty for an exporter (queries wait on the database); encoding
    // runs on the blocking pool, which is kept small.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Stops within the server's grace period plus STOP_DEADLINE whatever is running.
    run_until_stopped(runtime, async {
        let server = app
            .server(&cli, Registry::new(), &build)?
            .bind()
            .await
            .context("listening")?;
        for addr in server.local_addrs() {
            tracing::info!(address = %addr, "Listening on");
        }
        server
            .serve_with_shutdown(termination_signal())
            .await
            .context("serving")
    })
}
