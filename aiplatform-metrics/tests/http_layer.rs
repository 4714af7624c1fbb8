//! The tower layer on a real axum router: route templates, unmatched routes, odd methods,
//! in-flight tracking and cancelled requests.
#![cfg(feature = "axum")]

use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_metrics::http::HttpMetricsLayer;
use aiplatform_testkit::SnapshotLookup;
use axum::Router;
use axum::routing::{get, post};
use tower::ServiceExt;

fn app(registry: &Registry) -> Router {
    let layer = HttpMetricsLayer::builder(registry)
        .axum_routes()
        .build()
        .unwrap();
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route(
            "/predict",
            post(|| async { (axum::http::StatusCode::CREATED, "ok") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(layer)
}

async fn send(app: &Router, method: &str, uri: &str) -> u16 {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn records_route_templates_never_raw_paths() {
    let registry = Registry::new();
    let app = app(&registry);
    for id in ["1", "2", "3"] {
        assert_eq!(
            send(&app, "GET", &format!("/users/{id}?q=secret")).await,
            200
        );
    }
    assert_eq!(send(&app, "POST", "/predict").await, 201);
    assert_eq!(send(&app, "GET", "/no/such/route").await, 404);
    assert_eq!(send(&app, "GET", "/another/missing").await, 404);
    assert_eq!(send(&app, "BREW", "/users/7").await, 405);
    let s = registry.collect();
    assert_eq!(
        s.value(
            "http_requests",
            &[
                ("method", "GET"),
                ("endpoint", "/users/{id}"),
                ("status", "200")
            ]
        ),
        Some(3.0)
    );
    assert_eq!(
        s.value(
            "http_requests",
            &[
                ("method", "POST"),
                ("endpoint", "/predict"),
                ("status", "201")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.value(
            "http_requests",
            &[
                ("method", "GET"),
                ("endpoint", "unknown"),
                ("status", "404")
            ]
        ),
        Some(2.0),
        "unmatched routes collapse"
    );
    assert_eq!(
        s.value(
            "http_requests",
            &[
                ("method", "OTHER"),
                ("endpoint", "/users/{id}"),
                ("status", "405")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.count(
            "http_request_duration_seconds",
            &[("method", "GET"), ("endpoint", "/users/{id}")]
        ),
        Some(3)
    );
    assert_eq!(s.value("http_requests_in_flight", &[]), Some(0.0));
    let text =
        String::from_utf8(registry.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap();
    assert!(
        !text.contains("secret") && !text.contains("/users/1"),
        "raw paths leak into labels:\n{text}"
    );
}

#[tokio::test]
async fn in_flight_and_cancelled_requests() {
    let registry = Registry::new();
    let app = app(&registry);
    let req = axum::http::Request::get("/slow")
        .body(axum::body::Body::empty())
        .unwrap();
    let pending = tokio::spawn(app.clone().oneshot(req));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        registry.collect().value("http_requests_in_flight", &[]),
        Some(1.0)
    );
    pending.abort();
    let _ = pending.await;
    let s = registry.collect();
    assert_eq!(s.value("http_requests_in_flight", &[]), Some(0.0));
    assert_eq!(
        s.value(
            "http_requests",
            &[
                ("method", "GET"),
                ("endpoint", "/slow"),
                ("status", "cancelled")
            ]
        ),
        Some(1.0),
        "the client went away; counted"
    );
}

#[tokio::test]
async fn without_a_route_extractor_everything_is_unknown() {
    let registry = Registry::new();
    let layer = HttpMetricsLayer::builder(&registry)
        .prefix("api")
        .unknown_endpoint("other")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/x/{id}", get(|| async { "" }))
        .layer(layer);
    send(&app, "GET", "/x/1").await;
    let s = registry.collect();
    assert_eq!(
        s.value(
            "api_http_requests",
            &[("method", "GET"), ("endpoint", "other"), ("status", "200")]
        ),
        Some(1.0)
    );
    assert!(
        HttpMetricsLayer::builder(&registry)
            .prefix("api")
            .build()
            .is_err(),
        "names are registered once"
    );
}
