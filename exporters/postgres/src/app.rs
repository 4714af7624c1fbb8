//! The binary's wiring: flags and environment → configuration, the scraped server, `/probe`
//! and the HTTP server.

use std::sync::Arc;

use aiplatform_metrics::Registry;
use aiplatform_prometheus::{
    BuildInfo, CollectorSet, CollectorSetError, LandingPage, RouteRequest, Server, ServerBuilder,
};

use crate::args::Cli;
use crate::auth_config::{AuthConfig, AuthConfigError};
use crate::config::Config;
use crate::dsn::{self, Dsn, DsnError};
use crate::exporter::{Scraped, load_queries};
use crate::probe::Prober;
use crate::self_metrics::QueriesLoad;
use crate::target::{Limits, Target};

/// A configuration the binary refuses to start with. Holds no password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// `--config.file` names a file that does not exist.
    #[error("config file {0} does not exist")]
    MissingConfigFile(std::path::PathBuf),
    /// The auth modules file cannot be used.
    #[error(transparent)]
    AuthConfig(#[from] AuthConfigError),
    /// The data source from the environment cannot be used.
    #[error(transparent)]
    Dsn(#[from] DsnError),
    /// The collectors could not be registered.
    #[error("registering the collectors: {0}")]
    Collectors(#[from] CollectorSetError),
}

/// Everything `main` needs, built from the flags and the environment.
#[derive(Debug)]
pub struct App {
    /// The collectors' settings.
    pub config: Arc<Config>,
    /// The server of `DATA_SOURCE_NAME` (the first, if it lists several), scraped on
    /// `/metrics`.
    pub dsn: Option<Dsn>,
    /// The auth modules of `--config.file`, when it defines any: `/probe` is served.
    pub auth: Option<AuthConfig>,
    /// The queries file's state, when one was given.
    pub queries: Option<QueriesLoad>,
    /// The session limits.
    pub limits: Limits,
    /// The `--[no-]collector.<name>` choices.
    pub flags: CollectorSet,
}

impl App {
    /// Reads the auth modules file, the data source (through `env`, the process environment
    /// in the binary) and the queries file. A queries file that does not load is logged and
    /// reported by `pg_exporter_user_queries_load_error`; the exporter runs without it.
    pub fn from_cli(
        cli: &Cli,
        flags: CollectorSet,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<App, SetupError> {
        let args = &cli.postgres;
        let (config_file, explicit) = args.config_file();
        let auth = if config_file.exists() {
            Some(AuthConfig::load(config_file)?)
        } else if explicit {
            return Err(SetupError::MissingConfigFile(config_file.to_owned()));
        } else {
            None
        }
        .filter(|a| !a.modules.is_empty());

        let dsns = match dsn::from_env(env) {
            Ok(d) => d,
            Err(DsnError::Missing) if auth.is_some() => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        if dsns.len() > 1 {
            tracing::warn!(
                count = dsns.len(),
                "DATA_SOURCE_NAME lists several servers; only the first is scraped on /metrics, use /probe for the others"
            );
        }

        let (file, queries) = match &args.query_path {
            Some(path) => {
                let (file, load, err) = load_queries(path);
                if let Some(e) = err {
                    tracing::error!(err = %e, "Failed to load user queries; continuing without them (pg_exporter_user_queries_load_error is 1)");
                }
                (file, Some(load))
            }
            None => (None, None),
        };
        Ok(App {
            config: Arc::new(args.config(file)),
            dsn: dsns.into_iter().next(),
            auth,
            queries,
            limits: args.limits(),
            flags,
        })
    }

    /// The server: the shared flags, the landing page, `postgres_exporter_build_info`, the
    /// collectors and self-metrics of the scraped server, and `/probe` when auth modules are
    /// configured.
    pub fn server(
        self,
        cli: &Cli,
        registry: Registry,
        build: &BuildInfo,
    ) -> Result<ServerBuilder, SetupError> {
        let timeout = cli.postgres.collection_timeout;
        registry.register_collector(build.collector());
        let mut builder = Server::builder(registry.clone())
            .web_args(&cli.web)
            .landing_page(
                LandingPage::new("Postgres Exporter")
                    .description("Prometheus PostgreSQL server Exporter")
                    .version(build.version()),
            );
        if let Some(dsn) = self.dsn {
            tracing::info!(target = %dsn.redacted(), compat = %self.config.compat, "Scraping");
            let scraped = Scraped::new(Target::new(dsn, self.limits));
            scraped.register_self_metrics(&registry, &self.config, self.queries);
            builder =
                builder.collectors(scraped.collector_set(&self.config, &self.flags, timeout)?);
        }
        if let Some(auth) = self.auth {
            tracing::info!(modules = auth.modules.len(), "/probe enabled");
            let prober = Arc::new(Prober::new(
                auth,
                self.config.clone(),
                self.limits,
                self.flags,
                timeout,
                cli.postgres.probe_max_targets,
            ));
            builder = builder.route("/probe", move |req: RouteRequest| {
                let prober = prober.clone();
                async move { prober.handle(req).await }
            });
        }
        Ok(builder)
    }
}
