//! `tracing` spans as OTLP spans, and log records that carry their ids, read back by an
//! independent decoder (Python's `opentelemetry-proto`).

mod support;

use std::time::Duration;

use aiplatform_otlp::{Otlp, Protocol};
use serde_json::Value;
use support::{Captured, Receiver, attribute, attributes, decode};
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(10);

fn otlp(receiver: &Receiver) -> Otlp {
    Otlp::from_vars([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url()),
        ("OTEL_SERVICE_NAME", "billing".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".into()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50".into()),
    ])
}

fn emit() {
    let root = tracing::info_span!(
        "request",
        otel.kind = "server",
        route = "/predict",
        password = "hunter2",
        status = tracing::field::Empty
    );
    let _r = root.enter();
    {
        let child = tracing::info_span!("db", otel.name = "SELECT users", rows = 3u64);
        let _c = child.enter();
        tracing::info!(table = "users", "querying");
        let err = std::io::Error::other("connection reset");
        tracing::error!(error = &err as &dyn std::error::Error, "query failed");
    }
    root.record("status", 200);
}

/// The spans or log records of decoded requests of `kind`.
fn items(requests: &[Captured], kind: &str) -> Vec<Value> {
    let messages: Vec<Vec<u8>> = requests.iter().map(|r| r.message.clone()).collect();
    let mut out = Vec::new();
    for req in decode(kind, &messages) {
        let (outer, inner, leaf) = match kind {
            "traces" => ("resource_spans", "scope_spans", "spans"),
            _ => ("resource_logs", "scope_logs", "log_records"),
        };
        for r in req[outer].as_array().unwrap() {
            let resource = attributes(&r["resource"]["attributes"]);
            assert_eq!(attribute(&resource, "service.name"), Some("billing"));
            for s in r[inner].as_array().unwrap() {
                out.extend(s[leaf].as_array().unwrap().iter().cloned());
            }
        }
    }
    out
}

fn run(protocol: Protocol) {
    let receiver = match protocol {
        Protocol::Grpc => Receiver::start_grpc(),
        _ => Receiver::start(),
    };
    let otlp = otlp(&receiver).protocol(protocol);
    let (span_layer, traces) = otlp.traces().unwrap().expect("traces on");
    let (log_layer, logs) = aiplatform_logging::builder()
        .output(otlp.logs().unwrap().unwrap())
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(span_layer)
        .with(log_layer);
    tracing::subscriber::with_default(subscriber, emit);
    assert!(traces.flush(WAIT));
    assert!(logs.flush(WAIT));
    assert_eq!(traces.spans_sent(), 2);
    assert_eq!(traces.spans_dropped(), 0);

    let requests = receiver.requests();
    let trace_requests: Vec<Captured> = requests
        .iter()
        .filter(|r| r.path.ends_with("/v1/traces") || r.path.contains("TraceService"))
        .cloned()
        .collect();
    assert!(!trace_requests.is_empty());
    let log_requests: Vec<Captured> = requests
        .iter()
        .filter(|r| r.path.ends_with("/v1/logs") || r.path.contains("LogsService"))
        .cloned()
        .collect();
    let spans = items(&trace_requests, "traces");
    assert_eq!(spans.len(), 2, "{spans:?}");
    // The child closes first.
    let (child, root) = (&spans[0], &spans[1]);
    assert_eq!(root["name"], "request");
    assert_eq!(root["kind"], "SPAN_KIND_SERVER");
    assert!(root.get("parent_span_id").is_none());
    let attrs = attributes(&root["attributes"]);
    assert_eq!(attribute(&attrs, "route"), Some("/predict"));
    assert_eq!(attribute(&attrs, "password"), Some("[REDACTED]"));
    assert!(
        attrs
            .iter()
            .any(|(k, v)| k == "status" && v == &Value::String("200".into()))
    );
    assert!(root.get("status").is_none_or(|s| s.get("code").is_none()));

    assert_eq!(child["name"], "SELECT users");
    assert_eq!(child["kind"], "SPAN_KIND_INTERNAL");
    assert_eq!(child["trace_id"], root["trace_id"]);
    assert_eq!(child["parent_span_id"], root["span_id"]);
    assert_ne!(child["span_id"], root["span_id"]);
    assert_eq!(child["status"]["code"], "STATUS_CODE_ERROR");
    let events = child["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["name"], "querying");
    assert_eq!(
        attribute(&attributes(&events[0]["attributes"]), "table"),
        Some("users")
    );
    assert_eq!(events[1]["name"], "query failed");
    let t = |v: &Value, k: &str| -> u64 { v[k].as_str().unwrap().parse().unwrap() };
    assert!(t(root, "start_time_unix_nano") <= t(child, "start_time_unix_nano"));
    assert!(t(child, "end_time_unix_nano") <= t(root, "end_time_unix_nano"));
    assert!(t(child, "start_time_unix_nano") <= t(child, "end_time_unix_nano"));

    // Log records made inside the child span carry its ids.
    let records = items(&log_requests, "logs");
    assert_eq!(records.len(), 2, "{records:?}");
    for r in &records {
        assert_eq!(r["trace_id"], child["trace_id"]);
        assert_eq!(r["span_id"], child["span_id"]);
        assert_eq!(r["flags"], 1);
    }
    drop(traces);
}

#[test]
fn spans_arrive_with_their_tree_fields_events_and_status_over_http() {
    run(Protocol::HttpProtobuf);
}

#[test]
fn spans_arrive_over_grpc() {
    run(Protocol::Grpc);
}
