//! `statio_user_tables`: block I/O of the connected database's tables.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

use super::stat_user_tables::table_label_values;
use super::with_server;
use super::{Cx, PgCollector, query};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_statio_user_tables_{heap,idx,toast,tidx}_blocks_{read,hit}` (0.11: `_blks_`).
#[derive(Debug, Default)]
pub struct StatioUserTables;

const COLUMNS: [(&str, &str); 8] = [
    (
        "heap_blks_read",
        "Number of disk blocks read from this table",
    ),
    ("heap_blks_hit", "Number of buffer hits in this table"),
    (
        "idx_blks_read",
        "Number of disk blocks read from all indexes on this table",
    ),
    (
        "idx_blks_hit",
        "Number of buffer hits in all indexes on this table",
    ),
    (
        "toast_blks_read",
        "Number of disk blocks read from this table's TOAST table (if any)",
    ),
    (
        "toast_blks_hit",
        "Number of buffer hits in this table's TOAST table (if any)",
    ),
    (
        "tidx_blks_read",
        "Number of disk blocks read from this table's TOAST table indexes (if any)",
    ),
    (
        "tidx_blks_hit",
        "Number of buffer hits in this table's TOAST table indexes (if any)",
    ),
];

impl PgCollector for StatioUserTables {
    const NAME: &'static str = "statio_user_tables";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let list: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
        let sql = format!(
            "SELECT current_database() AS datname, schemaname, relname, {} FROM pg_statio_user_tables",
            list.join(", ")
        );
        let rows = query(cx, &sql, &[]).await?;
        let server = cx.legacy_server();
        let labels = with_server(&["datname", "schemaname", "relname"], server);
        let mut f = FamilySet::new(Naming::AsGiven);
        for row in &rows {
            let c = |i: usize| row.get::<_, Cell>(i);
            let values = table_label_values(row, server);
            for (i, (col, help)) in COLUMNS.iter().enumerate() {
                let name = if server.is_some() {
                    (*col).to_owned()
                } else {
                    col.replace("_blks_", "_blocks_")
                };
                // NULL (no TOAST table) is 0 upstream, NaN in 0.11's queries.yaml.
                let v = match server {
                    Some(_) => c(3 + i).to_f64().unwrap_or(f64::NAN),
                    None => c(3 + i).non_null_f64().unwrap_or(0.0),
                };
                f.add(
                    MetricKind::Counter,
                    &format!("pg_statio_user_tables_{name}"),
                    help,
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
