//! `stat_database_conflicts`: queries cancelled on a standby, by cause.

use aiplatform_metrics::MetricFamily;
use aiplatform_prometheus::CollectError;

use super::{Cx, PgCollector, namespace, run_namespace};
use crate::namespace::Usage;

/// `pg_stat_database_conflicts_confl_*{datid,datname,server}`: still a legacy map upstream,
/// so it keeps the `server` label in both profiles.
#[derive(Debug, Default)]
pub struct StatDatabaseConflicts;

impl PgCollector for StatDatabaseConflicts {
    const NAME: &'static str = "stat_database_conflicts";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let ns = namespace(
            "pg_stat_database_conflicts",
            "SELECT * FROM pg_stat_database_conflicts",
            &[
                ("datid", Usage::Label, "OID of a database"),
                ("datname", Usage::Label, "Name of this database"),
                (
                    "confl_tablespace",
                    Usage::Counter,
                    "Number of queries in this database that have been canceled due to dropped tablespaces",
                ),
                (
                    "confl_lock",
                    Usage::Counter,
                    "Number of queries in this database that have been canceled due to lock timeouts",
                ),
                (
                    "confl_snapshot",
                    Usage::Counter,
                    "Number of queries in this database that have been canceled due to old snapshots",
                ),
                (
                    "confl_bufferpin",
                    Usage::Counter,
                    "Number of queries in this database that have been canceled due to pinned buffers",
                ),
                (
                    "confl_deadlock",
                    Usage::Counter,
                    "Number of queries in this database that have been canceled due to deadlocks",
                ),
            ],
        );
        run_namespace(cx, &ns, out).await
    }
}
