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

use aiplatform_prometheus::family::FamilySet;

use crate::address::RedisAddress;
use crate::config::{Config, family_set};
use crate::connection::{ConnectOptions, Connection, Credentials};
use crate::scrape::{ScrapeError, TargetState, scrape_with};
use crate::self_metrics::{self, BuildInfo, ScrapeStats};

/// The part of a scrape's time limit kept back so `redis_up 0` is still reported when Redis
/// does not answer: a tenth of it, at most this much.
pub const RESERVE: Duration = Duration::from_millis(250);

/// `redis_up`: whether the scrape reached Redis and read `INFO`.
fn up(out: &mut FamilySet, up: bool) {
    out.gauge(
        "up",
        "Information about the Redis instance",
        &[],
        &[],
        if up { 1.0 } else { 0.0 },
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
    stats: ScrapeStats,
    was_up: Option<bool>,
}

/// Scrapes one Redis; see the [module docs](self).
#[derive(Debug)]
pub struct RedisExporter {
    config: Arc<Config>,
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
        config: Arc<Config>,
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
            let mut out = family_set(&self.config.namespace);
            self_metrics::last_scrape_error(&mut out, Some(&text));
            up(&mut out, false);
            return ScrapeOutcome {
                families: out.into_families(),
                error: Some(text),
            };
        };
        state.stats.scrapes += 1;
        let mut out = family_set(&self.config.namespace);

        let result = self
            .scrape_target(&mut state, inner_deadline, &mut out)
            .await;
        let is_up = result.is_ok();
        let mut error = None;
        match &result {
            Ok(()) => self_metrics::last_scrape_error(&mut out, None),
            Err(e) => {
                let text = e.to_string();
                self_metrics::last_scrape_error(&mut out, Some(&text));
                if state.was_up != Some(false) {
                    tracing::warn!(target_addr = %self.addr, error = %text, "Redis scrape failed");
                } else {
                    tracing::debug!(target_addr = %self.addr, error = %text, "Redis scrape failed");
                }
                error = Some(text);
            }
        }
        if is_up && state.was_up == Some(false) {
            tracing::info!(target_addr = %self.addr, "Redis scrape succeeded again");
        }
        state.was_up = Some(is_up);
        up(&mut out, is_up);
        state.stats.record(started.elapsed());
        self_metrics::scrape_stats(
            &mut out,
            &state.stats,
            self.request_errors.load(Ordering::Relaxed),
            self.build_info.as_ref(),
        );
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
        self_metrics::connect_time(out, state.last_connect);
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
                self_metrics::connect_time(out, state.last_connect);
                (c, true)
            }
            None => (self.connect(state, deadline, out).await?, false),
        };
        let mut result = scrape_with(&mut conn, cfg, &mut state.target, deadline, out).await;
        if reused && matches!(result, Err(ScrapeError::Conn(ref e)) if e.is_broken_connection()) {
            // The kept connection died since the last scrape (Redis restarted, idle timeout):
            // one fresh connection, and this scrape's partial families are dropped.
            tracing::debug!(target_addr = %self.addr, "kept connection broken; reconnecting");
            *out = family_set(&cfg.namespace);
            conn = self.connect(state, deadline, out).await?;
            result = scrape_with(&mut conn, cfg, &mut state.target, deadline, out).await;
        }
        if matches!(result, Ok(()) | Err(ScrapeError::Info(_))) && cfg.persistent {
            state.conn = Some(conn);
        }
        result
    }
}
