//! Everything the collectors need to know, built once from the command line
//! ([`crate::args::PostgresArgs::config`]) or by hand (tests, embedding).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use aiplatform_prometheus::Compat;

use crate::collectors::StatStatementsOptions;
use crate::queries_file::QueriesFile;

/// The settings of every collector, and what they count across scrapes.
#[derive(Debug, Default)]
pub struct Config {
    /// Which postgres_exporter's names to follow (`--compat`).
    pub compat: Compat,
    /// `--exclude-databases`.
    pub exclude_databases: Vec<String>,
    /// `--include-databases` (empty: all).
    pub include_databases: Vec<String>,
    /// `--collector.stat_statements.*`.
    pub stat_statements: StatStatementsOptions,
    /// The queries file, when one loaded.
    pub queries: Option<QueriesFile>,
    /// How long measured database sizes are reused (`--collector.database.size-cache`).
    pub database_size_cache: Duration,
    /// Settings skipped for an unknown unit or value, counted for
    /// `pg_exporter_settings_skipped_total`.
    pub settings_skipped: AtomicU64,
}
