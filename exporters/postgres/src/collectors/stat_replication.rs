//! `stat_replication`: each standby's position as seen from the primary.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

use super::{Cx, PgCollector, namespace, query, run_namespace};
use crate::cell::Cell;
use crate::namespace::Usage;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_stat_replication_pg_current_wal_lsn_bytes` and `_pg_wal_lsn_diff`, labelled by
/// `application_name`, `client_addr` (the address as PostgreSQL prints it, without the
/// `/32` upstream 0.20.1 added, #1352), `state` and `slot_name`. 0.11 ran `SELECT *` with
/// its own column map (untyped extra columns, `server`).
#[derive(Debug, Default)]
pub struct StatReplication;

const SQL: &str = "SELECT application_name, client_addr, state, s.slot_name, \
    (CASE pg_is_in_recovery() WHEN 't' THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_lsn('0/0')) \
     ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), pg_lsn('0/0')) END)::float8 AS pg_current_wal_lsn_bytes, \
    (CASE pg_is_in_recovery() WHEN 't' THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), replay_lsn) \
     ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) END)::float8 AS pg_wal_lsn_diff \
    FROM pg_stat_replication LEFT JOIN pg_replication_slots s ON s.active_pid = pg_stat_replication.pid";

const SQL_011: &str = "SELECT *, \
    (case pg_is_in_recovery() when 't' then null else pg_current_wal_lsn() end) AS pg_current_wal_lsn, \
    (case pg_is_in_recovery() when 't' then null else pg_wal_lsn_diff(pg_current_wal_lsn(), pg_lsn('0/0'))::float end) AS pg_current_wal_lsn_bytes, \
    (case pg_is_in_recovery() when 't' then null else pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float end) AS pg_wal_lsn_diff \
    FROM pg_stat_replication";

impl PgCollector for StatReplication {
    const NAME: &'static str = "stat_replication";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        if cx.legacy_server().is_some() {
            let d = Usage::Discard;
            let ns = namespace(
                "pg_stat_replication",
                SQL_011,
                &[
                    ("pid", d.clone(), "Process ID of a WAL sender process"),
                    (
                        "usesysid",
                        d.clone(),
                        "OID of the user logged into this WAL sender process",
                    ),
                    (
                        "usename",
                        d.clone(),
                        "Name of the user logged into this WAL sender process",
                    ),
                    (
                        "application_name",
                        Usage::Label,
                        "Name of the application that is connected to this WAL sender",
                    ),
                    (
                        "client_addr",
                        Usage::Label,
                        "IP address of the client connected to this WAL sender",
                    ),
                    (
                        "client_hostname",
                        d.clone(),
                        "Host name of the connected client",
                    ),
                    (
                        "client_port",
                        d.clone(),
                        "TCP port number that the client is using for communication with this WAL sender",
                    ),
                    (
                        "backend_start",
                        d.clone(),
                        "Time when this process was started",
                    ),
                    (
                        "backend_xmin",
                        d.clone(),
                        "The current backend's xmin horizon.",
                    ),
                    ("state", Usage::Label, "Current WAL sender state"),
                    (
                        "sent_lsn",
                        d.clone(),
                        "Last transaction log position sent on this connection",
                    ),
                    (
                        "write_lsn",
                        d.clone(),
                        "Last transaction log position written to disk by this standby server",
                    ),
                    (
                        "flush_lsn",
                        d.clone(),
                        "Last transaction log position flushed to disk by this standby server",
                    ),
                    (
                        "replay_lsn",
                        d.clone(),
                        "Last transaction log position replayed into the database on this standby server",
                    ),
                    (
                        "sync_priority",
                        d.clone(),
                        "Priority of this standby server for being chosen as the synchronous standby",
                    ),
                    (
                        "sync_state",
                        d.clone(),
                        "Synchronous state of this standby server",
                    ),
                    (
                        "slot_name",
                        Usage::Label,
                        "A unique, cluster-wide identifier for the replication slot",
                    ),
                    ("pg_current_wal_lsn", d.clone(), "pg_current_xlog_location"),
                    (
                        "pg_current_wal_lsn_bytes",
                        Usage::Gauge,
                        "WAL position in bytes",
                    ),
                    (
                        "pg_wal_lsn_diff",
                        Usage::Gauge,
                        "Lag in bytes between master and slave",
                    ),
                    (
                        "write_lag",
                        d.clone(),
                        "Time elapsed between flushing recent WAL locally and receiving notification that this standby server has written it",
                    ),
                    (
                        "flush_lag",
                        d.clone(),
                        "Time elapsed between flushing recent WAL locally and receiving notification that this standby server has written and flushed it",
                    ),
                    (
                        "replay_lag",
                        d,
                        "Time elapsed between flushing recent WAL locally and receiving notification that this standby server has written, flushed and applied it",
                    ),
                ],
            );
            return run_namespace(cx, &ns, out).await;
        }
        let rows = query(cx, SQL, &[]).await?;
        let labels = ["application_name", "client_addr", "state", "slot_name"];
        let mut f = FamilySet::new(Naming::AsGiven);
        for row in &rows {
            let c = |i: usize| row.get::<_, Cell>(i);
            let values: Vec<String> = (0..4).map(|i| c(i).to_label()).collect();
            if let Some(v) = c(4).non_null_f64() {
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_replication_pg_current_wal_lsn_bytes",
                    "WAL position in bytes",
                    &labels,
                    &values,
                    v,
                );
            }
            if let Some(v) = c(5).non_null_f64() {
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_replication_pg_wal_lsn_diff",
                    "Lag in bytes between master and slave",
                    &labels,
                    &values,
                    v,
                );
            }
        }
        f.finish(out);
        Ok(())
    }
}
