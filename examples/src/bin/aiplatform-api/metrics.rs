//! Application metrics (requests, latency, open connections) and business metrics
//! (predictions, accuracy, training rounds), and the middleware that records the
//! per-request ones and writes the request log line.

use std::time::Instant;

use aiplatform_metrics::{
    Buckets, Counter, Family, Gauge, Histogram, Opts, RegistrationError, Registry, Unit,
};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// Everything the handlers record, registered once.
#[derive(Clone)]
pub struct AppMetrics {
    pub requests: Family<Counter>,
    pub duration: Family<Histogram>,
    pub active_connections: Gauge,
    pub predictions: Family<Counter>,
    pub accuracy: Gauge,
    pub training_rounds: Counter,
    pub quantum_optimizations: Counter,
    /// Whether each request gets a span (only when spans are exported: span fields would
    /// otherwise only add labels to the request log line).
    pub request_spans: bool,
}

impl AppMetrics {
    pub fn register(r: &Registry) -> Result<Self, RegistrationError> {
        Ok(AppMetrics {
            requests: r.counter_family(
                "aiplatform_requests_total",
                "Requests handled by the AI Platform API.",
                &["endpoint", "method", "status"],
            )?,
            duration: r.register(
                Opts::histogram(
                    "aiplatform_request_duration",
                    "Time to handle a request.",
                    Buckets::default(),
                )
                .unit(Unit::SECONDS)
                .label_names(&["endpoint"]),
            )?,
            active_connections: r
                .gauge("aiplatform_active_connections", "Open client connections.")?,
            predictions: r.counter_family(
                "aiplatform_ml_predictions_total",
                "Predictions served, by model.",
                &["model"],
            )?,
            accuracy: r.gauge(
                "aiplatform_ml_prediction_accuracy",
                "Share of correct predictions among the last 100 labelled requests.",
            )?,
            training_rounds: r.counter(
                "aiplatform_federated_training_rounds_total",
                "Federated training rounds completed.",
            )?,
            quantum_optimizations: r.counter(
                "aiplatform_quantum_optimizations_total",
                "Quantum optimisation jobs run.",
            )?,
            request_spans: false,
        })
    }

    /// Gives every request a span (see [`AppMetrics::request_spans`]).
    pub fn with_request_spans(mut self, on: bool) -> Self {
        self.request_spans = on;
        self
    }
}

/// Records `aiplatform_requests_total` / `aiplatform_request_duration_seconds` by route
/// template (`unknown` for no route), standard method (`OTHER` for any other) and status, so
/// no label value comes from the request as sent; and logs the request: method, full URL with query string, status and latency.
pub async fn track(State(metrics): State<AppMetrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unknown", |p| p.as_str())
        .to_owned();
    let method = req.method().clone();
    // Standard methods as themselves, anything else as OTHER: a client inventing methods
    // must not add series (1000 invented 50 KB methods took the process from 14 to 164 MB).
    let method_label = aiplatform_metrics::http::method_label(&method);
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host}{}", req.uri());
    // One span per request when OTLP traces are on; the request log line is written inside
    // it, so it carries the span's trace id. A caller's W3C `traceparent` header makes it a
    // child of the caller's span (an invalid one is ignored by the span exporter).
    let span = if metrics.request_spans {
        let traceparent = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok());
        tracing::info_span!(
            "request",
            otel.name = %format_args!("{method} {endpoint}"),
            otel.kind = "server",
            http.request.method = %method,
            http.route = %endpoint,
            http.response.status_code = tracing::field::Empty,
            traceparent,
        )
    } else {
        tracing::Span::none()
    };
    let response = next.run(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let elapsed = start.elapsed();
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    let mut code = itoa::Buffer::new();
    metrics.requests.apply(
        &[
            endpoint.as_str(),
            method_label,
            code.format(status.as_u16()),
        ],
        |c| c.inc(),
    );
    metrics
        .duration
        .apply(&[endpoint.as_str()], |h| h.observe_duration(elapsed));
    tracing::info!(
        http.request.method = %method,
        url.full = %url,
        http.response.status_code = status.as_u16(),
        event.duration = elapsed.as_nanos() as u64,
        "request served"
    );
    response
}
