//! The example API pushes its metrics with Prometheus remote write (`--remote-write-url`) into
//! Debian's Prometheus, and its last values go out when it stops.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Running, free_port, wait_until};

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
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    )
    .unwrap();
    let prom_port = free_port();
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    let _prometheus = Running(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the `prometheus` server is required: run scripts/test.sh (installs Debian's prometheus package)"),
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    wait_until(Duration::from_secs(30), || {
        client
            .get(format!("{prometheus}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    })
    .expect("prometheus never became ready");

    let api_port = free_port();
    let api = format!("http://127.0.0.1:{api_port}");
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_aiplatform-api"))
            .args([
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
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn aiplatform-api"),
    );
    wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", api_port)).is_ok()
    })
    .expect("aiplatform-api did not start listening");

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
    wait_until(Duration::from_secs(30), || {
        value(&client, &prometheus, q) == Some(3.0)
    })
    .expect("the periodic pushes never carried the predictions");
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
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    wait_until(Duration::from_secs(10), || {
        value(&client, &prometheus, q) == Some(5.0)
    })
    .expect("the shutdown push never arrived");
}
