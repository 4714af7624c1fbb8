//! `stat_user_tables`: access and maintenance statistics of the connected database's tables.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

use super::with_server;
use super::{Cx, PgCollector, query};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// The `datname`, `schemaname`, `relname` (`unknown` when NULL, as upstream) and, in the
/// debian12 profile, `server` label values of a `pg_stat*_user_tables` row whose first three
/// columns are those names.
pub(super) fn table_label_values(row: &tokio_postgres::Row, server: Option<&str>) -> Vec<String> {
    let label = |i: usize| {
        let cell = row.get::<_, Cell>(i);
        if cell.is_null() {
            "unknown".to_owned()
        } else {
            cell.to_label()
        }
    };
    let mut values = vec![label(0), label(1), label(2)];
    values.extend(server.map(str::to_owned));
    values
}

/// `pg_stat_user_tables_*{datname,schemaname,relname}` (0.11's queries.yaml names, plus
/// upstream's `index_size_bytes` and `table_size_bytes` outside the 0.11 profile).
#[derive(Debug, Default)]
pub struct StatUserTables;

const COLUMNS: [(&str, MetricKind, &str); 19] = [
    (
        "seq_scan",
        MetricKind::Counter,
        "Number of sequential scans initiated on this table",
    ),
    (
        "seq_tup_read",
        MetricKind::Counter,
        "Number of live rows fetched by sequential scans",
    ),
    (
        "idx_scan",
        MetricKind::Counter,
        "Number of index scans initiated on this table",
    ),
    (
        "idx_tup_fetch",
        MetricKind::Counter,
        "Number of live rows fetched by index scans",
    ),
    ("n_tup_ins", MetricKind::Counter, "Number of rows inserted"),
    ("n_tup_upd", MetricKind::Counter, "Number of rows updated"),
    ("n_tup_del", MetricKind::Counter, "Number of rows deleted"),
    (
        "n_tup_hot_upd",
        MetricKind::Counter,
        "Number of rows HOT updated (i.e., with no separate index update required)",
    ),
    (
        "n_live_tup",
        MetricKind::Gauge,
        "Estimated number of live rows",
    ),
    (
        "n_dead_tup",
        MetricKind::Gauge,
        "Estimated number of dead rows",
    ),
    (
        "n_mod_since_analyze",
        MetricKind::Gauge,
        "Estimated number of rows changed since last analyze",
    ),
    (
        "last_vacuum",
        MetricKind::Gauge,
        "Last time at which this table was manually vacuumed (not counting VACUUM FULL)",
    ),
    (
        "last_autovacuum",
        MetricKind::Gauge,
        "Last time at which this table was vacuumed by the autovacuum daemon",
    ),
    (
        "last_analyze",
        MetricKind::Gauge,
        "Last time at which this table was manually analyzed",
    ),
    (
        "last_autoanalyze",
        MetricKind::Gauge,
        "Last time at which this table was analyzed by the autovacuum daemon",
    ),
    (
        "vacuum_count",
        MetricKind::Counter,
        "Number of times this table has been manually vacuumed (not counting VACUUM FULL)",
    ),
    (
        "autovacuum_count",
        MetricKind::Counter,
        "Number of times this table has been vacuumed by the autovacuum daemon",
    ),
    (
        "analyze_count",
        MetricKind::Counter,
        "Number of times this table has been manually analyzed",
    ),
    (
        "autoanalyze_count",
        MetricKind::Counter,
        "Number of times this table has been analyzed by the autovacuum daemon",
    ),
];

impl PgCollector for StatUserTables {
    const NAME: &'static str = "stat_user_tables";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let list: Vec<String> = COLUMNS
            .iter()
            .map(|(c, _, _)| {
                if c.starts_with("last_") {
                    format!("COALESCE({c}, '1970-01-01Z') AS {c}")
                } else {
                    (*c).to_owned()
                }
            })
            .collect();
        let sql = format!(
            "SELECT current_database() AS datname, schemaname, relname, {}, \
             pg_indexes_size(relid)::float8 AS indexes_size, pg_table_size(relid)::float8 AS table_size \
             FROM pg_stat_user_tables",
            list.join(", ")
        );
        let rows = query(cx, &sql, &[]).await?;
        let server = cx.legacy_server();
        let labels = with_server(&["datname", "schemaname", "relname"], server);
        let mut f = FamilySet::new(Naming::AsGiven);
        for row in &rows {
            let c = |i: usize| row.get::<_, Cell>(i);
            let values = table_label_values(row, server);
            for (i, (col, kind, help)) in COLUMNS.iter().enumerate() {
                let v = c(3 + i).non_null_f64().unwrap_or(0.0);
                f.add(
                    *kind,
                    &format!("pg_stat_user_tables_{col}"),
                    help,
                    &labels,
                    &values,
                    v,
                );
            }
            if server.is_none() {
                let n = 3 + COLUMNS.len();
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_user_tables_index_size_bytes",
                    "Total disk space used by this index, in bytes",
                    &labels,
                    &values,
                    c(n).non_null_f64().unwrap_or(0.0),
                );
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_user_tables_table_size_bytes",
                    "Total disk space used by this table, in bytes",
                    &labels,
                    &values,
                    c(n + 1).non_null_f64().unwrap_or(0.0),
                );
            }
        }
        f.finish(out);
        Ok(())
    }
}
