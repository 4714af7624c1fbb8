//! The API's routes and handlers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_metrics::http::HttpMetricsLayer;
use aiplatform_prometheus::{Exposition, ProcessCollector};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::faults::{self, Faults};
use crate::metrics::{AppMetrics, track};

#[derive(Clone)]
struct AppState {
    metrics: AppMetrics,
    exposition: Exposition,
    /// Outcomes of the last labelled predictions, for the accuracy gauge.
    outcomes: Arc<Mutex<VecDeque<bool>>>,
}

/// Builds the router with every layer in place. With `faults`, the `/admin/faults` routes are
/// added and injected failures pass through the same metrics and logs as real ones.
pub fn app(
    registry: Registry,
    metrics: AppMetrics,
    faults: Option<Faults>,
) -> anyhow::Result<Router> {
    registry.register_collector(ProcessCollector::new());
    let http = HttpMetricsLayer::builder(&registry).axum_routes().build()?;
    let state = AppState {
        metrics: metrics.clone(),
        // Every counter here ends in _total: OpenMetrics renames nothing.
        exposition: Exposition::with_openmetrics(registry),
        outcomes: Arc::new(Mutex::new(VecDeque::with_capacity(100))),
    };
    let mut router = Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/metrics", get(metrics_endpoint))
        .route("/api/v1/predict", post(predict))
        .route("/api/v1/training/rounds", post(training_round))
        .route("/api/v1/optimize", post(optimize));
    if let Some(faults) = faults {
        router = router
            .merge(faults.routes())
            .layer(axum::middleware::from_fn_with_state(faults, faults::inject));
    }
    Ok(router
        .layer(axum::middleware::from_fn_with_state(metrics, track))
        .layer(http)
        .with_state(state))
}

async fn index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "service": "aiplatform-api",
        "endpoints": ["/health", "/metrics", "POST /api/v1/predict", "POST /api/v1/training/rounds", "POST /api/v1/optimize"],
    }))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "healthy" }))
}

async fn metrics_endpoint(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    state.exposition.render(&headers, Vec::new()).await
}

#[derive(Debug, Deserialize)]
struct PredictRequest {
    #[serde(default = "default_model")]
    model: String,
    features: Vec<f64>,
    /// The true class, when the caller knows it: used for the accuracy gauge.
    label: Option<u8>,
}

fn default_model() -> String {
    "default".to_owned()
}

#[derive(Debug, Serialize)]
struct PredictResponse {
    model: String,
    class: u8,
    probability: f64,
}

/// Known models: a model name is a label value, so it must come from a fixed set.
const MODELS: [&str; 3] = ["default", "fraud", "churn"];

async fn predict(
    State(state): State<AppState>,
    Json(req): Json<PredictRequest>,
) -> Result<Json<PredictResponse>, (StatusCode, String)> {
    if req.features.is_empty()
        || req.features.len() > 1024
        || req.features.iter().any(|f| !f.is_finite())
    {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "features: 1 to 1024 finite numbers".into(),
        ));
    }
    let Some(model) = MODELS.iter().find(|m| **m == req.model) else {
        return Err((
            StatusCode::NOT_FOUND,
            format!("unknown model {:?}; known: {MODELS:?}", req.model),
        ));
    };
    // A logistic model over the mean feature; inference time grows with the input size.
    tokio::time::sleep(Duration::from_micros(200 + 20 * req.features.len() as u64)).await;
    let mean = req.features.iter().sum::<f64>() / req.features.len() as f64;
    let probability = 1.0 / (1.0 + (-mean).exp());
    let class = u8::from(probability >= 0.5);
    state.metrics.predictions.with(&[*model]).inc();
    if let Some(label) = req.label {
        let mut outcomes = state
            .outcomes
            .lock()
            .expect("no panics while holding the lock");
        if outcomes.len() == 100 {
            outcomes.pop_front();
        }
        outcomes.push_back(label == class);
        let correct = outcomes.iter().filter(|&&ok| ok).count();
        state
            .metrics
            .accuracy
            .set(correct as f64 / outcomes.len() as f64);
    }
    Ok(Json(PredictResponse {
        model: model.to_string(),
        class,
        probability,
    }))
}

#[derive(Debug, Deserialize)]
struct TrainingRound {
    clients: u32,
}

async fn training_round(
    State(state): State<AppState>,
    Json(req): Json<TrainingRound>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    if req.clients == 0 || req.clients > 1000 {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "clients: 1 to 1000".into(),
        ));
    }
    // Aggregating client updates takes longer with more clients.
    tokio::time::sleep(Duration::from_millis(1 + u64::from(req.clients) / 10)).await;
    state.metrics.training_rounds.inc();
    Ok(Json(
        serde_json::json!({ "clients": req.clients, "aggregated": true }),
    ))
}

#[derive(Debug, Deserialize)]
struct Optimize {
    problem_size: u32,
}

async fn optimize(
    State(state): State<AppState>,
    Json(req): Json<Optimize>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    if req.problem_size == 0 || req.problem_size > 64 {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "problem_size: 1 to 64".into(),
        ));
    }
    tokio::time::sleep(Duration::from_millis(u64::from(req.problem_size))).await;
    state.metrics.quantum_optimizations.inc();
    Ok(Json(
        serde_json::json!({ "problem_size": req.problem_size, "energy": -f64::from(req.problem_size).sqrt() }),
    ))
}
