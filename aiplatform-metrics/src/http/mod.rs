//! HTTP server instrumentation as a `tower` layer (feature `tower`; `axum` adds route-template
//! extraction for axum routers).
//!
//! [`HttpMetricsLayer`] wraps any tower service that takes `http::Request`s and returns
//! `http::Response`s, and records:
//!
//! - `http_requests_total{method,endpoint,status}` (counter),
//! - `http_request_duration_seconds{method,endpoint}` (histogram, time to the response head),
//! - `http_requests_in_flight` (gauge).
//!
//! `endpoint` is the matched route template (`/users/{id}`), never the raw path, so it stays
//! bounded; requests no route matched share [`HttpMetricsBuilder::unknown_endpoint`]'s value.
//! Methods outside the standard set are recorded as `OTHER`, for the same reason. A request
//! whose response future is dropped before completing (client gone) is counted with status
//! `cancelled`; an inner service error with status `error`.
//!
//! ```
//! use aiplatform_metrics::Registry;
//! use aiplatform_metrics::http::HttpMetricsLayer;
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # tokio_test_block_on(async {
//! let registry = Registry::new();
//! let layer = HttpMetricsLayer::builder(&registry)
//!     .endpoint(|_extensions, uri| Some(if uri.path().starts_with("/users/") { "/users/{id}" } else { "/" }))
//!     .build()
//!     .unwrap();
//! let mut svc = layer.layer(service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! }));
//! svc.ready().await.unwrap().call(http::Request::get("/users/42").body(()).unwrap()).await.unwrap();
//! let text = String::from_utf8(registry.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap();
//! assert!(text.contains(r#"http_requests_total{method="GET",endpoint="/users/{id}",status="200"} 1"#));
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let waker = std::task::Waker::noop();
//! #     let mut cx = std::task::Context::from_waker(&waker);
//! #     let mut f = std::pin::pin!(f);
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! ```

mod future;
mod layer;

pub use future::ResponseFuture;
pub use layer::{HttpMetricsLayer, HttpMetricsService};

use std::sync::Arc;

use crate::counter::Counter;
use crate::error::RegistrationError;
use crate::family::Family;
use crate::gauge::Gauge;
use crate::histogram::Histogram;
use crate::histogram::buckets::Buckets;
use crate::names::Unit;
use crate::opts::Opts;
use crate::registry::Registry;

/// Finds the route template of a request from its extensions and URI; `None` if no route
/// matched. It borrows from the request, so it allocates nothing per request.
pub type EndpointFn =
    dyn for<'a> Fn(&'a http::Extensions, &'a http::Uri) -> Option<&'a str> + Send + Sync;

/// The families and settings shared by every clone of the layer and its services.
pub(crate) struct Recorder {
    pub(crate) requests: Family<Counter>,
    pub(crate) duration: Family<Histogram>,
    pub(crate) in_flight: Gauge,
    pub(crate) endpoint: Arc<EndpointFn>,
    pub(crate) unknown: Box<str>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("unknown", &self.unknown)
            .finish_non_exhaustive()
    }
}

/// The label value for a request method: the standard methods as themselves, anything else
/// as `OTHER`, so clients cannot grow the label's cardinality. For handlers that label their
/// own metrics by method.
///
/// ```
/// use aiplatform_metrics::http::method_label;
/// assert_eq!(method_label(&http::Method::GET), "GET");
/// let invented = http::Method::from_bytes(b"BREW").unwrap();
/// assert_eq!(method_label(&invented), "OTHER");
/// ```
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Configures an [`HttpMetricsLayer`].
pub struct HttpMetricsBuilder<'r> {
    registry: &'r Registry,
    prefix: String,
    buckets: Buckets,
    endpoint: Option<Arc<EndpointFn>>,
    unknown: String,
}

impl std::fmt::Debug for HttpMetricsBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetricsBuilder")
            .field("prefix", &self.prefix)
            .field("buckets", &self.buckets)
            .field("unknown", &self.unknown)
            .finish_non_exhaustive()
    }
}

impl<'r> HttpMetricsBuilder<'r> {
    /// Prefixes the three metric names (`{prefix}_http_requests_total`, ...).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Latency buckets (default: Prometheus' default buckets).
    pub fn buckets(mut self, buckets: Buckets) -> Self {
        self.buckets = buckets;
        self
    }

    /// How to find the route template of a request. Without one (and without the `axum`
    /// feature's [`HttpMetricsBuilder::axum_routes`]), every request is `unknown`: the raw path
    /// is never used.
    pub fn endpoint<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(&'a http::Extensions, &'a http::Uri) -> Option<&'a str>
            + Send
            + Sync
            + 'static,
    {
        self.endpoint = Some(Arc::new(f));
        self
    }

    /// Uses axum's `MatchedPath` (set by the router for matched routes; apply the layer with
    /// `Router::layer` so it runs after routing).
    #[cfg(feature = "axum")]
    pub fn axum_routes(self) -> Self {
        self.endpoint(|ext, _| ext.get::<axum::extract::MatchedPath>().map(|p| p.as_str()))
    }

    /// The endpoint value for requests no route matched (default `unknown`).
    pub fn unknown_endpoint(mut self, value: impl Into<String>) -> Self {
        self.unknown = value.into();
        self
    }

    /// Registers the families and returns the layer.
    pub fn build(self) -> Result<HttpMetricsLayer, RegistrationError> {
        let name = |base: &str| {
            if self.prefix.is_empty() {
                base.to_owned()
            } else {
                format!("{}_{base}", self.prefix)
            }
        };
        let requests = self.registry.register(
            Opts::counter(
                &name("http_requests_total"),
                "HTTP requests served, by method, route and status.",
            )
            .label_names(&["method", "endpoint", "status"]),
        )?;
        let duration = self.registry.register(
            Opts::histogram(
                &name("http_request_duration"),
                "Time from request to response head, by method and route.",
                self.buckets,
            )
            .unit(Unit::SECONDS)
            .label_names(&["method", "endpoint"]),
        )?;
        let in_flight = self.registry.gauge(
            &name("http_requests_in_flight"),
            "HTTP requests being served.",
        )?;
        let endpoint = self
            .endpoint
            .unwrap_or_else(|| Arc::new(|_: &http::Extensions, _: &http::Uri| None));
        Ok(HttpMetricsLayer::new(Arc::new(Recorder {
            requests,
            duration,
            in_flight,
            endpoint,
            unknown: self.unknown.into(),
        })))
    }
}

impl HttpMetricsLayer {
    /// Configures a layer recording into `registry`.
    pub fn builder(registry: &Registry) -> HttpMetricsBuilder<'_> {
        HttpMetricsBuilder {
            registry,
            prefix: String::new(),
            buckets: Buckets::default(),
            endpoint: None,
            unknown: "unknown".to_owned(),
        }
    }
}
