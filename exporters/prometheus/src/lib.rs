//! The Prometheus scrape endpoint for an [`aiplatform_metrics::Registry`], and everything the
//! exporter binaries (node, postgres, redis) share, so that each stays a thin `main` over its
//! collectors.
//!
//! # Serving a registry
//!
//! ```no_run
//! use aiplatform_metrics::Registry;
//! use aiplatform_prometheus::Server;
//!
//! # async fn run() -> Result<(), aiplatform_prometheus::Error> {
//! let registry = Registry::new();
//! let requests = registry.counter("app_requests_total", "Requests served.").unwrap();
//! requests.inc();
//!
//! let server = Server::builder(registry)
//!     .listen_address("127.0.0.1:8000")
//!     .bind()
//!     .await?;
//! server.serve_with_shutdown(aiplatform_prometheus::termination_signal()).await
//! # }
//! ```
//!
//! What the server does, following client_golang's `promhttp` and the exporter-toolkit:
//!
//! - **`/metrics`** (configurable): Prometheus text 0.0.4, as the Go exporters answer every
//!   scraper (OpenMetrics would rename counters lacking `_total` in Prometheus); with
//!   [`ServerBuilder::openmetrics`], OpenMetrics 1.0 when `Accept` prefers it (q-values
//!   honoured, what Prometheus 2.x and 3.x send). Gzip when
//!   `Accept-Encoding` allows it, the exact versioned `Content-Type`. Collection and encoding
//!   run on tokio's blocking pool, so a slow scrape never holds up other requests, and
//!   scrapes run concurrently up to `--web.max-requests` (default 40), past which the answer
//!   is client_golang's 503 `Limit of concurrent requests reached (40), try again later.`
//! - **`/`**: a small HTML [`LandingPage`] linking to the metrics; **`/health`** and
//!   **`/-/healthy`**: `ok`. Any other path is 404, as in the latest Go exporters (Debian 12's
//!   versions served the landing page for every path).
//! - **Self-metrics**: `promhttp_metric_handler_requests_total{code}`,
//!   `promhttp_metric_handler_requests_in_flight`, `promhttp_metric_handler_errors_total{cause}`
//!   and the `process_*` family of [`ProcessCollector`], with client_golang's names and HELP;
//!   [`ServerBuilder::exporter_metrics`]`(false)` drops them (`--web.disable-exporter-metrics`).
//!   Go's `go_*` metrics have no honest Rust equivalent and are not produced.
//! - **TLS and basic auth** from an exporter-toolkit web config file ([`WebConfig`]): strict
//!   YAML (unknown keys refused at start-up, naming the file and key), rustls with the ring
//!   provider, client certificate verification, bcrypt users with a cache of successful
//!   checks, the toolkit's allowed response headers and `rate_limit`. The file and the
//!   certificates are read again when they change. A user listed twice is refused at start.
//!   An unknown user costs one bcrypt run at the configured hashes' cost (no timing
//!   difference from a wrong password); bcrypt runs on a thread of its own with a queue of 8
//!   checks, and a check past it is answered 429 at once, so wrong passwords never delay a
//!   scrape whose credentials are cached.
//! - **Connections**: request headers must arrive within [`HEADER_READ_TIMEOUT`] (60 s) of
//!   the connection being ready for a request, which also closes idle keep-alive connections.
//! - **Memory**: a scrape larger than 1 MiB does not keep its families in the buffer pool,
//!   and the server hands glibc's free pages back after it ([`release_free_memory`]).
//! - **Process life**: [`run_until_stopped`] bounds the exit after SIGTERM whatever a
//!   collector is blocked in, and [`exit_with`] writes a start-up failure as one log line in
//!   the configured format, without backtrace.
//!
//! # Writing an exporter binary
//!
//! An exporter is a [`CollectorSet`] of named collectors, the shared flags ([`WebArgs`],
//! flattened into the binary's own clap parser), and a [`Server`]:
//!
//! ```no_run
//! use aiplatform_metrics::{MetricFamily, MetricKind, Registry, NO_LABELS};
//! use aiplatform_prometheus::{
//!     BuildInfo, CollectError, CollectorSet, DefaultState, Exposition, ExporterCli, LandingPage,
//!     ScrapeCollector, ScrapeContext, Server, WebArgs, WebDefaults, WebFlag,
//! };
//!
//! #[derive(clap::Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     web: WebArgs,
//!     /// Address of the Redis instance to scrape.
//!     #[arg(long = "redis.addr", env = "REDIS_ADDR", default_value = "redis://localhost:6379")]
//!     addr: String,
//! }
//!
//! /// An async collector (a network client).
//! struct Info { addr: String }
//!
//! impl ScrapeCollector for Info {
//!     async fn collect(&self, ctx: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
//!         // Query self.addr within ctx.remaining(); here, a constant.
//!         let mut up = MetricFamily::builder(MetricKind::Gauge, "redis_up", "Information about the Redis instance")
//!             .build().map_err(CollectError::new)?;
//!         up.push_gauge(NO_LABELS, 1.0).map_err(CollectError::new)?;
//!         out.push(up);
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let build = BuildInfo::new("redis_exporter", env!("CARGO_PKG_VERSION"));
//!     let mut collectors = CollectorSet::new("redis", "redis_exporter")?;
//!     let cli = ExporterCli::new(
//!         build.clone(),
//!         WebDefaults::new(":9121")
//!             .env(WebFlag::ListenAddress, "REDIS_EXPORTER_WEB_LISTEN_ADDRESS")
//!             .env(WebFlag::TelemetryPath, "REDIS_EXPORTER_WEB_TELEMETRY_PATH"),
//!     )
//!     .go_flag_syntax(true);
//!     // Parse once with an empty set to learn the flags the collectors need...
//!     let args: Cli = cli.parse(None);
//!     collectors.register("info", DefaultState::Enabled, Info { addr: args.addr.clone() })?;
//!     // ...or register first and let `cli.parse(Some(&mut collectors))` add
//!     // --[no-]collector.<name> flags.
//!     let _log = args.web.init_logging()?;
//!
//!     let registry = Registry::new();
//!     registry.register_collector(build.collector());
//!     let server = Server::builder(registry)
//!         .web_args(&args.web)
//!         .landing_page(LandingPage::new("Redis Exporter").version(build.version()))
//!         .collectors(collectors)
//!         // A multi-target route behind the same TLS, auth and limits:
//!         .route("/scrape", |req: aiplatform_prometheus::RouteRequest| async move {
//!             let Some(target) = req.query("target").map(str::to_owned) else {
//!                 return aiplatform_prometheus::text_response(aiplatform_prometheus::http::StatusCode::BAD_REQUEST, "missing target\n");
//!             };
//!             let mut set = CollectorSet::new("redis", "redis_exporter").unwrap();
//!             set.register("info", DefaultState::Enabled, Info { addr: target }).unwrap();
//!             req.scrape(&set, &Exposition::new(Registry::new())).await
//!         })
//!         .bind()
//!         .await?;
//!     server.serve_with_shutdown(aiplatform_prometheus::termination_signal()).await?;
//!     Ok(())
//! }
//! ```
//!
//! Collectors are described in [`collectors`]: async ([`ScrapeCollector`]) or blocking
//! ([`BlockingCollector`], run on the blocking pool), each under a time limit cut to
//! Prometheus' `X-Prometheus-Scrape-Timeout-Seconds`, reported as
//! `<namespace>_scrape_collector_success` / `_duration_seconds`. A failing or slow collector
//! sets its success to 0; the scrape still answers 200. node_exporter's `collect[]` /
//! `exclude[]` filters are on with [`ServerBuilder::collector_filters`].
//!
//! # Where this differs from the Go exporters
//!
//! - Unknown paths answer 404, as node_exporter ≥ 1.6, postgres_exporter ≥ 0.12 and
//!   redis_exporter latest do; Debian 12's versions served the landing page for any path.
//! - `go_*` metrics are absent (a Rust process has no honest values for them).
//! - Families come out sorted by family name, the core's order (a counter's family name has
//!   no `_total`), so `promhttp_metric_handler_requests_total` precedes
//!   `promhttp_metric_handler_requests_in_flight`; client_golang sorts by full name.
//! - A registry namespace prefixes every family in the exposition, `process_*` and
//!   `promhttp_*` included; exporter binaries use a registry without one.
//! - [`aiplatform_metrics::collect::Collector`]s on the registry run while encoding and have no time
//!   limit; sources that can be slow belong in a [`CollectorSet`].
//! - Excluding every collector with `exclude[]` runs none (node_exporter then runs all).
//! - Web config: `client_allowed_sans`, TLS 1.0/1.1, CBC suites and `CurveP521` are refused
//!   at start-up with a reason; a verifying `client_auth_type` needs a client CA (Go would
//!   fall back to the system roots). As in the toolkit, a file that becomes invalid while
//!   running fails closed: 500, or a refused handshake.
//!
//! # The exporter skeleton
//!
//! What the node, PostgreSQL and Redis exporters share, so that their binaries read alike
//! (`main` parses the command line, installs logging, and serves what the crate's `app`
//! module wires together):
//!
//! - [`Compat`]: `--compat=upstream|debian12`, which Go exporter release is reproduced;
//! - [`collectors`]: the collector traits ([`ScrapeCollector`], [`BlockingCollector`], both
//!   `collect(ctx, out)`) and the [`CollectorSet`] that registers them by name, generates
//!   `--[no-]collector.<name>` ([`CollectorSet::for_flags`] before the collectors exist) and
//!   runs a scrape under time limits;
//! - [`family`]: building the families collectors return, with the Go exporters' counter names
//!   ([`family::Naming`]) and the by-name [`family::FamilySet`];
//! - [`WebArgs`], [`ExporterCli`], [`LogLevel`] / [`LogFormat`] and [`init_logging`]: the
//!   shared flags, `--version`, and logging as the Go exporters do it;
//! - [`limit_malloc_arenas`] and [`BuildInfo`]: process set-up and `<program>_build_info`;
//! - [`textparse`]: the text exposition parser (Go's `expfmt` rules) for exporters that read
//!   expositions, such as the node exporter's textfile collector.
//!
//! # Modules
//!
//! One job each: [`server`](ServerBuilder) (listeners, connections, routing), negotiation and
//! responses ([`accepts_gzip`], [`Exposition`]), [`web_config`](WebConfig) (file format), TLS
//! (rustls settings, certificates through `aiplatform-tls`), basic auth, limits, self-metrics,
//! [`process`](ProcessCollector), [`flags`](WebArgs) and [`cli`](ExporterCli), logging,
//! [`collectors`], [`family`], [`textparse`], the [landing page](LandingPage),
//! [build information](BuildInfo).

#![deny(missing_docs)]

mod basic_auth;
mod cli;
pub mod collectors;
mod compat;
mod config_source;
mod error;
mod exposition;
pub mod family;
mod flags;
mod go_duration;
mod landing;
mod lifecycle;
mod limits;
mod logging;
mod malloc;
mod process;
mod query;
mod response;
mod route;
mod self_metrics;
mod server;
pub mod textparse;
mod tls;
mod version;
mod web_config;

pub use cli::{ExporterCli, Invocation};
pub use collectors::{
    BlockingCollector, CollectError, CollectorSet, CollectorSetError, DEFAULT_COLLECTOR_TIMEOUT,
    DEFAULT_TIMEOUT_OFFSET, DefaultState, FilterError, ScrapeCollector, ScrapeContext,
    ScrapeOptions, Selection, scrape_budget,
};
pub use compat::{Compat, UnknownCompat};
pub use error::{ConfigProblem, Error, TlsError, WebConfigError};
pub use exposition::{EncodeReport, Exposition};
pub use flags::{WebArgs, WebDefaults, WebFlag};
pub use go_duration::{GoDurationError, parse_go_duration, parse_go_duration_nanos};
pub use landing::LandingPage;
pub use lifecycle::{STOP_DEADLINE, exit_with, one_line, run_until_stopped};
pub use logging::{LOG_QUEUE_LINES, LogFormat, LogLevel, exporter_logging, init_logging};
#[cfg(feature = "mimalloc")]
pub use malloc::release_memory_promptly;
pub use malloc::{limit_malloc_arenas, release_free_memory};
pub use process::{PROCESS_FAMILIES, ProcessCollector};
pub use response::{Body, Response, accepts_gzip, text as text_response};
pub use route::{RouteFuture, RouteHandler, RouteOptions, RouteRequest, SCRAPE_TIMEOUT_HEADER};
pub use self_metrics::{ERRORS_TOTAL, REQUESTS_IN_FLIGHT, REQUESTS_TOTAL};
pub use server::{
    DEFAULT_MAX_REQUESTS, HEADER_READ_TIMEOUT, Server, ServerBuilder, ServerHandle,
    termination_signal,
};
pub use version::{BuildInfo, RUST_VERSION};
pub use web_config::{
    ClientAuthType, Curve, PemSource, RateLimit, TlsServerConfig, TlsVersion, WebConfig,
};

/// The `http` crate, whose types appear in this crate's API (`HeaderMap`, `StatusCode`).
pub use http;
