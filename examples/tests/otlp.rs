//! The example API sends its metrics, one span per request and its request logs over OTLP
//! when the standard variables point it at a collector; read back with Python's
//! `opentelemetry-proto`, and its last values go out when it stops.

mod support;

#[path = "../../exporters/otlp/tests/support/mod.rs"]
mod otlp_support;

use std::time::Duration;

use otlp_support::{Captured, Receiver, attribute, attributes, decode};
use serde_json::Value;

/// The items (`metrics`, `spans`, `log_records`) of every request sent to `path`.
fn items(requests: &[Captured], path: &str, kind: &str, leaf: &str) -> Vec<Value> {
    let messages: Vec<Vec<u8>> = requests
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.message.clone())
        .collect();
    let (outer, inner) = match kind {
        "metrics" => ("resource_metrics", "scope_metrics"),
        "traces" => ("resource_spans", "scope_spans"),
        _ => ("resource_logs", "scope_logs"),
    };
    let mut out = Vec::new();
    for req in decode(kind, &messages) {
        for r in req[outer].as_array().unwrap() {
            let resource = attributes(&r["resource"]["attributes"]);
            assert_eq!(attribute(&resource, "service.name"), Some("aiplatform-api"));
            for s in r[inner].as_array().unwrap() {
                out.extend(s[leaf].as_array().unwrap().iter().cloned());
            }
        }
    }
    out
}

/// A decoded id (base64 in the decoder's JSON) as lowercase hex.
fn hex(v: &Value) -> String {
    base64_decode(v.as_str().unwrap_or_else(|| panic!("not an id: {v}")))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Standard base64 with padding.
fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The latest cumulative value of the predictions counter.
fn predictions(requests: &[Captured]) -> Option<u64> {
    items(requests, "/v1/metrics", "metrics", "metrics")
        .iter()
        .filter(|m| m["name"] == "aiplatform_ml_predictions")
        .filter_map(|m| {
            let points = m["sum"]["data_points"].as_array()?;
            Some(
                points
                    .iter()
                    .map(|p| p["as_int"].as_str().unwrap().parse::<u64>().unwrap())
                    .sum::<u64>(),
            )
        })
        .next_back()
}

#[test]
fn the_api_sends_metrics_spans_and_logs_over_otlp() {
    let receiver = Receiver::start();
    let url = receiver.url();
    let (mut api, base) = support::start_api_with(
        "info",
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
            ("OTEL_SERVICE_NAME", "aiplatform-api"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ],
    );
    let client = reqwest::blocking::Client::new();
    let predict = |n: usize| {
        for _ in 0..n {
            let r = client
                .post(format!("{base}/api/v1/predict"))
                .json(&serde_json::json!({"features": [0.5, 1.5]}))
                .send()
                .unwrap();
            assert!(r.status().is_success());
        }
    };
    predict(3);
    aiplatform_testkit::eventually(Duration::from_secs(30), "3 predictions pushed", || {
        predictions(&receiver.requests()) == Some(3)
    });
    aiplatform_testkit::eventually(Duration::from_secs(30), "the spans and logs", || {
        let r = receiver.requests();
        r.iter().any(|c| c.path == "/v1/traces") && r.iter().any(|c| c.path == "/v1/logs")
    });
    let requests = receiver.requests();
    let spans = items(&requests, "/v1/traces", "traces", "spans");
    let span = spans
        .iter()
        .find(|s| s["name"] == "POST /api/v1/predict")
        .unwrap_or_else(|| panic!("{spans:?}"));
    assert_eq!(span["kind"], "SPAN_KIND_SERVER");
    let span_attrs = attributes(&span["attributes"]);
    assert_eq!(
        attribute(&span_attrs, "http.route"),
        Some("/api/v1/predict")
    );
    assert!(
        span.get("parent_span_id").is_none(),
        "no traceparent, a new trace"
    );

    // A caller's traceparent: the server span continues the caller's trace.
    let caller_trace = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let r = client
        .get(format!("{base}/health"))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let continued = aiplatform_testkit::eventually_some(
        Duration::from_secs(30),
        "the span of the request with a traceparent",
        || {
            items(&receiver.requests(), "/v1/traces", "traces", "spans")
                .into_iter()
                .find(|s| s["name"] == "GET /health")
        },
    );
    assert_eq!(hex(&continued["trace_id"]), caller_trace);
    assert_eq!(hex(&continued["parent_span_id"]), caller_span);
    assert_eq!(continued["kind"], "SPAN_KIND_SERVER");
    assert_eq!(continued["flags"], 0x301, "sampled, remote parent");

    // The span exporter's health is on the scrape endpoint.
    let scrape = aiplatform_testkit::Scrape::parse(
        client
            .get(format!("{base}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    let sent = scrape.value(
        "aiplatform_push_samples_sent_total",
        &[("backend", "otlp_traces")],
    );
    assert!(sent >= 3.0, "{sent}");
    assert_eq!(
        scrape.value(
            "aiplatform_push_dropped_samples_total",
            &[("backend", "otlp_traces"), ("reason", "rejected")]
        ),
        0.0
    );

    let requests = receiver.requests();
    let logs = items(&requests, "/v1/logs", "logs", "log_records");
    let served: Vec<&Value> = logs
        .iter()
        .filter(|l| l["body"]["string_value"] == "request served")
        .collect();
    assert!(!served.is_empty(), "{logs:?}");
    assert!(
        served.iter().any(|l| l["trace_id"] == span["trace_id"]),
        "a request log line carries its span's trace id"
    );

    // Two more, then SIGTERM right away: the shutdown push carries them.
    predict(2);
    let status = api
        .terminate(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the API did not stop on SIGTERM:\n{}", api.log()));
    assert!(status.success(), "{status}\n{}", api.log());
    assert_eq!(predictions(&receiver.requests()), Some(5));
}
