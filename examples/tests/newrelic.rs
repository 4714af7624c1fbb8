//! With `NEW_RELIC_LICENSE_KEY` set, the example API sends its metrics to the Metric API and its
//! request logs (secrets redacted) to the Log API; what is left goes out when it stops. The
//! receiver records the requests; the New Relic contract checks decode and validate them.

mod support;

#[path = "../../exporters/push/tests/support/mod.rs"]
mod receiver;

#[path = "../../exporters/newrelic/tests/contract/mod.rs"]
mod contract;

use std::sync::Arc;
use std::time::Duration;

use receiver::{Captured, Receiver, Reply};
use support::start_api_with;

const KEY: &str = "0123456789abcdef0123456789abcdef0123NRAL";

#[test]
fn the_api_sends_metrics_and_request_logs_to_new_relic() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, _: &[Captured]| {
            Reply::status(202).body(r#"{"requestId":"5c9a8e1f-3b2d-4c6e-9f0a-1b2c3d4e5f60"}"#)
        }),
    );
    let metric_url = rx.url("/metric/v1");
    let log_url = rx.url("/log/v1");
    let (mut child, api) = start_api_with(
        "info",
        &[],
        &[
            ("NEW_RELIC_LICENSE_KEY", KEY),
            ("NEW_RELIC_METRIC_URL", &metric_url),
            ("NEW_RELIC_LOG_URL", &log_url),
            ("NEW_RELIC_LABELS", "team:ml"),
        ],
    );
    let client = reqwest::blocking::Client::new();
    for _ in 0..3 {
        let r = client
            .post(format!("{api}/api/v1/predict?api_key=hunter2secret"))
            .json(&serde_json::json!({"features": [0.5, 1.5]}))
            .send()
            .unwrap();
        assert!(r.status().is_success());
    }
    // SIGTERM: the shutdown push and the log output's flush carry everything.
    let status = child
        .terminate(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the API did not stop on SIGTERM:\n{}", child.log()));
    assert!(status.success(), "{status}\n{}", child.log());

    let requests = rx.requests();
    let metrics: Vec<contract::Metric> = requests
        .iter()
        .filter(|r| r.path == "/metric/v1")
        .flat_map(|r| contract::metric_payload(r, "api-key", KEY))
        .collect();
    let predictions: f64 = metrics
        .iter()
        .filter(|m| m.name == "aiplatform_ml_predictions_total")
        .map(|m| {
            assert_eq!(m.kind, "count");
            m.number()
        })
        .sum();
    assert_eq!(predictions, 3.0, "{metrics:#?}");
    let common = &metrics[0].common;
    assert_eq!(common["service.name"], "aiplatform-api");
    assert_eq!(common["team"], "ml");

    let logs: Vec<contract::Log> = requests
        .iter()
        .filter(|r| r.path == "/log/v1")
        .flat_map(|r| contract::log_payload(r, "api-key", KEY))
        .collect();
    let served: Vec<&contract::Log> = logs
        .iter()
        .filter(|l| l.message == "request served")
        .collect();
    assert_eq!(served.len(), 3, "{logs:#?}");
    for l in &served {
        assert_eq!(l.attr("http.request.method"), "POST");
        assert_eq!(l.attr("http.response.status_code"), 200);
        let url = l.attr("url.full").as_str().unwrap();
        assert!(url.contains("/api/v1/predict?api_key=") && !url.contains("hunter2secret"));
        assert_eq!(l.common["service.name"], "aiplatform-api");
        assert_eq!(l.common["team"], "ml");
    }
    for r in &requests {
        assert!(!r.text().contains("hunter2secret"));
    }
}
