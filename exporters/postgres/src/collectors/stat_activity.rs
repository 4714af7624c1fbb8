//! `stat_activity`: connections per database and state, and the oldest open transaction.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

use super::{Cx, PgCollector, query};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_stat_activity_count` and `pg_stat_activity_max_tx_duration`, zero-filled for six
/// states in every database. Upstream's labels add `usename`, `application_name`,
/// `backend_type`, `wait_event_type`, `wait_event` and leave out the exporter's own
/// connection; 0.11's are `datname`, `state`, `server`.
#[derive(Debug, Default)]
pub struct StatActivity;

const STATES: &str = "(VALUES ('active'), ('idle'), ('idle in transaction'), \
    ('idle in transaction (aborted)'), ('fastpath function call'), ('disabled')) AS tmp(state)";

const COUNT_HELP: &str = "number of connections in this state";
const MAX_HELP: &str = "max duration in seconds any active transaction has been running";

impl PgCollector for StatActivity {
    const NAME: &'static str = "stat_activity";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut f = FamilySet::new(Naming::AsGiven);
        if let Some(server) = cx.legacy_server() {
            let sql = format!(
                "SELECT pg_database.datname, tmp.state, COALESCE(count, 0)::float8, \
                 COALESCE(max_tx_duration, 0)::float8 FROM {STATES} CROSS JOIN pg_database \
                 LEFT JOIN (SELECT datname, state, count(*) AS count, \
                   MAX(EXTRACT(EPOCH FROM now() - xact_start))::float AS max_tx_duration \
                   FROM pg_stat_activity GROUP BY datname, state) AS tmp2 \
                 ON tmp.state = tmp2.state AND pg_database.datname = tmp2.datname"
            );
            let labels = ["datname", "server", "state"];
            for row in &query(cx, &sql, &[]).await? {
                let c = |i: usize| row.get::<_, Cell>(i);
                let (d, s) = (c(0).to_label(), c(1).to_label());
                let values = [d.as_str(), server, s.as_str()];
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_activity_count",
                    COUNT_HELP,
                    &labels,
                    &values,
                    c(2).non_null_f64().unwrap_or(0.0),
                );
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_activity_max_tx_duration",
                    MAX_HELP,
                    &labels,
                    &values,
                    c(3).non_null_f64().unwrap_or(0.0),
                );
            }
        } else {
            let sql = format!(
                "SELECT pg_database.datname, tmp.state, tmp2.usename, tmp2.application_name, \
                   tmp2.backend_type, tmp2.wait_event_type, tmp2.wait_event, \
                   COALESCE(count, 0)::float8, COALESCE(max_tx_duration, 0)::float8 \
                 FROM {STATES} CROSS JOIN pg_database \
                 LEFT JOIN (SELECT datname, state, usename, application_name, backend_type, \
                     wait_event_type, wait_event, count(*) AS count, \
                     MAX(EXTRACT(EPOCH FROM now() - xact_start))::float AS max_tx_duration \
                   FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
                   GROUP BY datname, state, usename, application_name, backend_type, \
                     wait_event_type, wait_event) AS tmp2 \
                 ON tmp.state = tmp2.state AND pg_database.datname = tmp2.datname"
            );
            let labels = [
                "datname",
                "state",
                "usename",
                "application_name",
                "backend_type",
                "wait_event_type",
                "wait_event",
            ];
            for row in &query(cx, &sql, &[]).await? {
                let c = |i: usize| row.get::<_, Cell>(i);
                let values: Vec<String> = (0..7).map(|i| c(i).to_label()).collect();
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_activity_count",
                    COUNT_HELP,
                    &labels,
                    &values,
                    c(7).non_null_f64().unwrap_or(0.0),
                );
                f.add(
                    MetricKind::Gauge,
                    "pg_stat_activity_max_tx_duration",
                    MAX_HELP,
                    &labels,
                    &values,
                    c(8).non_null_f64().unwrap_or(0.0),
                );
            }
        }
        f.finish(out);
        Ok(())
    }
}
