//! A real Prometheus server (Debian's `prometheus` package, installed by `scripts/test.sh`)
//! scrapes the example API: the target is up, and `rate()` and `histogram_quantile()` over the
//! API's metrics return data.

mod support;

use std::process::Command;
use std::time::Duration;

use aiplatform_testkit::{Process, TempDir, eventually, free_port, host, poll};
use serde_json::Value;
use support::start_api;

fn query(client: &reqwest::blocking::Client, prometheus: &str, q: &str) -> Vec<Value> {
    let resp: Value = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null);
    resp["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn first_value(results: &[Value]) -> Option<f64> {
    results.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_the_example_api() {
    let (_api, api) = start_api();
    let data = TempDir::new("prometheus");
    let api_addr = api.trim_start_matches("http://");
    let config = data.write(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: aiplatform-api\n    static_configs:\n      - targets: ['{api_addr}']\n"
        ),
    );
    let port = free_port();
    let prometheus = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(host::command("prometheus", "prometheus"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            data.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let _prometheus = Process::spawn("prometheus", cmd);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Traffic for the rate and the quantile: predictions of varying size, and some errors.
    let traffic = std::thread::spawn({
        let client = client.clone();
        let api = api.clone();
        move || {
            for i in 0..150u32 {
                let features: Vec<f64> = (0..(1 + i % 50)).map(f64::from).collect();
                let _ = client
                    .post(format!("{api}/api/v1/predict"))
                    .json(&serde_json::json!({"features": features}))
                    .send();
                let _ = client.get(format!("{api}/does/not/exist")).send();
                std::thread::sleep(Duration::from_millis(40));
            }
        }
    });

    eventually(Duration::from_secs(60), "the target to be up", || {
        first_value(&query(&client, &prometheus, "up{job=\"aiplatform-api\"}")) == Some(1.0)
    });
    traffic.join().unwrap();

    let mut rate = Vec::new();
    let has_rate = poll(Duration::from_secs(30), || {
        rate = query(
            &client,
            &prometheus,
            "rate(http_requests_total{endpoint=\"/api/v1/predict\"}[1m])",
        );
        first_value(&rate).is_some_and(|v| v > 0.0)
    });
    assert!(
        has_rate,
        "rate(http_requests_total) returned no data: {rate:?}"
    );
    let unknown = query(
        &client,
        &prometheus,
        "rate(http_requests_total{endpoint=\"unknown\",status=\"404\"}[1m])",
    );
    assert!(
        first_value(&unknown).is_some_and(|v| v > 0.0),
        "unmatched routes are one series: {unknown:?}"
    );

    let p95 = query(
        &client,
        &prometheus,
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{endpoint=\"/api/v1/predict\"}[1m])))",
    );
    let v =
        first_value(&p95).unwrap_or_else(|| panic!("histogram_quantile returned no data: {p95:?}"));
    assert!(v.is_finite() && v > 0.0 && v < 10.0, "p95 {v}");
    let business = query(&client, &prometheus, "aiplatform_ml_predictions_total");
    assert!(
        first_value(&business).is_some_and(|v| v >= 1.0),
        "{business:?}"
    );
}
