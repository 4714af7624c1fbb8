//! The binary's wiring: flags → exporter, collector set, `/scrape` route and server.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aiplatform_metrics::{MetricFamily, Registry};
use aiplatform_prometheus::http::StatusCode;
use aiplatform_prometheus::{
    CollectError, CollectorSet, DefaultState, Exposition, LandingPage, RouteRequest,
    ScrapeCollector, ScrapeContext, Server, ServerBuilder, text_response,
};

use crate::address::RedisAddress;
use crate::args::Cli;
use crate::config::Config;
use crate::connection::{Credentials, Secret};
use crate::exporter::RedisExporter;
use crate::info_map::InfoMap;
use crate::keys::{KeyArgError, KeyChecks, parse_key_arg};
use crate::password_file::{PasswordFileError, PasswordMap};
use crate::self_metrics::BuildInfo;
use crate::targets::{TargetError, TargetPolicy};
use crate::tls::{RedisTls, TlsOptions};

/// A configuration the binary refuses to start with. Holds no secret.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `--redis.addr` does not parse.
    #[error("--redis.addr: {0}")]
    Address(#[from] crate::address::AddressError),
    /// A key list does not parse.
    #[error("{flag}: {source}")]
    Keys {
        /// The flag.
        flag: &'static str,
        /// The cause.
        #[source]
        source: KeyArgError,
    },
    /// The password file cannot be used.
    #[error("--redis.password-file: {0}")]
    PasswordFile(#[from] PasswordFileError),
    /// The TLS settings cannot be used.
    #[error("{0}")]
    Tls(String),
    /// `--namespace` cannot prefix metric names.
    #[error("--namespace: {0}")]
    Namespace(#[from] aiplatform_prometheus::CollectorSetError),
}

/// The collector that runs one scrape of one target.
#[derive(Debug, Clone)]
pub struct RedisCollector(pub Arc<RedisExporter>);

impl ScrapeCollector for RedisCollector {
    async fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        let outcome = self
            .0
            .scrape(tokio::time::Instant::from_std(ctx.deadline()))
            .await;
        out.extend(outcome.families);
        match outcome.error {
            None => Ok(()),
            Some(e) => Err(CollectError::new(e)),
        }
    }
}

/// Everything `main` needs, built from the flags.
#[derive(Debug)]
pub struct App {
    /// Shared scrape settings.
    pub config: Arc<Config>,
    /// The exporter of `--redis.addr`, unless it is empty.
    pub main: Option<Arc<RedisExporter>>,
    /// The `/scrape` policy, when the endpoint is on.
    pub targets: Option<Arc<TargetPolicy>>,
    /// `redis_target_scrape_request_errors_total`.
    pub request_errors: Arc<AtomicU64>,
    /// Whether build info and process/promhttp metrics are left out.
    pub redis_only: bool,
    /// `redis_exporter_build_info`, unless `--redis-only-metrics`.
    pub build: Option<BuildInfo>,
}

impl App {
    /// Builds the exporter from parsed flags.
    pub fn from_cli(cli: &Cli) -> Result<App, SetupError> {
        let r = &cli.redis;
        if !r.redact_config_metrics {
            tracing::warn!(
                "--redact-config-metrics=false is ignored: passwords are never exported"
            );
        }
        let keys = |flag: &'static str, v: &str| {
            parse_key_arg(v).map_err(|source| SetupError::Keys { flag, source })
        };
        let config = Arc::new(Config {
            namespace: r.namespace.clone(),
            compat: r.compat,
            info_map: Arc::new(InfoMap::new(r.compat, r.include_system_metrics)),
            config_command: (r.config_command != "-").then(|| r.config_command.clone()),
            include_config_metrics: r.include_config_metrics,
            ping_on_connect: r.ping_on_connect,
            client_name: r.set_client_name.then(|| "redis_exporter".to_owned()),
            connection_timeout: r.connection_timeout,
            keys: KeyChecks {
                check_keys: keys("--check-keys", &r.check_keys)?,
                check_single_keys: keys("--check-single-keys", &r.check_single_keys)?,
                count_keys: keys("--count-keys", &r.count_keys)?,
                batch_size: r.check_keys_batch_size,
            },
            persistent: r.persistent_connection,
            tls: Arc::new(RedisTls::new(r.tls_options())),
        });
        // Validates the namespace once, so every later family builds.
        CollectorSet::new(r.namespace.clone(), "redis_exporter")?;
        let passwords = match r.password_file.as_str() {
            "" => PasswordMap::default(),
            path => PasswordMap::load(Path::new(path))?,
        };
        let request_errors = Arc::new(AtomicU64::new(0));
        let build = (!r.redis_only_metrics).then(BuildInfo::default);
        let main_addr = match r.addr.as_str() {
            "" => None,
            a => Some(RedisAddress::parse(a)?),
        };
        if main_addr.as_ref().is_some_and(|a| a.tls) || r.tls_options() != TlsOptions::default() {
            // Refuse unreadable certificates at start-up rather than at every scrape.
            config.tls.check().map_err(SetupError::Tls)?;
        }
        let main_creds = main_addr.as_ref().map(|addr| {
            let password = if !r.password.is_empty() {
                Some(Secret::new(r.password.clone()))
            } else {
                passwords.get(addr).map(|c| c.password.clone())
            };
            match password {
                Some(password) => Credentials {
                    user: (!r.user.is_empty())
                        .then(|| r.user.clone())
                        .or_else(|| addr.user().map(str::to_owned)),
                    password,
                },
                // No flag, no file entry: the address's own user and password, if any.
                None => Credentials {
                    user: (!r.user.is_empty())
                        .then(|| r.user.clone())
                        .or_else(|| addr.user().map(str::to_owned)),
                    password: Secret::new(addr.password().unwrap_or_default()),
                },
            }
        });
        let main = main_addr
            .as_ref()
            .zip(main_creds.as_ref())
            .map(|(addr, creds)| {
                Arc::new(RedisExporter::new(
                    config.clone(),
                    addr.clone(),
                    creds.clone(),
                    request_errors.clone(),
                    build.clone(),
                ))
            });
        let targets = r.scrape_endpoint().then(|| {
            Arc::new(TargetPolicy::new(
                main_addr.zip(main_creds),
                passwords,
                &r.allowed_targets(),
            ))
        });
        Ok(App {
            config,
            main,
            targets,
            request_errors,
            redis_only: r.redis_only_metrics,
            build,
        })
    }

    /// The collector set of `/metrics` (empty when `--redis.addr` is empty).
    pub fn collectors(&self) -> Result<CollectorSet, SetupError> {
        Ok(collector_set(&self.config, self.main.clone())?)
    }

    /// The server settings: shared flags, landing page, `/health`, the collectors and, when
    /// enabled, `/scrape`.
    pub fn server(&self, cli: &Cli, registry: Registry) -> Result<ServerBuilder, SetupError> {
        let mut builder = Server::builder(registry)
            .web_args(&cli.web)
            .landing_page(LandingPage::new("Redis Exporter").version(env!("CARGO_PKG_VERSION")))
            .health(true)
            .collectors(self.collectors()?);
        if self.redis_only {
            builder = builder.exporter_metrics(false);
        }
        if let Some(policy) = &self.targets {
            let policy = policy.clone();
            let config = self.config.clone();
            let errors = self.request_errors.clone();
            let build = self.build.clone();
            builder = builder.route("/scrape", move |req: RouteRequest| {
                let (policy, config, errors) = (policy.clone(), config.clone(), errors.clone());
                let build = build.clone();
                async move { scrape_route(req, &policy, config, errors, build).await }
            });
        }
        Ok(builder)
    }
}

/// `/scrape?target=`: a fresh exporter for the target (no connection kept), refused unless
/// the policy allows the target.
async fn scrape_route(
    req: RouteRequest,
    policy: &TargetPolicy,
    config: Arc<Config>,
    errors: Arc<AtomicU64>,
    build: Option<BuildInfo>,
) -> aiplatform_prometheus::Response {
    let (addr, creds) = match policy.resolve(req.query("target")) {
        Ok(t) => t,
        Err(e) => {
            errors.fetch_add(1, Ordering::Relaxed);
            let status = match e {
                TargetError::NotAllowed(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::info!(error = %e, "refused /scrape request");
            return text_response(status, format!("{e}\n"));
        }
    };
    let one_shot = Arc::new(config.one_shot());
    let exporter = Arc::new(RedisExporter::new(one_shot, addr, creds, errors, build));
    match collector_set(&config, Some(exporter)) {
        Ok(set) => req.scrape(&set, &Exposition::new(Registry::new())).await,
        Err(e) => text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

/// The collectors of one Redis target (none without one): redis_exporter's namespace and
/// time limit, and no `<ns>_scrape_collector_*`, which redis_exporter does not have.
fn collector_set(
    config: &Config,
    exporter: Option<Arc<RedisExporter>>,
) -> Result<CollectorSet, aiplatform_prometheus::CollectorSetError> {
    let mut set = CollectorSet::new(config.namespace.clone(), "redis_exporter")?;
    set.set_timeout(config.connection_timeout)
        .set_collector_report(false);
    if let Some(exporter) = exporter {
        set.register("redis", DefaultState::Enabled, RedisCollector(exporter))?;
    }
    Ok(set)
}
