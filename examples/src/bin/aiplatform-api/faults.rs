//! Fault injection: answer a chosen share of `/api/v1/*` requests with `503 Service
//! Unavailable`, so that alerts on the error ratio and the dashboards' error panels can be
//! exercised against the real service.
//!
//! Off unless the API starts with `--fault-injection`; then `PUT /admin/faults` with
//! `{"error_ratio": 0.25}` sets the share and `GET /admin/faults` reads it. The failing
//! requests are spread evenly and deterministically (request `n` fails when
//! `floor((n + 1) * ratio) > floor(n * ratio)`), so a ratio of 0.25 fails exactly one request
//! in four, with no random number generator and no burst.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// The path prefix of the requests that may be failed: the API's work, never `/health` or
/// `/metrics` (a failing scrape would hide the errors it should show).
const FAULTABLE_PREFIX: &str = "/api/v1/";

/// The injected error ratio and the request counter that spreads the failures.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// `f64` bits of the ratio in `[0, 1]`.
    ratio: AtomicU64,
    /// Faultable requests seen since the ratio was last set.
    seen: AtomicU64,
}

#[derive(Debug, Serialize, Deserialize)]
struct FaultSettings {
    /// Share of `/api/v1/*` requests to fail, from 0 (none) to 1 (all).
    error_ratio: f64,
}

impl Faults {
    fn ratio(&self) -> f64 {
        f64::from_bits(self.inner.ratio.load(Ordering::Relaxed))
    }

    fn set_ratio(&self, ratio: f64) {
        self.inner.ratio.store(ratio.to_bits(), Ordering::Relaxed);
        self.inner.seen.store(0, Ordering::Relaxed);
    }

    /// Whether the next faultable request fails.
    fn next_fails(&self) -> bool {
        let ratio = self.ratio();
        if ratio <= 0.0 {
            return false;
        }
        let n = self.inner.seen.fetch_add(1, Ordering::Relaxed);
        fails(n, ratio)
    }

    /// The `/admin/faults` routes.
    pub fn routes<S>(&self) -> Router<S> {
        Router::new()
            .route(
                "/admin/faults",
                axum::routing::get(get_faults).put(put_faults),
            )
            .with_state(self.clone())
    }
}

/// Whether request number `n` (from 0) fails at `ratio`: `floor((n + 1) * ratio)` moved past
/// `floor(n * ratio)`, i.e. a failure is due.
fn fails(n: u64, ratio: f64) -> bool {
    ((n + 1) as f64 * ratio).floor() > (n as f64 * ratio).floor()
}

async fn get_faults(State(faults): State<Faults>) -> Json<FaultSettings> {
    Json(FaultSettings {
        error_ratio: faults.ratio(),
    })
}

async fn put_faults(
    State(faults): State<Faults>,
    Json(settings): Json<FaultSettings>,
) -> Result<Json<FaultSettings>, (StatusCode, &'static str)> {
    if !(0.0..=1.0).contains(&settings.error_ratio) {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            "error_ratio: a number from 0 to 1",
        ));
    }
    faults.set_ratio(settings.error_ratio);
    tracing::warn!(
        error_ratio = settings.error_ratio,
        "fault injection: error ratio set"
    );
    Ok(Json(settings))
}

/// Middleware: fails the request with 503 when a fault is due, before the handler runs.
pub async fn inject(State(faults): State<Faults>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with(FAULTABLE_PREFIX) && faults.next_fails() {
        return (StatusCode::SERVICE_UNAVAILABLE, "injected fault").into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(ratio: f64, requests: u64) -> u64 {
        (0..requests).filter(|&n| fails(n, ratio)).count() as u64
    }

    #[test]
    fn failures_match_the_ratio_exactly_and_evenly() {
        assert_eq!(failures(0.0, 1000), 0);
        assert_eq!(failures(1.0, 1000), 1000);
        assert_eq!(failures(0.25, 1000), 250);
        assert_eq!(failures(0.1, 1000), 100);
        // Evenly: a quarter fails one request in every four, never two in a row.
        let pattern: Vec<bool> = (0..8).map(|n| fails(n, 0.25)).collect();
        assert_eq!(
            pattern,
            [false, false, false, true, false, false, false, true]
        );
    }

    #[test]
    fn setting_the_ratio_restarts_the_spread() {
        let faults = Faults::default();
        assert!(!faults.next_fails(), "off by default");
        faults.set_ratio(1.0);
        assert!(faults.next_fails());
        faults.set_ratio(0.5);
        assert_eq!(
            [faults.next_fails(), faults.next_fails()],
            [false, true],
            "a new ratio starts counting from zero"
        );
        faults.set_ratio(0.0);
        assert!(!faults.next_fails());
    }
}
