//! `tracing` events as OTLP log records, redacted before they leave the process, read back
//! by an independent decoder (Python's `opentelemetry-proto`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use aiplatform_otlp::{Otlp, Protocol};
use base64::Engine as _;
use serde_json::Value;
use support::{Captured, Receiver, Reply, attribute, attributes, decode};
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(10);

fn otlp(receiver: &Receiver, extra: &[(&str, &str)]) -> Otlp {
    let mut vars = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), receiver.url()),
        ("OTEL_SERVICE_NAME".to_owned(), "billing".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY".to_owned(), "50".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS".to_owned(),
            "authorization=Bearer%20tok3n".to_owned(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Otlp::from_vars(vars)
}

/// Runs `f` with a subscriber whose only output is OTLP, then flushes.
fn with_logs(otlp: &Otlp, f: impl FnOnce()) -> aiplatform_logging::LogGuard {
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("billing")
        .output(otlp.logs().unwrap().expect("logs on"))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    assert!(guard.flush(WAIT), "flushed");
    guard
}

/// Every log record of the decoded requests, with its resource.
fn records(requests: &[Captured]) -> Vec<(Vec<(String, Value)>, Value)> {
    let messages: Vec<Vec<u8>> = requests.iter().map(|r| r.message.clone()).collect();
    let mut out = Vec::new();
    for req in decode("logs", &messages) {
        for rl in req["resource_logs"].as_array().unwrap() {
            let resource = attributes(&rl["resource"]["attributes"]);
            for sl in rl["scope_logs"].as_array().unwrap() {
                assert_eq!(sl["scope"]["name"], "aiplatform-logging");
                for r in sl["log_records"].as_array().unwrap() {
                    out.push((resource.clone(), r.clone()));
                }
            }
        }
    }
    out
}

fn hex(b64: &Value) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_str().unwrap())
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn emit() {
    let span = tracing::info_span!(
        "request",
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id = "00f067aa0ba902b7",
        route = "/predict"
    );
    let _e = span.enter();
    tracing::info!(
        user_id = 42u64,
        ratio = 0.5,
        cached = true,
        "served GET /v1/models?api_key=abc123&limit=5"
    );
    tracing::warn!(
        client_secret = "s3cr3t",
        "connect postgres://app:hunter2@db:5432/app"
    );
    let err = std::io::Error::other("disk full");
    tracing::error!(error = &err as &dyn std::error::Error, "write failed");
}

fn check(requests: &[Captured]) {
    // Nothing secret left the process, in any byte of any request.
    for r in requests {
        for secret in ["abc123", "s3cr3t", "hunter2"] {
            assert!(
                !r.message
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes()),
                "{secret} was sent"
            );
        }
    }
    let records = records(requests);
    assert_eq!(records.len(), 3, "{records:?}");
    for (resource, _) in &records {
        assert_eq!(attribute(resource, "service.name"), Some("billing"));
    }
    let (_, info) = &records[0];
    assert_eq!(info["severity_number"], "SEVERITY_NUMBER_INFO");
    assert_eq!(info["severity_text"], "INFO");
    assert_eq!(
        info["body"]["string_value"],
        "served GET /v1/models?api_key=[REDACTED]&limit=5"
    );
    let attrs = attributes(&info["attributes"]);
    let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("user_id"), Some(Value::String("42".into())));
    assert_eq!(get("ratio"), Some(Value::from(0.5)));
    assert_eq!(get("cached"), Some(Value::Bool(true)));
    assert_eq!(get("route"), Some(Value::String("/predict".into())));
    assert_eq!(get("code.namespace"), Some(Value::String("logs".into())));
    assert_eq!(hex(&info["trace_id"]), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&info["span_id"]), "00f067aa0ba902b7");
    let t: u64 = info["time_unix_nano"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(t <= now && now - t < 60_000_000_000, "{t} vs {now}");

    let (_, warn) = &records[1];
    assert_eq!(warn["severity_number"], "SEVERITY_NUMBER_WARN");
    assert_eq!(
        warn["body"]["string_value"],
        "connect postgres://app:[REDACTED]@db:5432/app"
    );
    let attrs = attributes(&warn["attributes"]);
    assert_eq!(attribute(&attrs, "client_secret"), Some("[REDACTED]"));

    let (_, error) = &records[2];
    assert_eq!(error["severity_number"], "SEVERITY_NUMBER_ERROR");
    let attrs = attributes(&error["attributes"]);
    assert_eq!(attribute(&attrs, "exception.message"), Some("disk full"));
}

#[test]
fn events_arrive_as_redacted_log_records_over_http() {
    let receiver = Receiver::start();
    let otlp = otlp(&receiver, &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]);
    let _guard = with_logs(&otlp, emit);
    let requests = receiver.requests();
    for r in &requests {
        assert_eq!(r.path, "/v1/logs");
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("authorization"), Some("Bearer tok3n"));
    }
    check(&requests);
}

#[test]
fn events_arrive_as_redacted_log_records_over_grpc() {
    let receiver = Receiver::start_grpc();
    let otlp = otlp(&receiver, &[]).protocol(Protocol::Grpc);
    let _guard = with_logs(&otlp, emit);
    let requests = receiver.requests();
    for r in &requests {
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(
            r.path,
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
        );
    }
    check(&requests);
}

#[test]
fn unavailable_then_up_delivers_every_record_once() {
    // 503 twice (retryable in OTLP/HTTP), then success.
    let receiver = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, n| {
            if n < 2 {
                Reply::status(503).header("retry-after", "0")
            } else {
                Reply::ok()
            }
        }),
    );
    let otlp = otlp(&receiver, &[]);
    let _guard = with_logs(&otlp, || {
        for i in 0..20 {
            tracing::info!(i, "event {i}");
        }
    });
    let requests = receiver.requests();
    assert!(requests.len() >= 3);
    let delivered: Vec<Captured> = requests[2..].to_vec();
    let bodies: Vec<String> = records(&delivered)
        .iter()
        .map(|(_, r)| r["body"]["string_value"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("event {i}")).collect();
    assert_eq!(bodies, want);
}

#[test]
fn a_bad_request_is_dropped_and_not_retried() {
    let receiver = Receiver::start_with(None, Arc::new(|_: &Captured, _| Reply::status(400)));
    let otlp = otlp(&receiver, &[]);
    let (layer, guard) = aiplatform_logging::builder()
        .output(otlp.logs().unwrap().unwrap())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("refused");
    });
    guard.flush(WAIT);
    std::thread::sleep(Duration::from_millis(500));
    let n = receiver.requests().len();
    // The refused batch, and at most the output's one report of the drop (refused too).
    assert!((1..=2).contains(&n), "{n} requests");
    let text = String::from_utf8(
        guard
            .registry()
            .encode(aiplatform_metrics::ExpositionFormat::Text),
    )
    .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("aiplatform_log_events_dropped_total")
                && l.contains("reason=\"rejected\"")
                && !l.ends_with(" 0")),
        "{text}"
    );
}
