//! A PostgreSQL exporter for Prometheus, drop-in compatible with
//! [postgres_exporter](https://github.com/prometheus-community/postgres_exporter): same port
//! (9187), flags, environment variables, metric names, types and labels, with what its users
//! asked for over the years built in.
//!
//! # What it adds
//!
//! - **Never a 500, never a panic.** A server that is down is `pg_up 0` with HTTP 200; a
//!   failing query only sets its collector's `pg_scrape_collector_success` to 0; repeated
//!   series from a custom query are dropped and counted
//!   (`aiplatform_metrics_collect_dropped_series_total`); a `pg_settings` unit it does not
//!   know is skipped and counted (`pg_exporter_settings_skipped_total`).
//! - **Bounded load on the database.** One pooled connection per server, opened on demand;
//!   `statement_timeout` and `lock_timeout` on it; a query a scrape stopped waiting for
//!   (its time limit, or Prometheus' `X-Prometheus-Scrape-Timeout-Seconds`) is cancelled with
//!   a PostgreSQL cancel request and its connection closed, so a locked table cannot pile up
//!   connections ([`Target`]).
//! - **Secrets stay secret.** One tested routine, [`redact_dsn`], removes passwords from
//!   every DSN form (URI user info, `?password=`, `key=value`); [`Dsn`] and [`Password`] never
//!   print them; errors from elsewhere are scrubbed of the literal password ([`scrub`]).
//! - **Compatibility profiles.** Names follow current upstream by default;
//!   `--compat=debian12` ([`aiplatform_prometheus::Compat`]) gives postgres_exporter 0.11.1's.
//! - **Bounded `pg_stat_statements`.** The top statements by time get their own series and
//!   the rest are summed per user and database.
//!
//! # Layout
//!
//! [`dsn`] parses data source names and reads them from the environment; [`redact`] hides
//! passwords; [`target`] holds the pooled connection; [`collectors`] has one file per
//! collector; [`namespace`] is the column-map engine shared by the custom queries file
//! ([`queries_file`]) and the 0.11 profile's `SELECT *` maps; [`self_metrics`] reports
//! `pg_up` and friends; [`probe`] serves `/probe` with the auth modules of [`auth_config`];
//! [`exporter`] puts it together for the binary.
//!
//! Not supported: TLS to PostgreSQL (`sslmode=require` is refused with a clear message),
//! `--auto-discover-databases`, `--constantLabels`, `--metric-prefix`, and Go's `go_*`
//! self-metrics.

#![deny(missing_docs)]

pub mod app;
pub mod args;
pub mod auth_config;
pub mod cell;
pub mod collectors;
pub mod config;
pub mod dsn;
pub mod exporter;
pub mod namespace;
pub mod probe;
pub mod queries_file;
pub mod redact;
pub mod self_metrics;
pub mod target;
pub mod version;

pub use dsn::{Dsn, DsnError, Password};
pub use redact::{redact_dsn, scrub};
pub use target::{Limits, Target, TargetError};
