//! The command line: the shared `--web.*` / `--log.*` flags and postgres_exporter's own,
//! with its environment variables, plus `--compat` and this exporter's limits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aiplatform_prometheus::{
    BuildInfo, CollectorSet, Compat, ExporterCli, WebArgs, WebDefaults, WebFlag, parse_go_duration,
};
use clap::{Args, Parser};

use crate::collectors::StatStatementsOptions;
use crate::config::Config;
use crate::queries_file::QueriesFile;
use crate::target::Limits;

/// The PostgreSQL server to scrape comes from the environment: DATA_SOURCE_NAME, or
/// DATA_SOURCE_URI with DATA_SOURCE_USER and DATA_SOURCE_PASS (each also as a _FILE variable).
#[derive(Debug, Clone, Parser)]
#[command(
    about = "Prometheus exporter for PostgreSQL server metrics.",
    after_help = "The server to scrape comes from the environment: DATA_SOURCE_NAME (URI or key=value), \
or DATA_SOURCE_URI with DATA_SOURCE_USER and DATA_SOURCE_PASS; each of these three may instead \
name a file through DATA_SOURCE_URI_FILE, DATA_SOURCE_USER_FILE, DATA_SOURCE_PASS_FILE."
)]
pub struct Cli {
    /// The shared `--web.*` and `--log.*` flags.
    #[command(flatten)]
    pub web: WebArgs,
    /// postgres_exporter's own flags.
    #[command(flatten)]
    pub postgres: PostgresArgs,
}

/// postgres_exporter's own flags.
#[derive(Debug, Clone, Args)]
pub struct PostgresArgs {
    /// Metric names to follow: upstream (current postgres_exporter) or debian12
    /// (postgres_exporter 0.11.1: server label, 0.11 names).
    #[arg(
        long = "compat",
        env = "PG_EXPORTER_COMPAT",
        default_value = "upstream"
    )]
    pub compat: Compat,

    /// A list of databases to leave out of the database collector (comma-separated).
    #[arg(
        long = "exclude-databases",
        env = "PG_EXPORTER_EXCLUDE_DATABASES",
        default_value = ""
    )]
    pub exclude_databases: String,

    /// A list of databases to include in the database collector (comma-separated; empty: all).
    #[arg(
        long = "include-databases",
        env = "PG_EXPORTER_INCLUDE_DATABASES",
        default_value = ""
    )]
    pub include_databases: String,

    /// Path to custom queries to run (postgres_exporter's queries.yaml format).
    #[arg(long = "extend.query-path", env = "PG_EXPORTER_EXTEND_QUERY_PATH")]
    pub query_path: Option<PathBuf>,

    /// Longest a collector may run (cut further by Prometheus' scrape timeout header).
    #[arg(long = "collection-timeout", env = "PG_EXPORTER_COLLECTION_TIMEOUT", default_value = "1m", value_parser = parse_go_duration)]
    pub collection_timeout: Duration,

    /// Auth modules for /probe (postgres_exporter.yml format with a targets allow-list)
    /// [default: postgres_exporter.yml, when it exists].
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,

    /// Longest a connection attempt to PostgreSQL may take.
    #[arg(long = "pg.connect-timeout", default_value = "5s", value_parser = parse_go_duration)]
    pub connect_timeout: Duration,

    /// statement_timeout of the exporter's sessions.
    #[arg(long = "pg.statement-timeout", default_value = "10s", value_parser = parse_go_duration)]
    pub statement_timeout: Duration,

    /// lock_timeout of the exporter's sessions.
    #[arg(long = "pg.lock-timeout", default_value = "1s", value_parser = parse_go_duration)]
    pub lock_timeout: Duration,

    /// Most /probe targets kept with a pooled connection (least recently used dropped).
    #[arg(long = "probe.max-targets", default_value_t = 16)]
    pub probe_max_targets: usize,

    /// Statements with their own series in stat_statements; the rest are summed per user and database.
    #[arg(long = "collector.stat_statements.limit", default_value_t = 100)]
    pub stat_statements_limit: u32,

    /// Also export pg_stat_statements_query_id{queryid,query}.
    #[arg(
        long = "collector.stat_statements.include_query",
        default_value_t = false
    )]
    pub stat_statements_include_query: bool,

    /// Longest statement text in pg_stat_statements_query_id.
    #[arg(long = "collector.stat_statements.query_length", default_value_t = 120)]
    pub stat_statements_query_length: u32,

    /// How long measured database sizes (pg_database_size) are reused; 0 measures at every scrape.
    #[arg(long = "collector.database.size-cache", default_value = "10s", value_parser = parse_go_duration)]
    pub database_size_cache: Duration,

    /// Do not include the metrics postgres_exporter 0.11 built in from views (stat_database,
    /// stat_database_conflicts, locks, stat_activity, stat_replication, replication_slots,
    /// stat_archiver).
    #[arg(
        long = "disable-default-metrics",
        env = "PG_EXPORTER_DISABLE_DEFAULT_METRICS",
        default_value_t = false
    )]
    pub disable_default_metrics: bool,

    /// Do not include pg_settings metrics (0.11; same as --no-collector.settings).
    #[arg(
        long = "disable-settings-metrics",
        env = "PG_EXPORTER_DISABLE_SETTINGS_METRICS",
        default_value_t = false
    )]
    pub disable_settings_metrics: bool,
}

/// The command line of `aiplatform-postgres-exporter`: port 9187 and postgres_exporter's
/// environment variables for the shared flags.
pub fn exporter_cli(build: BuildInfo) -> ExporterCli {
    ExporterCli::new(
        build,
        WebDefaults::new(":9187")
            .env(WebFlag::ListenAddress, "PG_EXPORTER_WEB_LISTEN_ADDRESS")
            .env(WebFlag::TelemetryPath, "PG_EXPORTER_WEB_TELEMETRY_PATH"),
    )
}

/// `--compat` from the arguments (last one wins), else `PG_EXPORTER_COMPAT`, else upstream.
/// It decides the collector names, whose flags the full parse needs, so it is read first; an
/// invalid value is left for the full parse to refuse.
pub fn prescan_compat(args: &[String], env: Option<String>) -> Compat {
    let mut value = env;
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--compat=") {
            value = Some(v.to_owned());
        } else if a == "--compat" {
            value = args.get(i + 1).cloned();
        }
    }
    value.and_then(|v| v.parse().ok()).unwrap_or_default()
}

/// The collectors postgres_exporter 0.11 built in from views, which
/// `--disable-default-metrics` leaves out.
const DEFAULT_MAPS: [&str; 7] = [
    "stat_database",
    "stat_database_conflicts",
    "locks",
    "stat_activity",
    "stat_replication",
    "replication_slots",
    "stat_archiver",
];

/// A comma-separated list, blanks dropped.
fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

impl PostgresArgs {
    /// Applies `--disable-settings-metrics` and `--disable-default-metrics` to the set the
    /// `--[no-]collector.<name>` flags were parsed into.
    pub fn disable_collectors(&self, flags: &mut CollectorSet) {
        let mut off: Vec<&str> = Vec::new();
        if self.disable_settings_metrics {
            off.push("settings");
        }
        if self.disable_default_metrics {
            off.extend(DEFAULT_MAPS);
        }
        for name in off {
            // Every name is a collector of both profiles.
            let _ = flags.set_enabled(name, false);
        }
    }

    /// The collectors' configuration, with the queries file when one loaded.
    pub fn config(&self, queries: Option<QueriesFile>) -> Config {
        Config {
            compat: self.compat,
            exclude_databases: list(&self.exclude_databases),
            include_databases: list(&self.include_databases),
            stat_statements: StatStatementsOptions {
                limit: self.stat_statements_limit,
                include_query: self.stat_statements_include_query,
                query_length: self.stat_statements_query_length,
            },
            queries,
            database_size_cache: self.database_size_cache,
            settings_skipped: Default::default(),
        }
    }

    /// The limits of the exporter's PostgreSQL sessions.
    pub fn limits(&self) -> Limits {
        Limits {
            connect_timeout: self.connect_timeout,
            statement_timeout: self.statement_timeout,
            lock_timeout: self.lock_timeout,
        }
    }

    /// The auth modules file: `--config.file`, else `postgres_exporter.yml` if it exists;
    /// whether it was named on the command line.
    pub fn config_file(&self) -> (&Path, bool) {
        match &self.config_file {
            Some(p) => (p, true),
            None => (Path::new("postgres_exporter.yml"), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use aiplatform_prometheus::Invocation;

    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = std::iter::once("postgres_exporter").chain(args.iter().copied());
        let build = BuildInfo::new("postgres_exporter", "0.0.0");
        match exporter_cli(build)
            .try_parse_from::<Cli, _, _>(None, argv)
            .unwrap()
        {
            Invocation::Run(c) => c,
            Invocation::Version(_) => panic!("version"),
        }
    }

    #[test]
    fn defaults_and_lists() {
        let c = parse(&["--exclude-databases= template0 ,,template1"]);
        assert_eq!(c.web.listen_addresses, [":9187"]);
        let config = c.postgres.config(None);
        assert_eq!(config.exclude_databases, ["template0", "template1"]);
        assert!(config.include_databases.is_empty());
        assert_eq!(config.compat, Compat::Upstream);
        assert_eq!(config.stat_statements.limit, 100);
        assert_eq!(c.postgres.limits().lock_timeout, Duration::from_secs(1));
        assert_eq!(
            c.postgres.config_file(),
            (Path::new("postgres_exporter.yml"), false)
        );
        let c = parse(&["--config.file=/etc/pg.yml", "--compat=debian12"]);
        assert_eq!(c.postgres.config_file(), (Path::new("/etc/pg.yml"), true));
        assert_eq!(c.postgres.compat, Compat::Debian12);
    }

    #[test]
    fn compat_is_read_before_the_full_parse() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(prescan_compat(&args(&["x"]), None), Compat::Upstream);
        assert_eq!(
            prescan_compat(&args(&["x"]), Some("debian12".into())),
            Compat::Debian12
        );
        assert_eq!(
            prescan_compat(
                &args(&["x", "--compat", "upstream"]),
                Some("debian12".into())
            ),
            Compat::Upstream
        );
        assert_eq!(
            prescan_compat(&args(&["x", "--compat=debian12"]), None),
            Compat::Debian12
        );
        assert_eq!(
            prescan_compat(&args(&["x", "--compat=nope"]), None),
            Compat::Upstream
        );
    }

    #[test]
    fn disable_flags_turn_collectors_off() {
        let c = parse(&["--disable-default-metrics", "--disable-settings-metrics"]);
        let mut flags = crate::exporter::flag_set(Compat::Upstream);
        c.postgres.disable_collectors(&mut flags);
        let on: Vec<&str> = flags.enabled().collect();
        assert_eq!(
            on,
            [
                "database",
                "queries",
                "replication",
                "stat_bgwriter",
                "stat_user_tables",
                "statio_user_tables"
            ]
        );
    }
}
