//! `replication_slots`: state and retained WAL of each replication slot.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

use super::{Cx, PgCollector, namespace, query, run_namespace};
use crate::cell::Cell;
use crate::namespace::Usage;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// Upstream's `pg_replication_slots_*`; 0.11's `{slot_name,database,server}` pair.
#[derive(Debug, Default)]
pub struct ReplicationSlots;

const SQL: &str = "SELECT slot_name, database, active, \
    (CASE pg_is_in_recovery() WHEN 't' THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), restart_lsn) \
     ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END)::float8 AS pg_wal_lsn_diff, \
    slot_type, \
    (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() - '0/0' \
     ELSE pg_current_wal_lsn() - '0/0' END)::float8 AS current_wal_lsn, \
    (COALESCE(confirmed_flush_lsn, '0/0') - '0/0')::float8 AS confirmed_flush_lsn, \
    {SAFE} \
    FROM pg_replication_slots";

const SQL_011: &str = "SELECT slot_name, database, active, \
    pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots";

impl PgCollector for ReplicationSlots {
    const NAME: &'static str = "replication_slots";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        if cx.legacy_server().is_some() {
            let ns = namespace(
                "pg_replication_slots",
                SQL_011,
                &[
                    ("slot_name", Usage::Label, "Name of the replication slot"),
                    ("database", Usage::Label, "Name of the database"),
                    (
                        "active",
                        Usage::Gauge,
                        "Flag indicating if the slot is active",
                    ),
                    ("pg_wal_lsn_diff", Usage::Gauge, "Replication lag in bytes"),
                ],
            );
            return run_namespace(cx, &ns, out).await;
        }
        // safe_wal_size and wal_status exist from PostgreSQL 13.
        let safe = if cx.session.version().at_least(13, 0) {
            "safe_wal_size, wal_status"
        } else {
            "NULL::int8 AS safe_wal_size, NULL::text AS wal_status"
        };
        let rows = query(cx, &SQL.replace("{SAFE}", safe), &[]).await?;
        let mut f = FamilySet::new(Naming::AsGiven);
        for row in &rows {
            let c = |i: usize| row.get::<_, Cell>(i);
            let slot = c(0).to_label();
            let database = c(1).to_label();
            let unknown = |cell: Cell| {
                if cell.is_null() {
                    "unknown".to_owned()
                } else {
                    cell.to_label()
                }
            };
            let (slot_u, slot_type) = (unknown(c(0)), unknown(c(4)));
            let active = match c(2) {
                Cell::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
                _ => None,
            };
            let pair = [slot.as_str(), database.as_str()];
            let typed = [slot_u.as_str(), slot_type.as_str()];
            if let Some(a) = active {
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_slots_active",
                    "Flag indicating if the slot is active",
                    &["slot_name", "database"],
                    &pair,
                    a,
                );
            }
            if let Some(d) = c(3).non_null_f64() {
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_slots_pg_wal_lsn_diff",
                    "Replication lag in bytes",
                    &["slot_name", "database"],
                    &pair,
                    d,
                );
            }
            if let Some(l) = c(5).non_null_f64() {
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_slots_slot_current_wal_lsn",
                    "current wal lsn value",
                    &["slot_name", "slot_type"],
                    &typed,
                    l,
                );
            }
            if active == Some(1.0)
                && let Some(l) = c(6).non_null_f64()
            {
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_slots_slot_confirmed_flush_lsn",
                    "last lsn confirmed flushed to the replication slot",
                    &["slot_name", "slot_type"],
                    &typed,
                    l,
                );
            }
            if let Some(a) = active {
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_slots_slot_is_active",
                    "whether the replication slot is active or not",
                    &["slot_name", "slot_type"],
                    &typed,
                    a,
                );
            }
            if let Some(s) = c(7).non_null_f64() {
                f.add(MetricKind::Gauge, "pg_replication_slots_safe_wal_size_bytes",
                    "number of bytes that can be written to WAL such that this slot is not in danger of getting in state lost",
                    &["slot_name", "slot_type"], &typed, s);
            }
            if let Cell::Text(status) = c(8) {
                f.add(
                    MetricKind::Gauge,
                    "pg_replication_slots_wal_status",
                    "availability of WAL files claimed by this slot",
                    &["slot_name", "slot_type", "wal_status"],
                    &[typed[0], typed[1], status.as_str()],
                    1.0,
                );
            }
        }
        f.finish(out);
        Ok(())
    }
}
