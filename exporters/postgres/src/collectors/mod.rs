//! The collectors, one per file, each a query and its conversion, with upstream's names.
//!
//! A collector implements [`PgCollector`]: given an open [`Session`] and the [`Env`] (name
//! profile, database filters, options), it appends families. [`register_all`] binds every
//! collector to one [`Target`] and registers it in a [`CollectorSet`] with upstream's default
//! (enabled or not), so `/metrics` and each `/probe` target get the same collectors.

mod database;
mod locks;
mod postmaster;
mod queries;
mod replication;
mod replication_slots;
mod settings;
mod stat_activity;
mod stat_archiver;
mod stat_bgwriter;
mod stat_checkpointer;
mod stat_database;
mod stat_database_conflicts;
mod stat_replication;
mod stat_statements;
mod stat_user_tables;
mod statio_user_tables;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aiplatform_metrics::MetricFamily;
use aiplatform_prometheus::{
    CollectError, CollectorSet, CollectorSetError, DefaultState, ScrapeCollector, ScrapeContext,
};

use crate::exporter_metrics::ScrapeClock;
use crate::profile::Profile;
use crate::queries_file::QueriesFile;
use crate::target::{Session, Target};

pub use settings::{SettingsUnit, parse_unit};
pub use stat_statements::StatStatementsOptions;

/// What every collector may consult besides its session.
#[derive(Debug, Default)]
pub struct Env {
    /// Name profile.
    pub profile: Profile,
    /// `--exclude-databases`.
    pub exclude_databases: Vec<String>,
    /// `--include-databases` (empty: all).
    pub include_databases: Vec<String>,
    /// `--collector.stat_statements.*`.
    pub stat_statements: StatStatementsOptions,
    /// The queries file, when one loaded.
    pub queries: Option<QueriesFile>,
    /// Settings skipped for an unknown unit or value, counted for
    /// `pg_exporter_settings_skipped_total`.
    pub settings_skipped: std::sync::atomic::AtomicU64,
    /// How long measured database sizes are reused (`--collector.database.size-cache`).
    pub database_size_cache: std::time::Duration,
}

impl Env {
    /// Whether `datname` passes `--exclude-databases` / `--include-databases`.
    pub fn wants_database(&self, datname: &str) -> bool {
        !self.exclude_databases.iter().any(|d| d == datname)
            && (self.include_databases.is_empty()
                || self.include_databases.iter().any(|d| d == datname))
    }
}

/// What one collector run sees.
#[derive(Debug)]
pub struct Cx<'a> {
    /// The open connection.
    pub session: &'a Session,
    /// Shared settings.
    pub env: &'a Env,
    /// `host:port` of the target.
    pub server: &'a str,
}

impl Cx<'_> {
    /// The `server` label value when the profile puts it on every series (0.11).
    pub fn legacy_server(&self) -> Option<&str> {
        self.env.profile.is_debian12().then_some(self.server)
    }
}

/// One collector: a query and its conversion.
pub trait PgCollector: Send + Sync + 'static {
    /// Appends this collector's families.
    fn collect(
        &self,
        cx: &Cx<'_>,
        out: &mut Vec<MetricFamily>,
    ) -> impl Future<Output = Result<(), CollectError>> + Send;
}

/// A collector bound to a target, as the collector set runs it.
struct Bound<C> {
    target: Arc<Target>,
    env: Arc<Env>,
    clock: Arc<ScrapeClock>,
    collector: C,
}

impl<C: PgCollector> ScrapeCollector for Bound<C> {
    async fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        let run = self.clock.begin();
        let started = Instant::now();
        let result = async {
            let session = self
                .target
                .session(started, ctx.deadline())
                .await
                .map_err(CollectError::new)?;
            let cx = Cx {
                session: &session,
                env: &self.env,
                server: self.target.server_label(),
            };
            self.collector.collect(&cx, out).await
        }
        .await;
        run.finish(result.is_ok());
        result
    }
}

/// The collector names and defaults of a profile, in registration order.
pub fn names(profile: Profile) -> Vec<(&'static str, DefaultState)> {
    use DefaultState::{Disabled, Enabled};
    let bgwriter = if profile.is_debian12() {
        "bgwriter"
    } else {
        "stat_bgwriter"
    };
    vec![
        ("database", Enabled),
        ("locks", Enabled),
        ("postmaster", Disabled),
        ("queries", Enabled),
        ("replication", Enabled),
        ("replication_slots", Enabled),
        ("settings", Enabled),
        ("stat_activity", Enabled),
        ("stat_archiver", Enabled),
        (bgwriter, Enabled),
        ("stat_checkpointer", Disabled),
        ("stat_database", Enabled),
        ("stat_database_conflicts", Enabled),
        ("stat_replication", Enabled),
        ("stat_statements", Disabled),
        ("stat_user_tables", Enabled),
        ("statio_user_tables", Enabled),
    ]
}

/// Registers every collector of `env.profile`, bound to `target`, with its default.
pub fn register_all(
    set: &mut CollectorSet,
    target: &Arc<Target>,
    env: &Arc<Env>,
    clock: &Arc<ScrapeClock>,
) -> Result<(), CollectorSetError> {
    fn add<C: PgCollector>(
        set: &mut CollectorSet,
        name: &str,
        default: DefaultState,
        target: &Arc<Target>,
        env: &Arc<Env>,
        clock: &Arc<ScrapeClock>,
        collector: C,
    ) -> Result<(), CollectorSetError> {
        set.register(
            name,
            default,
            Bound {
                target: target.clone(),
                env: env.clone(),
                clock: clock.clone(),
                collector,
            },
        )?;
        Ok(())
    }
    for (name, default) in names(env.profile) {
        let (t, e, c) = (target, env, clock);
        match name {
            "database" => add(set, name, default, t, e, c, database::Database::default())?,
            "locks" => add(set, name, default, t, e, c, locks::Locks)?,
            "postmaster" => add(set, name, default, t, e, c, postmaster::Postmaster)?,
            "queries" => add(set, name, default, t, e, c, queries::Queries::default())?,
            "replication" => add(set, name, default, t, e, c, replication::Replication)?,
            "replication_slots" => add(
                set,
                name,
                default,
                t,
                e,
                c,
                replication_slots::ReplicationSlots,
            )?,
            "settings" => add(set, name, default, t, e, c, settings::Settings::default())?,
            "stat_activity" => add(set, name, default, t, e, c, stat_activity::StatActivity)?,
            "stat_archiver" => add(set, name, default, t, e, c, stat_archiver::StatArchiver)?,
            "stat_bgwriter" | "bgwriter" => {
                add(set, name, default, t, e, c, stat_bgwriter::StatBgwriter)?
            }
            "stat_checkpointer" => add(
                set,
                name,
                default,
                t,
                e,
                c,
                stat_checkpointer::StatCheckpointer,
            )?,
            "stat_database" => add(set, name, default, t, e, c, stat_database::StatDatabase)?,
            "stat_database_conflicts" => add(
                set,
                name,
                default,
                t,
                e,
                c,
                stat_database_conflicts::StatDatabaseConflicts,
            )?,
            "stat_replication" => add(
                set,
                name,
                default,
                t,
                e,
                c,
                stat_replication::StatReplication,
            )?,
            "stat_statements" => add(set, name, default, t, e, c, stat_statements::StatStatements)?,
            "stat_user_tables" => add(
                set,
                name,
                default,
                t,
                e,
                c,
                stat_user_tables::StatUserTables,
            )?,
            "statio_user_tables" => add(
                set,
                name,
                default,
                t,
                e,
                c,
                statio_user_tables::StatioUserTables,
            )?,
            other => return Err(CollectorSetError::Unknown(other.to_owned())),
        }
    }
    Ok(())
}

/// Runs a query, mapping its error for the collector set.
pub(crate) async fn query(
    cx: &Cx<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, CollectError> {
    cx.session
        .query(sql, params)
        .await
        .map_err(CollectError::new)
}

/// Runs a 0.11-style namespace (built-in map) and appends its families; non-convertible
/// values are logged at debug level, as upstream's non-fatal errors.
pub(crate) async fn run_namespace(
    cx: &Cx<'_>,
    ns: &crate::namespace::Namespace,
    out: &mut Vec<MetricFamily>,
) -> Result<(), CollectError> {
    let rows = query(cx, &ns.query, &[]).await?;
    let extra: Vec<(&str, &str)> = vec![("server", cx.server)];
    let converted = crate::namespace::convert(ns, &rows, &extra);
    for e in &converted.errors {
        tracing::debug!(namespace = %ns.name, err = %e, "non-fatal error converting a value");
    }
    out.extend(converted.families()?);
    Ok(())
}

/// A built-in namespace map from `(column, usage, description)` triples.
pub(crate) fn namespace(
    name: &str,
    query: &str,
    columns: &[(&str, crate::namespace::Usage, &str)],
) -> crate::namespace::Namespace {
    crate::namespace::Namespace {
        name: name.to_owned(),
        query: query.to_owned(),
        columns: columns
            .iter()
            .map(|(n, u, d)| crate::namespace::Column {
                name: (*n).to_owned(),
                usage: u.clone(),
                description: (*d).to_owned(),
            })
            .collect(),
    }
}
