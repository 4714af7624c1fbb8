//! `/probe?target=host:port[/db]&auth_module=name`: scraping another server with the
//! credentials of a configured auth module, only for the targets that module allows.
//!
//! Served only when `--config.file` defines auth modules. Each target keeps its own pooled
//! connection; at most `max_targets` targets are kept, the least recently used one (and its
//! connection) is dropped past that, so `/probe` cannot grow connections without bound
//! (upstream #921, #941).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aiplatform_metrics::Registry;
use aiplatform_prometheus::http::StatusCode;
use aiplatform_prometheus::{CollectorSet, Exposition, Response, RouteRequest, text_response};
use parking_lot::Mutex;

use crate::auth_config::AuthConfig;
use crate::config::Config;
use crate::exporter::Scraped;
use crate::target::{Limits, Target};

/// The `/probe` handler's state.
#[derive(Debug)]
pub struct Prober {
    auth: AuthConfig,
    config: Arc<Config>,
    limits: Limits,
    flags: CollectorSet,
    timeout: Duration,
    max_targets: usize,
    cache: Mutex<Vec<(String, Scraped, Instant)>>,
}

impl Prober {
    /// A prober using `auth`'s modules, running the collectors enabled in `flags` (the set
    /// the command line was parsed into).
    pub fn new(
        auth: AuthConfig,
        config: Arc<Config>,
        limits: Limits,
        flags: CollectorSet,
        timeout: Duration,
        max_targets: usize,
    ) -> Prober {
        Prober {
            auth,
            config,
            limits,
            flags,
            timeout,
            max_targets: max_targets.max(1),
            cache: Mutex::new(Vec::new()),
        }
    }

    fn scraped(&self, key: String, make: impl FnOnce() -> Target) -> Scraped {
        let mut cache = self.cache.lock();
        if let Some(entry) = cache.iter_mut().find(|(k, _, _)| *k == key) {
            entry.2 = Instant::now();
            return entry.1.clone();
        }
        if cache.len() >= self.max_targets
            && let Some(oldest) = cache
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, _, t))| *t)
                .map(|(i, _)| i)
        {
            cache.swap_remove(oldest);
        }
        let s = Scraped::new(make());
        cache.push((key, s.clone(), Instant::now()));
        s
    }

    /// Answers one `/probe` request.
    pub async fn handle(&self, req: RouteRequest) -> Response {
        let Some(target) = req.query("target").filter(|t| !t.is_empty()) else {
            return text_response(StatusCode::BAD_REQUEST, "target is required\n");
        };
        let Some(module) = req.query("auth_module").filter(|m| !m.is_empty()) else {
            return text_response(
                StatusCode::BAD_REQUEST,
                "auth_module is required: /probe only uses credentials from --config.file\n",
            );
        };
        let dsn = match self.auth.dsn_for(module, target) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(target = %crate::redact_dsn(target), err = %e, "Refused probe");
                return text_response(StatusCode::BAD_REQUEST, format!("{e}\n"));
            }
        };
        let key = format!("{module}\u{0}{}", dsn.redacted());
        let limits = self.limits;
        let scraped = self.scraped(key, || Target::new(dsn, limits));
        let set = match scraped.collector_set(&self.config, &self.flags, self.timeout) {
            Ok(s) => s,
            Err(e) => {
                return text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"));
            }
        };
        let registry = Registry::new();
        scraped.register_self_metrics(&registry, &self.config, None);
        req.scrape(&set, &Exposition::new(registry)).await
    }
}
