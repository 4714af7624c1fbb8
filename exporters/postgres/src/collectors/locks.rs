//! `locks`: lock counts per database and mode, every mode present for every database.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

use super::{Cx, PgCollector, query};
use super::{values_with_server, with_server};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_locks_count{datname,mode}`, zero-filled for the nine lock modes.
#[derive(Debug, Default)]
pub struct Locks;

const SQL: &str = "SELECT pg_database.datname, tmp.mode, COALESCE(count, 0)::float8 AS count \
    FROM (VALUES ('accesssharelock'), ('rowsharelock'), ('rowexclusivelock'), \
                 ('shareupdateexclusivelock'), ('sharelock'), ('sharerowexclusivelock'), \
                 ('exclusivelock'), ('accessexclusivelock'), ('sireadlock')) AS tmp(mode) \
    CROSS JOIN pg_database \
    LEFT JOIN (SELECT database, lower(mode) AS mode, count(*) AS count FROM pg_locks \
               WHERE database IS NOT NULL GROUP BY database, lower(mode)) AS tmp2 \
      ON tmp.mode = tmp2.mode AND pg_database.oid = tmp2.database \
    ORDER BY 1";

impl PgCollector for Locks {
    const NAME: &'static str = "locks";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let rows = query(cx, SQL, &[]).await?;
        let server = cx.legacy_server();
        let labels = with_server(&["datname", "mode"], server);
        let mut f = FamilySet::new(Naming::AsGiven);
        for row in &rows {
            let (datname, mode) = (row.get::<_, Cell>(0), row.get::<_, Cell>(1));
            if datname.is_null() || mode.is_null() {
                continue;
            }
            let (d, m) = (datname.to_label(), mode.to_label());
            let count = row.get::<_, Cell>(2).non_null_f64().unwrap_or(0.0);
            f.add(
                MetricKind::Gauge,
                "pg_locks_count",
                "Number of locks",
                &labels,
                &values_with_server(&[&d, &m], server),
                count,
            );
        }
        f.finish(out);
        Ok(())
    }
}
