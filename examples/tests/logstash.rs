//! With `AIPLATFORM_LOGSTASH_ADDR` set, the example API ships one json_lines event per request to
//! a Logstash `tcp` input: method, full URL with its query string (secrets redacted), status and
//! latency.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::time::Duration;

use support::start_api_with;

#[test]
fn request_logs_reach_a_logstash_tcp_input() {
    let logstash = TcpListener::bind("127.0.0.1:0").unwrap();
    let logstash_addr = logstash.local_addr().unwrap();
    let logstash_addr = logstash_addr.to_string();
    let (_api, api) = start_api_with("info", &[], &[("AIPLATFORM_LOGSTASH_ADDR", &logstash_addr)]);
    let client = reqwest::blocking::Client::new();
    let resp = client
        .post(format!(
            "{api}/api/v1/predict?api_key=hunter2secret&trace=1"
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
        url.starts_with(&format!("{api}/api/v1/predict?api_key=")) && url.ends_with("&trace=1"),
        "{text}"
    );
    assert!(
        event["event"]["duration"].as_u64().is_some_and(|ns| ns > 0),
        "{text}"
    );
    assert_eq!(event["service.name"], "aiplatform-api", "{text}");
}
