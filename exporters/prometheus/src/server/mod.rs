//! The HTTP server: a [`ServerBuilder`] collects the settings, [`ServerBuilder::bind`]
//! validates them and opens the listeners, and [`Server`] serves until told to stop.

mod app;
mod conn;
mod listen;
mod scrape;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::basic_auth::BasicAuth;
use crate::collectors::CollectorSet;
use crate::config_source::ConfigSource;
use crate::error::Error;
use crate::exposition::Exposition;
use crate::flags::WebArgs;
use crate::landing::LandingPage;
use crate::limits::{RateLimiter, ScrapeLimiter};
use crate::process::ProcessCollector;
use crate::route::{RouteHandler, RouteOptions};
use crate::self_metrics::HandlerMetrics;
use crate::web_config::WebConfig;

use app::{App, ExporterMetrics};
pub use conn::HEADER_READ_TIMEOUT;

/// The default `--web.max-requests`.
pub const DEFAULT_MAX_REQUESTS: usize = 40;

/// Settings of a [`Server`]; start with [`Server::builder`].
pub struct ServerBuilder {
    registry: Registry,
    listen: Vec<String>,
    telemetry_path: String,
    landing: Option<LandingPage>,
    health: bool,
    max_requests: usize,
    exporter_metrics: bool,
    openmetrics: bool,
    web_config: WebConfigChoice,
    collectors: Option<CollectorSet>,
    collector_filters: bool,
    routes: Vec<(String, RouteOptions, Arc<dyn RouteHandler>)>,
    grace: Duration,
}

enum WebConfigChoice {
    None,
    File(PathBuf),
    Fixed(Box<WebConfig>),
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("listen", &self.listen)
            .field("telemetry_path", &self.telemetry_path)
            .field("max_requests", &self.max_requests)
            .field("exporter_metrics", &self.exporter_metrics)
            .field("collectors", &self.collectors)
            .field(
                "routes",
                &self.routes.iter().map(|r| &r.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    fn new(registry: Registry) -> ServerBuilder {
        ServerBuilder {
            registry,
            listen: Vec::new(),
            telemetry_path: "/metrics".to_owned(),
            landing: Some(LandingPage::new("Prometheus Exporter")),
            health: true,
            max_requests: DEFAULT_MAX_REQUESTS,
            exporter_metrics: true,
            openmetrics: false,
            web_config: WebConfigChoice::None,
            collectors: None,
            collector_filters: false,
            routes: Vec::new(),
            grace: Duration::from_secs(10),
        }
    }

    /// Takes the common flags: listen addresses, telemetry path, max requests, exporter
    /// metrics and web config file.
    pub fn web_args(self, args: &WebArgs) -> ServerBuilder {
        self.listen_addresses(args.listen_addresses.iter().cloned())
            .telemetry_path(args.telemetry_path.clone())
            .max_requests(args.max_requests)
            .exporter_metrics(!args.disable_exporter_metrics)
            .web_config_file(args.config_file.clone())
    }

    /// Adds a listen address (`:9100`, `127.0.0.1:0`, `[::1]:9100`, `host:port`).
    pub fn listen_address(mut self, address: impl Into<String>) -> ServerBuilder {
        self.listen.push(address.into());
        self
    }

    /// Replaces the listen addresses.
    pub fn listen_addresses<S: Into<String>>(
        mut self,
        addresses: impl IntoIterator<Item = S>,
    ) -> ServerBuilder {
        self.listen = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// Where the metrics are served (default `/metrics`). At `/`, no landing page is served.
    pub fn telemetry_path(mut self, path: impl Into<String>) -> ServerBuilder {
        self.telemetry_path = path.into();
        self
    }

    /// The landing page at `/`.
    pub fn landing_page(mut self, page: LandingPage) -> ServerBuilder {
        self.landing = Some(page);
        self
    }

    /// Whether `/health` and `/-/healthy` answer `ok` (default true).
    pub fn health(mut self, on: bool) -> ServerBuilder {
        self.health = on;
        self
    }

    /// Scrapes served at once; past it, 503 (default 40; 0: unlimited).
    pub fn max_requests(mut self, max: usize) -> ServerBuilder {
        self.max_requests = max;
        self
    }

    /// Whether `promhttp_*` and `process_*` are exposed (default true;
    /// `--web.disable-exporter-metrics` turns them off).
    pub fn exporter_metrics(mut self, on: bool) -> ServerBuilder {
        self.exporter_metrics = on;
        self
    }

    /// Whether `/metrics` answers OpenMetrics to a scraper that prefers it (default false:
    /// text 0.0.4 always, as the Go exporters answer, so that counters named without
    /// `_total` keep their names in Prometheus; see [`Exposition::new`]).
    pub fn openmetrics(mut self, on: bool) -> ServerBuilder {
        self.openmetrics = on;
        self
    }

    /// A web config file (`--web.config.file`); `None` for none. Read at
    /// [`bind`](Self::bind) and again when it or its certificates change.
    pub fn web_config_file(mut self, path: Option<PathBuf>) -> ServerBuilder {
        self.web_config = match path {
            Some(p) if !p.as_os_str().is_empty() => WebConfigChoice::File(p),
            _ => WebConfigChoice::None,
        };
        self
    }

    /// A web config given in code (never re-read).
    pub fn web_config(mut self, config: WebConfig) -> ServerBuilder {
        self.web_config = WebConfigChoice::Fixed(Box::new(config));
        self
    }

    /// Named collectors to run at every scrape.
    pub fn collectors(mut self, collectors: CollectorSet) -> ServerBuilder {
        self.collectors = Some(collectors);
        self
    }

    /// Whether `collect[]` / `exclude[]` query parameters narrow a scrape (node_exporter;
    /// default false, where they are ignored).
    pub fn collector_filters(mut self, on: bool) -> ServerBuilder {
        self.collector_filters = on;
        self
    }

    /// Adds a route (`/probe`), counted against `--web.max-requests`.
    pub fn route(self, path: impl Into<String>, handler: impl RouteHandler) -> ServerBuilder {
        self.route_with(path, RouteOptions::default(), handler)
    }

    /// Adds a route with explicit admission options.
    pub fn route_with(
        mut self,
        path: impl Into<String>,
        options: RouteOptions,
        handler: impl RouteHandler,
    ) -> ServerBuilder {
        self.routes.push((path.into(), options, Arc::new(handler)));
        self
    }

    /// How long shutdown waits for open requests (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> ServerBuilder {
        self.grace = grace;
        self
    }

    /// Validates the settings, reads the web config and its certificates, and opens the
    /// listeners. Nothing is served until [`Server::serve`] or [`Server::spawn`].
    pub async fn bind(self) -> Result<Server, Error> {
        if !self.telemetry_path.starts_with('/') {
            return Err(Error::Path(self.telemetry_path));
        }
        let mut routes = HashMap::new();
        for (path, options, handler) in self.routes {
            if !path.starts_with('/') {
                return Err(Error::Path(path));
            }
            if path == self.telemetry_path || routes.contains_key(&path) {
                return Err(Error::DuplicateRoute(path));
            }
            routes.insert(path, (options, handler));
        }
        if self.listen.is_empty() {
            return Err(Error::NoListenAddress);
        }
        let config = match self.web_config {
            WebConfigChoice::None => ConfigSource::None,
            WebConfigChoice::File(path) => ConfigSource::file(path)?,
            WebConfigChoice::Fixed(c) => ConfigSource::fixed(*c)?,
        };
        let tls = config.tls_enabled();
        let http2 = match config.current() {
            Ok(Some(c)) => c.http2 && tls,
            _ => false,
        };
        let mut listeners = Vec::with_capacity(self.listen.len());
        for address in &self.listen {
            let listener = listen::bind(address).await?;
            let local = listener.local_addr().map_err(|source| Error::Bind {
                address: address.clone(),
                source,
            })?;
            tracing::info!(address = %local, "Listening on");
            if tls {
                tracing::info!(http2, address = %local, "TLS is enabled.");
            } else {
                tracing::info!(http2 = false, address = %local, "TLS is disabled.");
            }
            listeners.push((listener, local));
        }
        if let Some(set) = &self.collectors {
            tracing::info!("Enabled collectors");
            for name in set.enabled() {
                tracing::info!(collector = name, "Enabled collector");
            }
        }
        let landing = self
            .landing
            .filter(|_| self.telemetry_path != "/")
            .map(|page| bytes::Bytes::from(page.render(&self.telemetry_path)));
        let app = App {
            telemetry_path: self.telemetry_path,
            landing,
            health: self.health,
            exposition: if self.openmetrics {
                Exposition::with_openmetrics(self.registry)
            } else {
                Exposition::new(self.registry)
            },
            collectors: self.collectors.map(Arc::new),
            collector_filters: self.collector_filters,
            exporter_metrics: self.exporter_metrics.then(|| {
                Arc::new(ExporterMetrics {
                    handler: HandlerMetrics::new(),
                    process: ProcessCollector::new(),
                })
            }),
            limiter: ScrapeLimiter::new(self.max_requests),
            routes,
            config,
            auth: BasicAuth::default(),
            rate: RateLimiter::new(),
        };
        Ok(Server {
            app: Arc::new(app),
            listeners,
            tls,
            grace: self.grace,
        })
    }
}

/// A bound server; see the [crate docs](crate) for a complete example.
pub struct Server {
    app: Arc<App>,
    listeners: Vec<(TcpListener, SocketAddr)>,
    tls: bool,
    grace: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addresses", &self.local_addrs())
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts configuring a server for `registry`.
    pub fn builder(registry: Registry) -> ServerBuilder {
        ServerBuilder::new(registry)
    }

    /// The addresses actually bound (ports resolved when `:0` was asked).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|(_, a)| *a).collect()
    }

    /// Whether the listeners speak TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The limit on scrapes served at once (0: none).
    pub fn max_requests(&self) -> usize {
        self.app.limiter.max()
    }

    fn start(self) -> (watch::Sender<bool>, Vec<JoinHandle<()>>) {
        let (tx, rx) = watch::channel(false);
        let trim = tokio::spawn(trim_after_large_scrapes(self.app.clone(), rx.clone()));
        let mut tasks: Vec<JoinHandle<()>> = self
            .listeners
            .into_iter()
            .map(|(listener, _)| {
                tokio::spawn(conn::accept_loop(
                    listener,
                    self.app.clone(),
                    self.tls,
                    rx.clone(),
                    self.grace,
                ))
            })
            .collect();
        tasks.push(trim);
        (tx, tasks)
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> Result<(), Error> {
        self.serve_with_shutdown(std::future::pending()).await
    }

    /// Serves until `signal` completes (for instance [`termination_signal`]), then stops
    /// accepting and lets open requests finish within the grace period.
    pub async fn serve_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let (tx, tasks) = self.start();
        signal.await;
        let _ = tx.send(true);
        for task in tasks {
            task.await?;
        }
        Ok(())
    }

    /// Serves in the background; the returned handle stops the server when
    /// [`shutdown`](ServerHandle::shutdown) is called or when it is dropped.
    pub fn spawn(self) -> ServerHandle {
        let addresses = self.local_addrs();
        let (shutdown, tasks) = self.start();
        ServerHandle {
            addresses,
            shutdown,
            tasks,
        }
    }
}

/// How often the server checks whether a large scrape left free memory to hand back.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// Hands glibc's free memory back after scrapes larger than 1 MiB (a 6 MB textfile, a big
/// custom query): glibc keeps the pages of a burst's freed families resident for ever
/// otherwise (the node exporter stayed at 85 MiB after a burst from a 21 MiB baseline). Runs
/// at most every [`TRIM_EVERY`], only after such a scrape, off the async workers.
async fn trim_after_large_scrapes(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(TRIM_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if app.exposition.take_large_scrape() {
                    let _ = tokio::task::spawn_blocking(crate::release_free_memory).await;
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// A server running in the background.
#[derive(Debug)]
pub struct ServerHandle {
    addresses: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The addresses bound.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// Stops accepting and waits for open requests (within the grace period).
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            task.await?;
        }
        Ok(())
    }
}

/// Completes on SIGINT or SIGTERM (Ctrl-C elsewhere): what Go exporters stop on.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
