//! Putting it together: collector sets bound to a target, the `pg_up` registry collector, and
//! the queries file, for `/metrics` and for each `/probe` target.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_prometheus::{CollectorSet, CollectorSetError, Compat};

use crate::collectors::{Binding, names, register_all};
use crate::config::Config;
use crate::queries_file::{QueriesFile, QueriesFileError};
use crate::self_metrics::{QueriesLoad, ScrapeClock, SelfMetrics};
use crate::target::Target;

/// The collector set's namespace and program name, as upstream reports them
/// (`pg_scrape_collector_success`, HELP `postgres_exporter: ...`).
pub const NAMESPACE: &str = "pg";
/// See [`NAMESPACE`].
pub const PROGRAM: &str = "postgres_exporter";

/// The collector names of `compat` and their defaults, to generate and parse the
/// `--[no-]collector.<name>` flags before any target exists ([`CollectorSet::for_flags`]).
pub fn flag_set(compat: Compat) -> CollectorSet {
    CollectorSet::for_flags(NAMESPACE, PROGRAM, names(compat))
        .expect("static collector names are valid and distinct")
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

    /// The collector set for this target: every collector, enabled as in `flags` (the set
    /// the command line was parsed into), each limited to `timeout`.
    pub fn collector_set(
        &self,
        config: &Arc<Config>,
        flags: &CollectorSet,
        timeout: Duration,
    ) -> Result<CollectorSet, CollectorSetError> {
        let mut set = CollectorSet::new(NAMESPACE, PROGRAM)?;
        set.set_timeout(timeout);
        let binding = Binding {
            target: self.target.clone(),
            config: config.clone(),
            clock: self.clock.clone(),
        };
        register_all(&mut set, &binding)?;
        set.enable_like(flags);
        Ok(set)
    }

    /// Registers `pg_up`, `pg_static` and `pg_exporter_*` for this target in `registry`.
    pub fn register_self_metrics(
        &self,
        registry: &Registry,
        config: &Arc<Config>,
        queries: Option<QueriesLoad>,
    ) {
        registry.register_collector(SelfMetrics {
            target: self.target.clone(),
            clock: self.clock.clone(),
            config: config.clone(),
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
