//! The collectors, one per file, each a query and its conversion, with upstream's names.
//!
//! A collector implements [`PgCollector`]: given an open [`Session`] and the [`Config`] (name
//! profile, database filters, options), it appends families. [`register_all`] binds every
//! collector of [`COLLECTORS`] to one [`Target`] and registers it in a [`CollectorSet`] with
//! upstream's default (enabled or not), so `/metrics` and each `/probe` target get the same
//! collectors.

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
    CollectError, CollectorSet, CollectorSetError, Compat, DefaultState, ScrapeCollector,
    ScrapeContext,
};

use crate::config::Config;
use crate::self_metrics::ScrapeClock;
use crate::target::{Session, Target};

pub use settings::{SettingsUnit, parse_unit};
pub use stat_statements::StatStatementsOptions;

/// What one collector run sees.
#[derive(Debug)]
pub struct Cx<'a> {
    /// The open connection.
    pub session: &'a Session,
    /// The collectors' settings.
    pub config: &'a Config,
    /// `host:port` of the target.
    pub server: &'a str,
}

impl Cx<'_> {
    /// The `server` label value when the profile puts it on every series (0.11).
    pub fn legacy_server(&self) -> Option<&str> {
        self.config.compat.is_debian12().then_some(self.server)
    }
}

/// Label names with `server` added last when `server` is given.
pub(crate) fn with_server<'a>(labels: &[&'a str], server: Option<&'a str>) -> Vec<&'a str> {
    let mut v = labels.to_vec();
    if server.is_some() {
        v.push("server");
    }
    v
}

/// Label values with the server's value appended when given.
pub(crate) fn values_with_server(values: &[&str], server: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
    if let Some(s) = server {
        v.push(s.to_owned());
    }
    v
}

/// A PostgreSQL collector: a query and its conversion, registered by name in
/// [`COLLECTORS`] with upstream's default. Given an open session and the [`Config`], it
/// appends families.
pub trait PgCollector: Default + Send + Sync + 'static {
    /// The name: `--collector.<NAME>`, `collector="<NAME>"`.
    const NAME: &'static str;
    /// Whether it runs unless disabled.
    const DEFAULT: DefaultState = DefaultState::Enabled;

    /// The name under `compat` ([`NAME`](Self::NAME) unless postgres_exporter 0.11 called it
    /// otherwise).
    fn name(compat: Compat) -> &'static str {
        let _ = compat;
        Self::NAME
    }

    /// Appends this collector's families.
    fn collect(
        &self,
        cx: &Cx<'_>,
        out: &mut Vec<MetricFamily>,
    ) -> impl Future<Output = Result<(), CollectError>> + Send;
}

/// What a collector is bound to: one target, the shared settings, and the target's scrapes.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The server.
    pub target: Arc<Target>,
    /// The collectors' settings.
    pub config: Arc<Config>,
    /// The scrapes of the target.
    pub clock: Arc<ScrapeClock>,
}

/// A collector bound to a target, as the collector set runs it.
struct Bound<C> {
    binding: Binding,
    collector: C,
}

impl<C: PgCollector> ScrapeCollector for Bound<C> {
    async fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        let b = &self.binding;
        let run = b.clock.begin();
        let started = Instant::now();
        let result = async {
            let session = b
                .target
                .session(started, ctx.deadline())
                .await
                .map_err(CollectError::new)?;
            let cx = Cx {
                session: &session,
                config: &b.config,
                server: b.target.server_label(),
            };
            self.collector.collect(&cx, out).await
        }
        .await;
        run.finish(result.is_ok());
        result
    }
}

/// A collector's name, default and registration, as [`COLLECTORS`] lists it.
#[derive(Debug, Clone, Copy)]
pub struct CollectorSpec {
    name: fn(Compat) -> &'static str,
    /// Whether it runs unless disabled.
    pub default: DefaultState,
    register: fn(&mut CollectorSet, &'static str, &Binding) -> Result<(), CollectorSetError>,
}

impl CollectorSpec {
    /// The entry of collector type `C`.
    pub const fn of<C: PgCollector>() -> CollectorSpec {
        CollectorSpec {
            name: C::name,
            default: C::DEFAULT,
            register: register::<C>,
        }
    }

    /// The name under `compat`.
    pub fn name(&self, compat: Compat) -> &'static str {
        (self.name)(compat)
    }
}

fn register<C: PgCollector>(
    set: &mut CollectorSet,
    name: &'static str,
    binding: &Binding,
) -> Result<(), CollectorSetError> {
    set.register(
        name,
        C::DEFAULT,
        Bound {
            binding: binding.clone(),
            collector: C::default(),
        },
    )?;
    Ok(())
}

/// Every collector, in upstream's order.
pub const COLLECTORS: &[CollectorSpec] = &[
    CollectorSpec::of::<database::Database>(),
    CollectorSpec::of::<locks::Locks>(),
    CollectorSpec::of::<postmaster::Postmaster>(),
    CollectorSpec::of::<queries::Queries>(),
    CollectorSpec::of::<replication::Replication>(),
    CollectorSpec::of::<replication_slots::ReplicationSlots>(),
    CollectorSpec::of::<settings::Settings>(),
    CollectorSpec::of::<stat_activity::StatActivity>(),
    CollectorSpec::of::<stat_archiver::StatArchiver>(),
    CollectorSpec::of::<stat_bgwriter::StatBgwriter>(),
    CollectorSpec::of::<stat_checkpointer::StatCheckpointer>(),
    CollectorSpec::of::<stat_database::StatDatabase>(),
    CollectorSpec::of::<stat_database_conflicts::StatDatabaseConflicts>(),
    CollectorSpec::of::<stat_replication::StatReplication>(),
    CollectorSpec::of::<stat_statements::StatStatements>(),
    CollectorSpec::of::<stat_user_tables::StatUserTables>(),
    CollectorSpec::of::<statio_user_tables::StatioUserTables>(),
];

/// The collector names and defaults under `compat`.
pub fn names(compat: Compat) -> impl Iterator<Item = (&'static str, DefaultState)> {
    COLLECTORS.iter().map(move |s| (s.name(compat), s.default))
}

/// Registers every collector, bound to one target, under its name for the configuration's
/// profile and with its default.
pub fn register_all(set: &mut CollectorSet, binding: &Binding) -> Result<(), CollectorSetError> {
    for spec in COLLECTORS {
        (spec.register)(set, spec.name(binding.config.compat), binding)?;
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
