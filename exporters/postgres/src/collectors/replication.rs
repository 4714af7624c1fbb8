//! `replication`: whether the server is a replica and how far it lags.

use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS};
use aiplatform_prometheus::CollectError;

use super::{Cx, PgCollector, query};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// Upstream's `pg_replication_lag_seconds`, `pg_replication_is_replica`,
/// `pg_replication_last_replay_seconds`, plus `pg_replication_lag` (the name 0.11's
/// queries.yaml gives it, which dashboards written for that file read). A primary reports lag 0; a replica that has replayed
/// everything it received reports 0 too (upstream #977) while `last_replay_seconds` keeps
/// growing on an idle primary, so both are exported (upstream #385, #907).
#[derive(Debug, Default)]
pub struct Replication;

const SQL: &str = "SELECT \
    CASE WHEN NOT pg_is_in_recovery() THEN 0 \
         WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
         ELSE GREATEST(0, EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))) END::float8 AS lag, \
    CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END::float8 AS is_replica, \
    GREATEST(0, EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())))::float8 AS last_replay, \
    CASE WHEN NOT pg_is_in_recovery() THEN 0 \
         ELSE GREATEST(0, EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))) END::float8 AS lag_011";

const LAG_HELP: &str = "Replication lag behind master in seconds";

impl PgCollector for Replication {
    const NAME: &'static str = "replication";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let rows = query(cx, SQL, &[]).await?;
        let Some(row) = rows.first() else {
            return Ok(());
        };
        let v = |i: usize| row.get::<_, Cell>(i).non_null_f64();
        let mut f = FamilySet::new(Naming::AsGiven);
        match cx.legacy_server() {
            Some(server) => {
                // 0.11.1's queries.yaml: NULL (a replica that never replayed) is NaN there.
                let lag = row.get::<_, Cell>(3).to_f64().unwrap_or(f64::NAN);
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_lag",
                    LAG_HELP,
                    &["server"],
                    &[server],
                    lag,
                );
            }
            None => {
                let lag = v(0).unwrap_or(0.0);
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_lag_seconds",
                    LAG_HELP,
                    &[],
                    NO_LABELS,
                    lag,
                );
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_lag",
                    LAG_HELP,
                    &[],
                    NO_LABELS,
                    lag,
                );
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_is_replica",
                    "Indicates if the server is a replica",
                    &[],
                    NO_LABELS,
                    v(1).unwrap_or(0.0),
                );
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_last_replay_seconds",
                    "Age of last replay in seconds",
                    &[],
                    NO_LABELS,
                    v(2).unwrap_or(0.0),
                );
            }
        }
        f.finish(out);
        Ok(())
    }
}
