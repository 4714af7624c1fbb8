//! `stat_database`: per-database activity counters (`pg_stat_database`).

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

use super::{Cx, PgCollector, namespace, query, run_namespace};
use crate::cell::Cell;
use crate::namespace::Usage;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// Upstream's explicit column list with `{datid,datname}` (rows without a database name,
/// the shared-objects row, are skipped); 0.11's `SELECT *` with `server`, where columns it
/// did not know (`sessions`, `active_time`, ...) come out untyped with HELP
/// `Unknown metric from pg_stat_database` and NULLs as NaN.
#[derive(Debug, Default)]
pub struct StatDatabase;

/// `(column, kind, HELP)` in upstream's order.
const COLUMNS: [(&str, MetricKind, &str); 17] = [
    (
        "numbackends",
        MetricKind::Gauge,
        "Number of backends currently connected to this database. This is the only column in this view that returns a value reflecting current state; all other columns return the accumulated values since the last reset.",
    ),
    (
        "xact_commit",
        MetricKind::Counter,
        "Number of transactions in this database that have been committed",
    ),
    (
        "xact_rollback",
        MetricKind::Counter,
        "Number of transactions in this database that have been rolled back",
    ),
    (
        "blks_read",
        MetricKind::Counter,
        "Number of disk blocks read in this database",
    ),
    (
        "blks_hit",
        MetricKind::Counter,
        "Number of times disk blocks were found already in the buffer cache, so that a read was not necessary (this only includes hits in the PostgreSQL buffer cache, not the operating system's file system cache)",
    ),
    (
        "tup_returned",
        MetricKind::Counter,
        "Number of rows returned by queries in this database",
    ),
    (
        "tup_fetched",
        MetricKind::Counter,
        "Number of rows fetched by queries in this database",
    ),
    (
        "tup_inserted",
        MetricKind::Counter,
        "Number of rows inserted by queries in this database",
    ),
    (
        "tup_updated",
        MetricKind::Counter,
        "Number of rows updated by queries in this database",
    ),
    (
        "tup_deleted",
        MetricKind::Counter,
        "Number of rows deleted by queries in this database",
    ),
    (
        "conflicts",
        MetricKind::Counter,
        "Number of queries canceled due to conflicts with recovery in this database. (Conflicts occur only on standby servers; see pg_stat_database_conflicts for details.)",
    ),
    (
        "temp_files",
        MetricKind::Counter,
        "Number of temporary files created by queries in this database. All temporary files are counted, regardless of why the temporary file was created (e.g., sorting or hashing), and regardless of the log_temp_files setting.",
    ),
    (
        "temp_bytes",
        MetricKind::Counter,
        "Total amount of data written to temporary files by queries in this database. All temporary files are counted, regardless of why the temporary file was created, and regardless of the log_temp_files setting.",
    ),
    (
        "deadlocks",
        MetricKind::Counter,
        "Number of deadlocks detected in this database",
    ),
    (
        "blk_read_time",
        MetricKind::Counter,
        "Time spent reading data file blocks by backends in this database, in milliseconds",
    ),
    (
        "blk_write_time",
        MetricKind::Counter,
        "Time spent writing data file blocks by backends in this database, in milliseconds",
    ),
    (
        "stats_reset",
        MetricKind::Counter,
        "Time at which these statistics were last reset",
    ),
];

impl PgCollector for StatDatabase {
    const NAME: &'static str = "stat_database";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        if cx.legacy_server().is_some() {
            let mut columns = vec![
                ("datid", Usage::Label, "OID of a database"),
                ("datname", Usage::Label, "Name of this database"),
            ];
            for (c, k, help) in COLUMNS {
                columns.push((
                    c,
                    if k == MetricKind::Gauge {
                        Usage::Gauge
                    } else {
                        Usage::Counter
                    },
                    help,
                ));
            }
            let ns = namespace(
                "pg_stat_database",
                "SELECT * FROM pg_stat_database",
                &columns,
            );
            return run_namespace(cx, &ns, out).await;
        }
        let active = cx.session.version().at_least(14, 0);
        let mut list: Vec<&str> = vec!["datid", "datname"];
        list.extend(COLUMNS.iter().map(|(c, _, _)| *c));
        if active {
            list.push("active_time");
        }
        let rows = query(
            cx,
            &format!("SELECT {} FROM pg_stat_database", list.join(", ")),
            &[],
        )
        .await?;
        let labels = ["datid", "datname"];
        let mut f = FamilySet::new(Naming::AsGiven);
        for row in &rows {
            let c = |i: usize| row.get::<_, Cell>(i);
            if c(0).is_null() || c(1).is_null() {
                continue;
            }
            // Upstream skips a row where any counter is NULL; stats_reset NULL is 0.
            let n = COLUMNS.len();
            if (2..2 + n - 1).any(|i| c(i).is_null()) || (active && c(2 + n).is_null()) {
                continue;
            }
            let (datid, datname) = (c(0).to_label(), c(1).to_label());
            let values = [datid.as_str(), datname.as_str()];
            for (i, (col, kind, help)) in COLUMNS.iter().enumerate() {
                let v = c(2 + i).non_null_f64().unwrap_or(0.0);
                f.add(
                    *kind,
                    &format!("pg_stat_database_{col}"),
                    help,
                    &labels,
                    &values,
                    v,
                );
            }
            if active {
                let ms = c(2 + n).non_null_f64().unwrap_or(0.0);
                f.add(
                    MetricKind::Counter,
                    "pg_stat_database_active_time_seconds_total",
                    "Time spent executing SQL statements in this database, in seconds",
                    &labels,
                    &values,
                    ms / 1000.0,
                );
            }
        }
        f.finish(out);
        Ok(())
    }
}
