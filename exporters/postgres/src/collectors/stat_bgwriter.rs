//! `stat_bgwriter` (0.11: `bgwriter`): background writer and, before PostgreSQL 17,
//! checkpoint statistics.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{CollectError, Compat};

use super::{Cx, PgCollector, query};
use super::{values_with_server, with_server};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_stat_bgwriter_*_total`. On PostgreSQL 17 the checkpoint columns moved to
/// `pg_stat_checkpointer` (the `stat_checkpointer` collector).
#[derive(Debug, Default)]
pub struct StatBgwriter;

const COLUMNS: [(&str, &str); 11] = [
    (
        "checkpoints_timed",
        "Number of scheduled checkpoints that have been performed",
    ),
    (
        "checkpoints_req",
        "Number of requested checkpoints that have been performed",
    ),
    (
        "checkpoint_write_time",
        "Total amount of time that has been spent in the portion of checkpoint processing where files are written to disk, in milliseconds",
    ),
    (
        "checkpoint_sync_time",
        "Total amount of time that has been spent in the portion of checkpoint processing where files are synchronized to disk, in milliseconds",
    ),
    (
        "buffers_checkpoint",
        "Number of buffers written during checkpoints",
    ),
    (
        "buffers_clean",
        "Number of buffers written by the background writer",
    ),
    (
        "maxwritten_clean",
        "Number of times the background writer stopped a cleaning scan because it had written too many buffers",
    ),
    (
        "buffers_backend",
        "Number of buffers written directly by a backend",
    ),
    (
        "buffers_backend_fsync",
        "Number of times a backend had to execute its own fsync call (normally the background writer handles those even when the backend does its own write)",
    ),
    ("buffers_alloc", "Number of buffers allocated"),
    (
        "stats_reset",
        "Time at which these statistics were last reset",
    ),
];

impl PgCollector for StatBgwriter {
    const NAME: &'static str = "stat_bgwriter";

    /// postgres_exporter 0.11 called it `bgwriter`.
    fn name(compat: Compat) -> &'static str {
        if compat.is_debian12() {
            "bgwriter"
        } else {
            Self::NAME
        }
    }

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let pg17 = cx.session.version().at_least(17, 0);
        let columns: Vec<&(&str, &str)> = COLUMNS
            .iter()
            .filter(|(c, _)| {
                !pg17
                    || matches!(
                        *c,
                        "buffers_clean" | "maxwritten_clean" | "buffers_alloc" | "stats_reset"
                    )
            })
            .collect();
        let list: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
        let sql = format!("SELECT {} FROM pg_stat_bgwriter", list.join(", "));
        let rows = query(cx, &sql, &[]).await?;
        let server = cx.legacy_server();
        let labels = with_server(&[], server);
        let values = values_with_server(&[], server);
        let mut f = FamilySet::new(Naming::AsGiven);
        if let Some(row) = rows.first() {
            for (i, (col, help)) in columns.iter().enumerate() {
                let v = row.get::<_, Cell>(i).non_null_f64().unwrap_or(0.0);
                f.add(
                    MetricKind::Counter,
                    &format!("pg_stat_bgwriter_{col}_total"),
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
