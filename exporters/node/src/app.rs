//! The binary's wiring: flags → configuration, collector set, build information and server.

use aiplatform_metrics::Registry;
use aiplatform_prometheus::{
    BuildInfo, CollectorSet, CollectorSetError, LandingPage, Server, ServerBuilder,
};

use crate::args::Cli;
use crate::collectors::collector_set;
use crate::config::Config;
use crate::error::ConfigError;
use crate::self_metrics::build_info_collector;

/// A configuration the binary refuses to start with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A collector flag cannot be used.
    #[error("invalid collector flags: {0}")]
    Config(#[from] ConfigError),
    /// The collectors could not be registered.
    #[error("registering the collectors: {0}")]
    Collectors(#[from] CollectorSetError),
}

/// Everything `main` needs, built from the flags.
#[derive(Debug)]
pub struct App {
    /// The collectors' settings.
    pub config: Config,
    /// The collectors, enabled as the command line asks.
    pub collectors: CollectorSet,
}

impl App {
    /// Builds the collectors from parsed flags; `flags` is the set the command line's
    /// `--[no-]collector.<name>` were parsed into ([`crate::collectors::flag_set`]).
    pub fn from_cli(cli: &Cli, flags: &CollectorSet) -> Result<App, SetupError> {
        let config = cli.node.config()?;
        let collectors = collector_set(&config, Some(flags))?;
        Ok(App { config, collectors })
    }

    /// The server: the shared flags, node_exporter's landing page, `collect[]` / `exclude[]`
    /// filters, the collectors and `node_exporter_build_info`.
    pub fn server(self, cli: &Cli, registry: Registry, build: &BuildInfo) -> ServerBuilder {
        registry.register_collector(build_info_collector(
            self.config.compat,
            build.version(),
            option_env!("AIPLATFORM_GIT_REVISION").unwrap_or(""),
        ));
        Server::builder(registry)
            .web_args(&cli.web)
            .landing_page(
                LandingPage::new("Node Exporter")
                    .description("Prometheus Node Exporter")
                    .version(build.version()),
            )
            .collectors(self.collectors)
            .collector_filters(true)
    }
}
