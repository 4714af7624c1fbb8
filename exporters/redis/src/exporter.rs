//! The exporter of one target: its connection (kept between scrapes unless
//! `--persistent-connection=false`), what it learnt about the server, and the
//! `redis_exporter_*` self-metrics. Scrapes of one target run one at a time, as in
//! redis_exporter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aiplatform_metrics::MetricFamily;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::address::RedisAddress;
use crate::connection::{ConnectOptions, Connection, Credentials};
use crate::families::FamilySet;
use crate::scrape::{ScrapeConfig, ScrapeError, TargetState, scrape_with};

/// The part of a scrape's time limit kept back so `redis_up 0` is still reported when Redis
/// does not answer: a tenth of it, at most this much.
pub const RESERVE: Duration = Duration::from_millis(250);

/// Version labels of `redis_exporter_build_info`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// `version`.
    pub version: String,
    /// `commit_sha`.
    pub commit_sha: String,
    /// `build_date`.
    pub build_date: String,
    /// `golang_version`: here the Rust compiler's version.
    pub language_version: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit_sha: option_env!("AIPLATFORM_COMMIT_SHA")
                .unwrap_or("unknown")
                .to_owned(),
            build_date: option_env!("AIPLATFORM_BUILD_DATE")
                .unwrap_or("unknown")
                .to_owned(),
            language_version: format!("rustc{}", aiplatform_prometheus::RUST_VERSION),
        }
    }
}

fn connect_time(out: &mut FamilySet, took: Duration) {
    out.gauge(
        "exporter_last_scrape_connect_time_seconds",
        "exporter_last_scrape_connect_time_seconds metric",
        &[],
        &[],
        took.as_secs_f64(),
    );
}

/// What one scrape produced.
#[derive(Debug)]
pub struct ScrapeOutcome {
    /// Every family, `redis_up` and the exporter's own included.
    pub families: Vec<MetricFamily>,
    /// The error text when `redis_up` is 0.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    conn: Option<Connection>,
    target: TargetState,
    last_connect: Duration,
    scrapes: u64,
    duration_count: u64,
    duration_sum: f64,
    was_up: Option<bool>,
}

/// Scrapes one Redis; see the [module docs](self).
#[derive(Debug)]
pub struct RedisExporter {
    config: Arc<ScrapeConfig>,
    addr: RedisAddress,
    credentials: Credentials,
    request_errors: Arc<AtomicU64>,
    build_info: Option<BuildInfo>,
    state: Mutex<State>,
}

impl RedisExporter {
    /// An exporter for `addr`. `credentials` override the address's own; `request_errors`
    /// is the shared `target_scrape_request_errors_total`; `build_info` adds
    /// `redis_exporter_build_info` (not with `--redis-only-metrics`, nor on `/scrape`).
    pub fn new(
        config: Arc<ScrapeConfig>,
        addr: RedisAddress,
        credentials: Credentials,
        request_errors: Arc<AtomicU64>,
        build_info: Option<BuildInfo>,
    ) -> RedisExporter {
        let credentials = if credentials.password.is_empty() && credentials.user.is_none() {
            Credentials {
                user: addr.user().map(str::to_owned),
                password: crate::connection::Secret::new(addr.password().unwrap_or_default()),
            }
        } else {
            credentials
        };
        RedisExporter {
            config,
            addr,
            credentials,
            request_errors,
            build_info,
            state: Mutex::new(State::default()),
        }
    }

    /// The target, without credentials.
    pub fn address(&self) -> &RedisAddress {
        &self.addr
    }

    /// One scrape, finished by `deadline` (less [`RESERVE`]): every family, including
    /// `redis_up` and the exporter's own.
    pub async fn scrape(&self, deadline: Instant) -> ScrapeOutcome {
        let started = Instant::now();
        let reserve = (deadline.saturating_duration_since(started) / 10).min(RESERVE);
        let inner_deadline = deadline - reserve;
        // Scrapes of one target take turns; one that cannot get its turn in time still answers.
        let Ok(mut state) = tokio::time::timeout_at(inner_deadline, self.state.lock()).await else {
            let text = "the previous scrape of this target is still running".to_owned();
            let mut out = FamilySet::new(&self.config.namespace);
            out.gauge(
                "exporter_last_scrape_error",
                "The last scrape error status.",
                &["err"],
                &[&text],
                1.0,
            );
            out.gauge("up", "Information about the Redis instance", &[], &[], 0.0);
            return ScrapeOutcome {
                families: out.into_families(),
                error: Some(text),
            };
        };
        state.scrapes += 1;
        let mut out = FamilySet::new(&self.config.namespace);

        let result = self
            .scrape_target(&mut state, inner_deadline, &mut out)
            .await;
        let up = result.is_ok();
        let mut error = None;
        match &result {
            Ok(()) => out.gauge(
                "exporter_last_scrape_error",
                "The last scrape error status.",
                &["err"],
                &[""],
                0.0,
            ),
            Err(e) => {
                let text = e.to_string();
                out.gauge(
                    "exporter_last_scrape_error",
                    "The last scrape error status.",
                    &["err"],
                    &[&text],
                    1.0,
                );
                if state.was_up != Some(false) {
                    tracing::warn!(target_addr = %self.addr, error = %text, "Redis scrape failed");
                } else {
                    tracing::debug!(target_addr = %self.addr, error = %text, "Redis scrape failed");
                }
                error = Some(text);
            }
        }
        if up && state.was_up == Some(false) {
            tracing::info!(target_addr = %self.addr, "Redis scrape succeeded again");
        }
        state.was_up = Some(up);
        out.gauge(
            "up",
            "Information about the Redis instance",
            &[],
            &[],
            if up { 1.0 } else { 0.0 },
        );
        let took = started.elapsed().as_secs_f64();
        state.duration_count += 1;
        state.duration_sum += took;
        out.gauge(
            "exporter_last_scrape_duration_seconds",
            "exporter_last_scrape_duration_seconds metric",
            &[],
            &[],
            took,
        );
        out.counter(
            "exporter_scrapes_total",
            "Current total redis scrapes.",
            &[],
            &[],
            state.scrapes as f64,
        );
        out.summary(
            "exporter_scrape_duration_seconds",
            "Durations of scrapes by the exporter",
            &[],
            &[],
            &[],
            state.duration_count,
            state.duration_sum,
        );
        out.counter(
            "target_scrape_request_errors_total",
            "Errors in requests to the exporter",
            &[],
            &[],
            self.request_errors.load(Ordering::Relaxed) as f64,
        );
        if let Some(b) = &self.build_info {
            out.gauge(
                "exporter_build_info",
                "redis exporter build_info",
                &["version", "commit_sha", "build_date", "golang_version"],
                &[
                    &b.version,
                    &b.commit_sha,
                    &b.build_date,
                    &b.language_version,
                ],
                1.0,
            );
        }
        ScrapeOutcome {
            families: out.into_families(),
            error,
        }
    }

    async fn connect(
        &self,
        state: &mut State,
        deadline: Instant,
        out: &mut FamilySet,
    ) -> Result<Connection, ScrapeError> {
        let cfg = &*self.config;
        let started = Instant::now();
        let opts = ConnectOptions {
            credentials: &self.credentials,
            client_name: cfg.client_name.as_deref(),
            deadline: (started + cfg.connection_timeout).min(deadline),
            tls: &cfg.tls,
        };
        let opened = Connection::open(&self.addr, &opts).await;
        state.last_connect = started.elapsed();
        connect_time(out, state.last_connect);
        Ok(opened?)
    }

    async fn scrape_target(
        &self,
        state: &mut State,
        deadline: Instant,
        out: &mut FamilySet,
    ) -> Result<(), ScrapeError> {
        let cfg = &*self.config;
        let (mut conn, reused) = match state.conn.take() {
            Some(c) => {
                connect_time(out, state.last_connect);
                (c, true)
            }
            None => (self.connect(state, deadline, out).await?, false),
        };
        let mut result = scrape_with(&mut conn, cfg, &mut state.target, deadline, out).await;
        if reused && matches!(result, Err(ScrapeError::Conn(ref e)) if e.is_broken_connection()) {
            // The kept connection died since the last scrape (Redis restarted, idle timeout):
            // one fresh connection, and this scrape's partial families are dropped.
            tracing::debug!(target_addr = %self.addr, "kept connection broken; reconnecting");
            *out = FamilySet::new(&cfg.namespace);
            conn = self.connect(state, deadline, out).await?;
            result = scrape_with(&mut conn, cfg, &mut state.target, deadline, out).await;
        }
        if matches!(result, Ok(()) | Err(ScrapeError::Info(_))) && cfg.persistent {
            state.conn = Some(conn);
        }
        result
    }
}
