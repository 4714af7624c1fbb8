//! With `AIPLATFORM_LOGSTASH_ADDR` set, the example API ships one json_lines event per request to
//! a Logstash `tcp` input: method, full URL with its query string (secrets redacted), status and
//! latency.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use aiplatform_testkit::{Process, free_port};

#[test]
fn request_logs_reach_a_logstash_tcp_input() {
    let logstash = TcpListener::bind("127.0.0.1:0").unwrap();
    let logstash_addr = logstash.local_addr().unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiplatform-api"));
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--log-format",
        "json",
    ])
    .env("AIPLATFORM_LOGSTASH_ADDR", logstash_addr.to_string());
    let _api = Process::listening("aiplatform-api", cmd, port);
    let client = reqwest::blocking::Client::new();
    let resp = client
        .post(format!(
            "http://127.0.0.1:{port}/api/v1/predict?api_key=hunter2secret&trace=1"
        ))
        .json(&serde_json::json!({"features": [1.0, 2.0]}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    let (conn, _) = logstash.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut lines = BufReader::new(conn).lines();
    let event = loop {
        let line = lines
            .next()
            .expect("connection closed before the request log")
            .expect("read");
        let event: serde_json::Value =
            serde_json::from_str(&line).expect("each line is one JSON object");
        if event["message"] == "request served" {
            break event;
        }
    };
    let text = event.to_string();
    assert!(!text.contains("hunter2secret"), "secret shipped: {text}");
    assert_eq!(event["http"]["request"]["method"], "POST", "{text}");
    assert_eq!(event["http"]["response"]["status_code"], 200, "{text}");
    let url = event["url"]["full"].as_str().unwrap_or_default();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/api/v1/predict?api_key="))
            && url.ends_with("&trace=1"),
        "{text}"
    );
    assert!(
        event["event"]["duration"].as_u64().is_some_and(|ns| ns > 0),
        "{text}"
    );
    assert_eq!(event["service.name"], "aiplatform-api", "{text}");
}
