//! `queries`: the user's queries file (`--extend.query-path`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aiplatform_metrics::MetricFamily;
use aiplatform_prometheus::CollectError;
use parking_lot::Mutex;

use super::{Cx, PgCollector, query};
use crate::namespace::{Converted, convert};

/// Runs each namespace of the queries file, with `server` on every series as upstream
/// does for user queries, reusing results for `cache_seconds`. A failing namespace is
/// logged and the others still run; the collector then reports failure.
#[derive(Debug, Default)]
pub struct Queries {
    cache: Mutex<HashMap<String, (Instant, Converted)>>,
}

impl PgCollector for Queries {
    const NAME: &'static str = "queries";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let Some(file) = &cx.config.queries else {
            return Ok(());
        };
        let version = cx.session.version();
        let mut failed = 0;
        for q in &file.queries {
            if !q.run_on.contains(version) {
                continue;
            }
            let name = &q.namespace.name;
            let cached = self.cache.lock().get(name).and_then(|(at, c)| {
                (at.elapsed() < Duration::from_secs(q.cache_seconds)).then(|| c.clone())
            });
            let converted = match cached {
                Some(c) => c,
                None => match query(cx, &q.namespace.query, &[]).await {
                    Ok(rows) => {
                        let c = convert(&q.namespace, &rows, &[("server", cx.server)]);
                        if q.cache_seconds > 0 {
                            self.cache
                                .lock()
                                .insert(name.clone(), (Instant::now(), c.clone()));
                        }
                        c
                    }
                    Err(e) => {
                        tracing::error!(namespace = %name, err = %e, "Error running user query");
                        failed += 1;
                        continue;
                    }
                },
            };
            for e in &converted.errors {
                tracing::debug!(namespace = %name, err = %e, "non-fatal error converting a value");
            }
            out.extend(converted.families()?);
        }
        if failed > 0 {
            return Err(CollectError::new(format!("{failed} user queries failed")));
        }
        Ok(())
    }
}
