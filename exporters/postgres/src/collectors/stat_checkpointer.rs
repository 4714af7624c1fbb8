//! `stat_checkpointer`: checkpoint statistics of PostgreSQL 17 and later.

use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS};
use aiplatform_prometheus::{CollectError, DefaultState};

use super::{Cx, PgCollector, query};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_stat_checkpointer_*_total` (default disabled, as upstream). Before PostgreSQL 17 it
/// reports nothing.
#[derive(Debug, Default)]
pub struct StatCheckpointer;

const COLUMNS: [(&str, &str, &str); 9] = [
    (
        "num_timed",
        "num_timed_total",
        "Number of scheduled checkpoints due to timeout",
    ),
    (
        "num_requested",
        "num_requested_total",
        "Number of requested checkpoints that have been performed",
    ),
    (
        "restartpoints_timed",
        "restartpoints_timed_total",
        "Number of scheduled restartpoints due to timeout or after a failed attempt to perform it",
    ),
    (
        "restartpoints_req",
        "restartpoints_req_total",
        "Number of requested restartpoints",
    ),
    (
        "restartpoints_done",
        "restartpoints_done_total",
        "Number of restartpoints that have been performed",
    ),
    (
        "write_time",
        "write_time_total",
        "Total amount of time that has been spent in the portion of processing checkpoints and restartpoints where files are written to disk, in milliseconds",
    ),
    (
        "sync_time",
        "sync_time_total",
        "Total amount of time that has been spent in the portion of processing checkpoints and restartpoints where files are synchronized to disk, in milliseconds",
    ),
    (
        "buffers_written",
        "buffers_written_total",
        "Number of buffers written during checkpoints and restartpoints",
    ),
    (
        "stats_reset",
        "stats_reset_total",
        "Time at which these statistics were last reset",
    ),
];

impl PgCollector for StatCheckpointer {
    const NAME: &'static str = "stat_checkpointer";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        if !cx.session.version().at_least(17, 0) {
            tracing::debug!("pg_stat_checkpointer exists from PostgreSQL 17; nothing to collect");
            return Ok(());
        }
        let list: Vec<&str> = COLUMNS.iter().map(|(c, _, _)| *c).collect();
        let rows = query(
            cx,
            &format!("SELECT {} FROM pg_stat_checkpointer", list.join(", ")),
            &[],
        )
        .await?;
        let mut f = FamilySet::new(Naming::AsGiven);
        if let Some(row) = rows.first() {
            for (i, (_, name, help)) in COLUMNS.iter().enumerate() {
                let v = row.get::<_, Cell>(i).non_null_f64().unwrap_or(0.0);
                f.add(
                    MetricKind::Counter,
                    &format!("pg_stat_checkpointer_{name}"),
                    help,
                    &[],
                    NO_LABELS,
                    v,
                );
            }
        }
        f.finish(out);
        Ok(())
    }
}
