//! Extra routes a binary adds (`/probe?target=...` for postgres, `/scrape?target=...` for
//! redis). They are served behind the same TLS, basic auth, headers and rate limit as the
//! telemetry path and, unless told otherwise, count against `--web.max-requests`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aiplatform_metrics::MetricFamily;
use http::{HeaderMap, Method};

use crate::collectors::{CollectorSet, ScrapeOptions, scrape_budget};
use crate::exposition::Exposition;
use crate::query;
use crate::response::{Response, header_str};

/// Prometheus' header carrying the scrape timeout.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// One request to an extra route.
#[derive(Debug)]
pub struct RouteRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
}

impl RouteRequest {
    /// A request built by hand (for testing a handler without a server).
    pub fn new(method: Method, path_and_query: &str, headers: HeaderMap) -> RouteRequest {
        let (path, q) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        RouteRequest {
            method,
            path: path.to_owned(),
            query: query::parse(q),
            headers,
        }
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of a query parameter, decoded.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter, in order.
    pub fn query_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        query::values(&self.query, name)
    }

    /// The time this scrape may take: Prometheus' timeout header less `offset` (see
    /// [`scrape_budget`]), or `default` without the header, whichever is shorter.
    pub fn budget(&self, default: Duration, offset: Duration) -> Duration {
        scrape_budget(header_str(&self.headers, SCRAPE_TIMEOUT_HEADER), offset)
            .map_or(default, |b| b.min(default))
    }

    /// Renders `exposition` plus `extra` with this request's negotiation and compression.
    pub async fn render(&self, exposition: &Exposition, extra: Vec<MetricFamily>) -> Response {
        exposition.render(&self.headers, extra).await
    }

    /// Runs `collectors` for this request (budget from the timeout header, query passed to
    /// the collectors, `collect[]`/`exclude[]` ignored) and renders them with `exposition`.
    pub async fn scrape(&self, collectors: &CollectorSet, exposition: &Exposition) -> Response {
        let families = collectors
            .scrape(ScrapeOptions {
                budget: scrape_budget(
                    header_str(&self.headers, SCRAPE_TIMEOUT_HEADER),
                    collectors.timeout_offset(),
                ),
                query: self.query.clone(),
                ..ScrapeOptions::default()
            })
            .await;
        self.render(exposition, families).await
    }
}

/// The future a route handler returns.
pub type RouteFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Handles requests to one extra route. Implemented for async closures
/// `Fn(RouteRequest) -> impl Future<Output = Response>`.
pub trait RouteHandler: Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, request: RouteRequest) -> RouteFuture;
}

impl<F, Fut> RouteHandler for F
where
    F: Fn(RouteRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn call(&self, request: RouteRequest) -> RouteFuture {
        Box::pin(self(request))
    }
}

/// How an extra route is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteOptions {
    /// Whether a request holds one of the `--web.max-requests` slots (default true: probes
    /// and multi-target scrapes cost as much as a scrape).
    pub limited: bool,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions { limited: true }
    }
}

impl RouteOptions {
    /// Not counted against `--web.max-requests` (cheap routes).
    pub fn unlimited() -> RouteOptions {
        RouteOptions { limited: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_prefers_the_shorter() {
        let mut h = HeaderMap::new();
        h.insert(SCRAPE_TIMEOUT_HEADER, "4".parse().unwrap());
        let r = RouteRequest::new(Method::GET, "/probe?target=a%3A1&target=b", h);
        let off = Duration::from_millis(500);
        assert_eq!(
            r.budget(Duration::from_secs(60), off),
            Duration::from_millis(3500)
        );
        assert_eq!(
            r.budget(Duration::from_secs(1), off),
            Duration::from_secs(1)
        );
        assert_eq!(r.query("target"), Some("a:1"));
        assert_eq!(r.query_all("target").count(), 2);
        assert_eq!(r.path(), "/probe");
        let r = RouteRequest::new(Method::GET, "/probe", HeaderMap::new());
        assert_eq!(
            r.budget(Duration::from_secs(7), off),
            Duration::from_secs(7)
        );
    }
}
