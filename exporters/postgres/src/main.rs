//! `aiplatform-postgres-exporter`: postgres_exporter's flags and environment over the
//! library's collectors and the shared scrape endpoint.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_postgres_exporter::auth_config::AuthConfig;
use aiplatform_postgres_exporter::collectors::{Env, StatStatementsOptions};
use aiplatform_postgres_exporter::exporter::{Scraped, flag_set, load_queries};
use aiplatform_postgres_exporter::probe::Prober;
use aiplatform_postgres_exporter::{Limits, Profile, Target, dsn};
use aiplatform_prometheus::{
    BuildInfo, ExporterCli, LandingPage, RouteRequest, Server, WebArgs, WebDefaults, WebFlag,
    parse_go_duration, termination_signal,
};
use clap::Parser;

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The PostgreSQL server to scrape comes from the environment: DATA_SOURCE_NAME, or
/// DATA_SOURCE_URI with DATA_SOURCE_USER and DATA_SOURCE_PASS (each also as a _FILE variable).
#[derive(Debug, Parser)]
#[command(
    about = "Prometheus exporter for PostgreSQL server metrics.",
    after_help = "The server to scrape comes from the environment: DATA_SOURCE_NAME (URI or key=value), \
or DATA_SOURCE_URI with DATA_SOURCE_USER and DATA_SOURCE_PASS; each of these three may instead \
name a file through DATA_SOURCE_URI_FILE, DATA_SOURCE_USER_FILE, DATA_SOURCE_PASS_FILE."
)]
struct Args {
    #[command(flatten)]
    web: WebArgs,

    /// Metric names to follow: upstream (current postgres_exporter) or debian12
    /// (postgres_exporter 0.11.1: server label, 0.11 names).
    #[arg(
        long = "compat",
        env = "PG_EXPORTER_COMPAT",
        default_value = "upstream"
    )]
    compat: Profile,

    /// A list of databases to leave out of the database collector (comma-separated).
    #[arg(
        long = "exclude-databases",
        env = "PG_EXPORTER_EXCLUDE_DATABASES",
        default_value = ""
    )]
    exclude_databases: String,

    /// A list of databases to include in the database collector (comma-separated; empty: all).
    #[arg(
        long = "include-databases",
        env = "PG_EXPORTER_INCLUDE_DATABASES",
        default_value = ""
    )]
    include_databases: String,

    /// Path to custom queries to run (postgres_exporter's queries.yaml format).
    #[arg(long = "extend.query-path", env = "PG_EXPORTER_EXTEND_QUERY_PATH")]
    query_path: Option<PathBuf>,

    /// Longest a collector may run (cut further by Prometheus' scrape timeout header).
    #[arg(long = "collection-timeout", env = "PG_EXPORTER_COLLECTION_TIMEOUT", default_value = "1m", value_parser = parse_go_duration)]
    collection_timeout: Duration,

    /// Auth modules for /probe (postgres_exporter.yml format with a targets allow-list).
    #[arg(long = "config.file", default_value = "postgres_exporter.yml")]
    config_file: PathBuf,

    /// Longest a connection attempt to PostgreSQL may take.
    #[arg(long = "pg.connect-timeout", default_value = "5s", value_parser = parse_go_duration)]
    connect_timeout: Duration,

    /// statement_timeout of the exporter's sessions.
    #[arg(long = "pg.statement-timeout", default_value = "10s", value_parser = parse_go_duration)]
    statement_timeout: Duration,

    /// lock_timeout of the exporter's sessions.
    #[arg(long = "pg.lock-timeout", default_value = "1s", value_parser = parse_go_duration)]
    lock_timeout: Duration,

    /// Most /probe targets kept with a pooled connection (least recently used dropped).
    #[arg(long = "probe.max-targets", default_value_t = 16)]
    probe_max_targets: usize,

    /// Statements with their own series in stat_statements; the rest are summed per user and database.
    #[arg(long = "collector.stat_statements.limit", default_value_t = 100)]
    stat_statements_limit: u32,

    /// Also export pg_stat_statements_query_id{queryid,query}.
    #[arg(
        long = "collector.stat_statements.include_query",
        default_value_t = false
    )]
    stat_statements_include_query: bool,

    /// Longest statement text in pg_stat_statements_query_id.
    #[arg(long = "collector.stat_statements.query_length", default_value_t = 120)]
    stat_statements_query_length: u32,

    /// How long measured database sizes (pg_database_size) are reused; 0 measures at every scrape.
    #[arg(long = "collector.database.size-cache", default_value = "10s", value_parser = parse_go_duration)]
    database_size_cache: Duration,

    /// Do not include the metrics postgres_exporter 0.11 built in from views (stat_database,
    /// stat_database_conflicts, locks, stat_activity, stat_replication, replication_slots,
    /// stat_archiver).
    #[arg(
        long = "disable-default-metrics",
        env = "PG_EXPORTER_DISABLE_DEFAULT_METRICS",
        default_value_t = false
    )]
    disable_default_metrics: bool,

    /// Do not include pg_settings metrics (0.11; same as --no-collector.settings).
    #[arg(
        long = "disable-settings-metrics",
        env = "PG_EXPORTER_DISABLE_SETTINGS_METRICS",
        default_value_t = false
    )]
    disable_settings_metrics: bool,
}

/// `--compat` decides the collector names, so it is read before the full parse.
fn prescan_profile() -> Profile {
    let args: Vec<String> = std::env::args().collect();
    let mut value = std::env::var("PG_EXPORTER_COMPAT").ok();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--compat=") {
            value = Some(v.to_owned());
        } else if a == "--compat" {
            value = args.get(i + 1).cloned();
        }
    }
    value.and_then(|v| v.parse().ok()).unwrap_or_default()
}

/// glibc gives every thread that allocates its own malloc arena; for an exporter that only
/// adds resident memory. One arena is enough.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn main() -> ExitCode {
    let profile = prescan_profile();
    let mut flags = flag_set(profile);
    let build = BuildInfo::new("postgres_exporter", env!("CARGO_PKG_VERSION"));
    let cli = ExporterCli::new(
        build.clone(),
        WebDefaults::new(":9187")
            .env(WebFlag::ListenAddress, "PG_EXPORTER_WEB_LISTEN_ADDRESS")
            .env(WebFlag::TelemetryPath, "PG_EXPORTER_WEB_TELEMETRY_PATH"),
    );
    let args: Args = cli.parse(Some(&mut flags));
    let mut enabled: Vec<String> = flags.enabled().map(str::to_owned).collect();
    if args.disable_settings_metrics {
        enabled.retain(|n| n != "settings");
    }
    if args.disable_default_metrics {
        const DEFAULT_MAPS: [&str; 7] = [
            "stat_database",
            "stat_database_conflicts",
            "locks",
            "stat_activity",
            "stat_replication",
            "replication_slots",
            "stat_archiver",
        ];
        enabled.retain(|n| !DEFAULT_MAPS.contains(&n.as_str()));
    }
    limit_malloc_arenas();
    // One async worker is plenty for an exporter (queries wait on the database); encoding
    // runs on the blocking pool, which is kept small.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(4)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, enabled, build)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(err = %message, "exiting");
            eprintln!("aiplatform-postgres-exporter: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, enabled: Vec<String>, build: BuildInfo) -> Result<(), String> {
    let _log = args
        .web
        .init_logging()
        .map_err(|e| format!("cannot start logging: {e}"))?;

    let explicit_config = std::env::args().any(|a| a.starts_with("--config.file"));
    let auth = if args.config_file.exists() {
        Some(AuthConfig::load(&args.config_file).map_err(|e| e.to_string())?)
    } else if explicit_config {
        return Err(format!(
            "config file {} does not exist",
            args.config_file.display()
        ));
    } else {
        None
    }
    .filter(|a| !a.modules.is_empty());

    let dsns = match dsn::from_env(|k| std::env::var(k).ok()) {
        Ok(d) => d,
        Err(dsn::DsnError::Missing) if auth.is_some() => Vec::new(),
        Err(e) => return Err(e.to_string()),
    };
    if dsns.len() > 1 {
        tracing::warn!(
            count = dsns.len(),
            "DATA_SOURCE_NAME lists several servers; only the first is scraped on /metrics, use /probe for the others"
        );
    }

    let (queries, queries_load) = match &args.query_path {
        Some(path) => {
            let (file, load, err) = load_queries(path);
            if let Some(e) = err {
                tracing::error!(err = %e, "Failed to load user queries; continuing without them (pg_exporter_user_queries_load_error is 1)");
            }
            (file, Some(load))
        }
        None => (None, None),
    };

    let env = Arc::new(Env {
        profile: args.compat,
        exclude_databases: list(&args.exclude_databases),
        include_databases: list(&args.include_databases),
        stat_statements: StatStatementsOptions {
            limit: args.stat_statements_limit,
            include_query: args.stat_statements_include_query,
            query_length: args.stat_statements_query_length,
        },
        queries,
        settings_skipped: Default::default(),
        database_size_cache: args.database_size_cache,
    });
    let limits = Limits {
        connect_timeout: args.connect_timeout,
        statement_timeout: args.statement_timeout,
        lock_timeout: args.lock_timeout,
    };

    let registry = Registry::new();
    registry.register_collector(build.collector());
    let mut builder = Server::builder(registry.clone())
        .web_args(&args.web)
        .landing_page(
            LandingPage::new("Postgres Exporter")
                .description("Prometheus PostgreSQL server Exporter")
                .version(build.version()),
        );
    if let Some(dsn) = dsns.into_iter().next() {
        tracing::info!(target = %dsn.redacted(), profile = ?args.compat, "Scraping");
        let scraped = Scraped::new(Target::new(dsn, limits));
        scraped.register_exporter_metrics(&registry, &env, queries_load);
        let set = scraped
            .collector_set(&env, &enabled, args.collection_timeout)
            .map_err(|e| e.to_string())?;
        builder = builder.collectors(set);
    }
    if let Some(auth) = auth {
        tracing::info!(modules = auth.modules.len(), "/probe enabled");
        let prober = Arc::new(Prober::new(
            auth,
            env.clone(),
            limits,
            enabled,
            args.collection_timeout,
            args.probe_max_targets,
        ));
        builder = builder.route("/probe", move |req: RouteRequest| {
            let prober = prober.clone();
            async move { prober.handle(req).await }
        });
    }
    let server = builder.bind().await.map_err(|e| e.to_string())?;
    for addr in server.local_addrs() {
        tracing::info!(address = %addr, "Listening on");
    }
    server
        .serve_with_shutdown(termination_signal())
        .await
        .map_err(|e| e.to_string())
}
