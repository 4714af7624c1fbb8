//! The example API pushes its metrics with Prometheus remote write (`--remote-write-url`) into
//! Debian's Prometheus, and its last values go out when it stops.

use std::process::Command;
use std::time::Duration;

use aiplatform_testkit::{Process, TempDir, eventually, free_port, host};
use serde_json::Value;

fn value(client: &reqwest::blocking::Client, prometheus: &str, q: &str) -> Option<f64> {
    let resp: Value = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .and_then(|r| r.json())
        .ok()?;
    resp["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn the_api_pushes_with_remote_write_and_flushes_at_shutdown() {
    let data = TempDir::new("remote-write");
    let config = data.write(
        "prometheus.yml",
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    );
    let prom_port = free_port();
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    let mut cmd = Command::new(host::command("prometheus", "prometheus"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            data.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .arg("--web.enable-remote-write-receiver");
    let _prometheus = Process::spawn("prometheus", cmd);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    eventually(Duration::from_secs(30), "prometheus to be ready", || {
        client
            .get(format!("{prometheus}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });

    let api_port = free_port();
    let api = format!("http://127.0.0.1:{api_port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiplatform-api"));
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{api_port}"),
        "--log-level",
        "warn",
        "--remote-write-url",
        &format!("{prometheus}/api/v1/write"),
        "--remote-write-interval",
        "1s",
        "--remote-write-external-label",
        "cluster=test-1",
    ]);
    let mut child = Process::listening("aiplatform-api", cmd, api_port);

    let predict = |n: usize| {
        for _ in 0..n {
            let r = client
                .post(format!("{api}/api/v1/predict"))
                .json(&serde_json::json!({"features": [0.5, 1.5]}))
                .send()
                .unwrap();
            assert!(r.status().is_success());
        }
    };
    predict(3);
    let q = r#"sum(aiplatform_ml_predictions_total{cluster="test-1"})"#;
    eventually(
        Duration::from_secs(30),
        "the periodic pushes to carry the predictions",
        || value(&client, &prometheus, q) == Some(3.0),
    );
    assert!(
        value(
            &client,
            &prometheus,
            r#"sum(http_requests_total{cluster="test-1",endpoint="/api/v1/predict"})"#
        )
        .is_some_and(|v| v >= 3.0)
    );

    // Two more, then SIGTERM right away: the shutdown push carries them.
    predict(2);
    let status = child
        .terminate(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the API did not stop on SIGTERM:\n{}", child.log()));
    assert!(status.success(), "{status}\n{}", child.log());
    eventually(Duration::from_secs(10), "the shutdown push", || {
        value(&client, &prometheus, q) == Some(5.0)
    });
}
