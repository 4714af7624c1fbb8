//! One request, from the web config's checks to the route that answers it.
//!
//! Order, as the exporter-toolkit's `webHandler`: read the web config (500 if it became
//! invalid), rate limit (429), configured headers, basic auth (401, or 429 when
//! too many password checks are already waiting); then the route: the
//! telemetry path, extra routes, the landing page at `/`, the health endpoints, else 404.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use http::header::AUTHORIZATION;
use http::{Request, StatusCode};

use crate::basic_auth::{BasicAuth, Verdict};
use crate::collectors::CollectorSet;
use crate::config_source::ConfigSource;
use crate::exposition::Exposition;
use crate::limits::{RateLimiter, ScrapeLimiter};
use crate::process::ProcessCollector;
use crate::query;
use crate::response::{self, Response};
use crate::route::{RouteHandler, RouteOptions, RouteRequest};
use crate::self_metrics::HandlerMetrics;

/// Everything a request may need; shared by all connections.
pub(crate) struct App {
    pub(crate) telemetry_path: String,
    /// The rendered landing page (absent when the telemetry path is `/`).
    pub(crate) landing: Option<bytes::Bytes>,
    pub(crate) health: bool,
    pub(crate) exposition: Exposition,
    pub(crate) collectors: Option<Arc<CollectorSet>>,
    pub(crate) collector_filters: bool,
    pub(crate) exporter_metrics: Option<Arc<ExporterMetrics>>,
    pub(crate) limiter: ScrapeLimiter,
    pub(crate) routes: HashMap<String, (RouteOptions, Arc<dyn RouteHandler>)>,
    pub(crate) config: ConfigSource,
    pub(crate) auth: BasicAuth,
    pub(crate) rate: RateLimiter,
}

/// `promhttp_*` and `process_*`, unless `--web.disable-exporter-metrics`.
#[derive(Debug)]
pub(crate) struct ExporterMetrics {
    pub(crate) handler: HandlerMetrics,
    pub(crate) process: ProcessCollector,
}

impl App {
    pub(crate) async fn handle<B>(&self, req: Request<B>) -> Response {
        let config = match self.config.current() {
            Ok(c) => c,
            // Logged where it was read; fail closed, as the toolkit does.
            Err(_) => return response::status(StatusCode::INTERNAL_SERVER_ERROR),
        };
        if let Some(limit) = config.as_ref().and_then(|c| c.rate_limit)
            && !self.rate.allow(limit, Instant::now())
        {
            return response::status(StatusCode::TOO_MANY_REQUESTS);
        }
        let verdict = match &config {
            Some(c) if !c.basic_auth_users.is_empty() => {
                self.auth
                    .check(&c.basic_auth_users, req.headers().get(AUTHORIZATION))
                    .await
            }
            _ => Verdict::Allowed,
        };
        let mut resp = match verdict {
            Verdict::Allowed => self.route(req).await,
            Verdict::Denied => response::unauthorized(),
            // Too many password checks waiting: refused without one, so a flood of wrong
            // passwords cannot queue up behind the bcrypt thread.
            Verdict::Busy => response::status(StatusCode::TOO_MANY_REQUESTS),
        };
        if let Some(c) = &config {
            for (name, value) in &c.headers {
                resp.headers_mut().insert(name.clone(), value.clone());
            }
        }
        resp
    }

    async fn route<B>(&self, req: Request<B>) -> Response {
        let path = req.uri().path();
        if path == self.telemetry_path {
            return self.scrape(req).await;
        }
        if let Some((options, handler)) = self.routes.get(path) {
            let _permit = if options.limited {
                match self.limiter.try_acquire() {
                    Some(p) => Some(p),
                    None => {
                        return response::text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            self.limiter.refusal_body(),
                        );
                    }
                }
            } else {
                None
            };
            let (parts, _body) = req.into_parts();
            let request = RouteRequest {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: query::parse(parts.uri.query().unwrap_or("")),
                headers: parts.headers,
            };
            return handler.call(request).await;
        }
        match path {
            "/" if self.landing.is_some() => {
                response::html(self.landing.clone().unwrap_or_default())
            }
            "/health" | "/-/healthy" if self.health => response::text(StatusCode::OK, "ok"),
            _ => response::not_found(),
        }
    }
}
