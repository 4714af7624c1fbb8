//! `database`: size and connection limit of each database (`pg_database`).

use std::collections::HashMap;
use std::time::Instant;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;
use parking_lot::Mutex;

use super::{Cx, PgCollector, query};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// Upstream's `pg_database` collector; honours the database filters. 0.11 had no
/// `pg_database_connection_limit` and put `server` on the size.
///
/// `pg_database_size()` reads the size of every file of every database, the most expensive
/// query of a scrape on a large cluster; sizes are reused for `--collector.database.size-cache`
/// (a new database is measured at once; 0 measures at every scrape).
#[derive(Debug, Default)]
pub struct Database {
    sizes: Mutex<Option<(Instant, HashMap<String, f64>)>>,
}

const FILTER: &str =
    "WHERE NOT (datname = ANY($1)) AND (cardinality($2::text[]) = 0 OR datname = ANY($2))";

impl PgCollector for Database {
    const NAME: &'static str = "database";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
            [&cx.config.exclude_databases, &cx.config.include_databases];
        let ttl = cx.config.database_size_cache;
        let fresh = self
            .sizes
            .lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, sizes)| sizes.clone());
        let list = format!("SELECT datname, datconnlimit FROM pg_database {FILTER}");
        let measure = format!(
            "SELECT datname, datconnlimit, pg_database_size(datname)::float8 FROM pg_database {FILTER}"
        );
        let (rows, sizes) = match fresh {
            Some(sizes) => {
                let rows = query(cx, &list, &params).await?;
                let all_known = rows
                    .iter()
                    .all(|r| sizes.contains_key(&r.get::<_, Cell>(0).to_label()));
                if all_known {
                    (rows, Some(sizes))
                } else {
                    (query(cx, &measure, &params).await?, None)
                }
            }
            None => (query(cx, &measure, &params).await?, None),
        };
        let sizes = match sizes {
            Some(s) => s,
            None => {
                let measured: HashMap<String, f64> = rows
                    .iter()
                    .map(|r| {
                        let size = r.get::<_, Cell>(2).non_null_f64().unwrap_or(0.0);
                        (r.get::<_, Cell>(0).to_label(), size)
                    })
                    .collect();
                if !ttl.is_zero() {
                    *self.sizes.lock() = Some((Instant::now(), measured.clone()));
                }
                measured
            }
        };
        let mut f = FamilySet::new(Naming::AsGiven);
        let server = cx.legacy_server();
        for row in &rows {
            let datname = row.get::<_, Cell>(0).to_label();
            let size = sizes.get(&datname).copied().unwrap_or(0.0);
            match server {
                Some(s) => f.add(
                    MetricKind::Gauge,
                    "pg_database_size_bytes",
                    "Disk space used by the database",
                    &["datname", "server"],
                    &[datname.as_str(), s],
                    size,
                ),
                None => {
                    let limit = row.get::<_, Cell>(1).non_null_f64().unwrap_or(0.0);
                    f.add(
                        MetricKind::Gauge,
                        "pg_database_connection_limit",
                        "Connection limit set for the database",
                        &["datname"],
                        &[datname.as_str()],
                        limit,
                    );
                    f.add(
                        MetricKind::Gauge,
                        "pg_database_size_bytes",
                        "Disk space used by the database",
                        &["datname"],
                        &[datname.as_str()],
                        size,
                    );
                }
            }
        }
        f.finish(out);
        Ok(())
    }
}
