//! `stat_archiver`: WAL archiving counts and the age of the last archived segment.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

use super::{Cx, PgCollector, namespace, query, run_namespace};
use crate::cell::Cell;
use crate::namespace::Usage;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_stat_archiver_archived_count`, `_failed_count`, `_last_archive_age`.
#[derive(Debug, Default)]
pub struct StatArchiver;

impl PgCollector for StatArchiver {
    const NAME: &'static str = "stat_archiver";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        if cx.legacy_server().is_some() {
            let ns = namespace(
                "pg_stat_archiver",
                "SELECT *, extract(epoch from now() - last_archived_time) AS last_archive_age FROM pg_stat_archiver",
                &[
                    (
                        "archived_count",
                        Usage::Counter,
                        "Number of WAL files that have been successfully archived",
                    ),
                    (
                        "last_archived_wal",
                        Usage::Discard,
                        "Name of the last WAL file successfully archived",
                    ),
                    (
                        "last_archived_time",
                        Usage::Discard,
                        "Time of the last successful archive operation",
                    ),
                    (
                        "failed_count",
                        Usage::Counter,
                        "Number of failed attempts for archiving WAL files",
                    ),
                    (
                        "last_failed_wal",
                        Usage::Discard,
                        "Name of the WAL file of the last failed archival operation",
                    ),
                    (
                        "last_failed_time",
                        Usage::Discard,
                        "Time of the last failed archival operation",
                    ),
                    (
                        "stats_reset",
                        Usage::Discard,
                        "Time at which these statistics were last reset",
                    ),
                    (
                        "last_archive_age",
                        Usage::Gauge,
                        "Time in seconds since last WAL segment was successfully archived",
                    ),
                ],
            );
            return run_namespace(cx, &ns, out).await;
        }
        let rows = query(
            cx,
            "SELECT archived_count, failed_count, \
             extract(epoch from now() - last_archived_time)::float8 AS last_archive_age FROM pg_stat_archiver",
            &[],
        )
        .await?;
        let mut f = FamilySet::new(Naming::AsGiven);
        if let Some(row) = rows.first() {
            let c = |i: usize| row.get::<_, Cell>(i).non_null_f64();
            let none: &[&str] = &[];
            if let Some(v) = c(0) {
                f.add(
                    MetricKind::Counter,
                    "pg_stat_archiver_archived_count",
                    "Number of WAL files that have been successfully archived",
                    none,
                    none,
                    v,
                );
            }
            if let Some(v) = c(1) {
                f.add(
                    MetricKind::Counter,
                    "pg_stat_archiver_failed_count",
                    "Number of failed attempts for archiving WAL files",
                    none,
                    none,
                    v,
                );
            }
            if let Some(v) = c(2) {
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_archiver_last_archive_age",
                    "Time in seconds since last WAL segment was successfully archived",
                    none,
                    none,
                    v,
                );
            }
        }
        f.finish(out);
        Ok(())
    }
}
