//! Putting it together: collector sets bound to a target, the `pg_up` registry collector, and
//! the queries file, for `/metrics` and for each `/probe` target.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::{MetricFamily, Registry};
use aiplatform_prometheus::{CollectError, CollectorSet, CollectorSetError, ScrapeContext};

use crate::collectors::{Env, names, register_all};
use crate::exporter_metrics::{ExporterMetrics, QueriesLoad, ScrapeClock};
use crate::profile::Profile;
use crate::queries_file::{QueriesFile, QueriesFileError};
use crate::target::Target;

/// The collector set's namespace and program name, as upstream reports them
/// (`pg_scrape_collector_success`, HELP `postgres_exporter: ...`).
pub const NAMESPACE: &str = "pg";
/// See [`NAMESPACE`].
pub const PROGRAM: &str = "postgres_exporter";

fn noop(_: &ScrapeContext, _: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
    Ok(())
}

/// A set with the collector names of `profile` and no work, to generate and parse the
/// `--[no-]collector.<name>` flags before any target exists.
pub fn flag_set(profile: Profile) -> CollectorSet {
    let mut set = CollectorSet::new(NAMESPACE, PROGRAM).expect("static namespace is valid");
    for (name, default) in names(profile) {
        set.register_blocking(name, default, noop)
            .expect("static collector names are valid and distinct");
    }
    set
}

/// A server to scrape with its bookkeeping.
#[derive(Debug, Clone)]
pub struct Scraped {
    /// The server.
    pub target: Arc<Target>,
    /// Its scrapes.
    pub clock: Arc<ScrapeClock>,
}

impl Scraped {
    /// A fresh target.
    pub fn new(target: Target) -> Scraped {
        Scraped {
            target: Arc::new(target),
            clock: Arc::new(ScrapeClock::default()),
        }
    }

    /// The collector set for this target: every collector, enabled as in `enabled`, each
    /// limited to `timeout`.
    pub fn collector_set(
        &self,
        env: &Arc<Env>,
        enabled: &[String],
        timeout: Duration,
    ) -> Result<CollectorSet, CollectorSetError> {
        let mut set = CollectorSet::new(NAMESPACE, PROGRAM)?;
        set.set_timeout(timeout);
        register_all(&mut set, &self.target, env, &self.clock)?;
        let all: Vec<String> = set.names().map(str::to_owned).collect();
        for name in all {
            let on = enabled.contains(&name);
            set.set_enabled(&name, on)?;
        }
        Ok(set)
    }

    /// Registers `pg_up`, `pg_static` and `pg_exporter_*` for this target in `registry`.
    pub fn register_exporter_metrics(
        &self,
        registry: &Registry,
        env: &Arc<Env>,
        queries: Option<QueriesLoad>,
    ) {
        registry.register_collector(ExporterMetrics {
            target: self.target.clone(),
            clock: self.clock.clone(),
            env: env.clone(),
            queries,
        });
    }
}

/// Loads the queries file for the environment and the load-error metric: a bad file is
/// returned as the error to report, and the exporter runs without it.
pub fn load_queries(path: &Path) -> (Option<QueriesFile>, QueriesLoad, Option<QueriesFileError>) {
    let filename = path.display().to_string();
    match QueriesFile::load(path) {
        Ok(file) => {
            let load = QueriesLoad {
                filename,
                hashsum: file.hashsum.clone(),
                failed: false,
            };
            (Some(file), load, None)
        }
        Err(e) => {
            let hashsum = std::fs::read(path)
                .map(|c| QueriesFile::hash(&c))
                .unwrap_or_default();
            (
                None,
                QueriesLoad {
                    filename,
                    hashsum,
                    failed: true,
                },
                Some(e),
            )
        }
    }
}
