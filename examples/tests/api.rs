//! The example API's routes and the metrics they record, through the real binary.

mod support;

use support::{scrape_text, start_api, start_api_with};

#[test]
fn routes_validate_input_and_record_application_and_business_metrics() {
    let (_api, api) = start_api();
    let client = reqwest::blocking::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{api}{path}"))
            .json(&body)
            .send()
            .unwrap()
    };
    assert_eq!(
        client.get(format!("{api}/health")).send().unwrap().status(),
        200
    );
    let ok = post(
        "/api/v1/predict",
        serde_json::json!({"features": [2.0, 4.0], "label": 1}),
    );
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().unwrap();
    assert_eq!(body["class"], 1);
    assert_eq!(
        post(
            "/api/v1/predict",
            serde_json::json!({"features": [1.0], "label": 0})
        )
        .status(),
        200
    );
    assert_eq!(
        post("/api/v1/predict", serde_json::json!({"features": []})).status(),
        422
    );
    assert_eq!(
        post(
            "/api/v1/predict",
            serde_json::json!({"model": "nope", "features": [1.0]})
        )
        .status(),
        404
    );
    assert_eq!(
        post(
            "/api/v1/training/rounds",
            serde_json::json!({"clients": 10})
        )
        .status(),
        200
    );
    assert_eq!(
        post("/api/v1/optimize", serde_json::json!({"problem_size": 3})).status(),
        200
    );

    let text = scrape_text(&client, &api);
    for line in [
        "aiplatform_ml_predictions_total{model=\"default\"} 2",
        "aiplatform_ml_prediction_accuracy 0.5",
        "aiplatform_federated_training_rounds_total 1",
        "aiplatform_quantum_optimizations_total 1",
        "aiplatform_requests_total{endpoint=\"/api/v1/predict\",method=\"POST\",status=\"422\"} 1",
        "http_requests_total{method=\"POST\",endpoint=\"/api/v1/predict\",status=\"404\"} 1",
        "aiplatform_active_connections 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    for family in [
        "# TYPE aiplatform_request_duration_seconds histogram",
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE http_requests_in_flight gauge",
    ] {
        assert!(text.contains(family), "missing {family:?}");
    }
}

#[test]
fn fault_injection_fails_the_chosen_share_of_api_requests_and_is_off_by_default() {
    let client = reqwest::blocking::Client::new();
    let predict = |api: &str| {
        client
            .post(format!("{api}/api/v1/predict"))
            .json(&serde_json::json!({"features": [1.0]}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };

    let (_plain, plain) = start_api();
    let put = client
        .put(format!("{plain}/admin/faults"))
        .json(&serde_json::json!({"error_ratio": 1.0}))
        .send()
        .unwrap();
    assert_eq!(
        put.status(),
        404,
        "no fault routes without --fault-injection"
    );
    assert_eq!(predict(&plain), 200);

    let (_api, api) = start_api_with("warn", &["--fault-injection"], &[]);
    let set = |ratio: serde_json::Value| {
        client
            .put(format!("{api}/admin/faults"))
            .json(&serde_json::json!({ "error_ratio": ratio }))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        set(serde_json::json!(1.5)),
        422,
        "a ratio above 1 is refused"
    );
    assert_eq!(set(serde_json::json!(0.25)), 200);
    let statuses: Vec<u16> = (0..8).map(|_| predict(&api)).collect();
    assert_eq!(statuses, [200, 200, 200, 503, 200, 200, 200, 503]);
    let health = client.get(format!("{api}/health")).send().unwrap();
    assert_eq!(health.status(), 200, "only /api/v1/* requests fail");
    let current: serde_json::Value = client
        .get(format!("{api}/admin/faults"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(current["error_ratio"], 0.25);
    assert_eq!(set(serde_json::json!(0)), 200);
    assert_eq!(predict(&api), 200);

    let text = scrape_text(&client, &api);
    for line in [
        "http_requests_total{method=\"POST\",endpoint=\"/api/v1/predict\",status=\"503\"} 2",
        "aiplatform_requests_total{endpoint=\"/api/v1/predict\",method=\"POST\",status=\"503\"} 2",
        "http_requests_total{method=\"POST\",endpoint=\"/api/v1/predict\",status=\"200\"} 7",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}
