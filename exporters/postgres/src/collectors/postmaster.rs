//! `postmaster`: when the server started.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{CollectError, DefaultState};

use super::{Cx, PgCollector, query};
use super::{values_with_server, with_server};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_postmaster_start_time_seconds` (upstream: default disabled).
#[derive(Debug, Default)]
pub struct Postmaster;

impl PgCollector for Postmaster {
    const NAME: &'static str = "postmaster";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let rows = query(cx, "SELECT pg_postmaster_start_time()", &[]).await?;
        let server = cx.legacy_server();
        let mut f = FamilySet::new(Naming::AsGiven);
        if let Some(row) = rows.first() {
            // Upstream 0.11 (queries.yaml) truncates to whole seconds; latest keeps the fraction.
            let t = match row.get::<_, Cell>(0) {
                Cell::Time(t) if server.is_some() => t.floor(),
                Cell::Time(t) => t,
                _ => 0.0,
            };
            f.add(
                MetricKind::Gauge,
                "pg_postmaster_start_time_seconds",
                "Time at which postmaster started",
                &with_server(&[], server),
                &values_with_server(&[], server),
                t,
            );
        }
        f.finish(out);
        Ok(())
    }
}
