//! `tracing` spans as OTLP spans, and log records that carry their ids, read back by an
//! independent decoder (Python's `opentelemetry-proto`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::{ExpositionFormat, Registry};
use aiplatform_otlp::{ConfigError, Otlp, Protocol};
use aiplatform_push::DropReason;
use aiplatform_testkit::Scrape;
use serde_json::Value;
use support::{Captured, Receiver, Reply, attribute, attributes, decode};
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

// ---- Self-metrics, sampling, traceparent ----

/// A decoded id (protobuf bytes are base64 in the decoder's JSON) as lowercase hex.
fn hex_of(v: &Value) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_else(|| panic!("not an id: {v}")))
        .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The least-significant 56 bits of a hex trace id: the specification's randomness.
fn randomness(trace_hex: &str) -> u64 {
    u64::from_str_radix(&trace_hex[18..], 16).unwrap()
}

/// The value of the self-metric `name` for the span exporter, with `labels`.
fn health(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut all = vec![("backend", "otlp_traces")];
    all.extend_from_slice(labels);
    Scrape::parse(String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap())
        .value(name, &all)
}

fn roots(n: usize) {
    for i in 0..n {
        let _s = tracing::info_span!("job", i = i as u64).entered();
    }
}

#[test]
fn the_exporters_health_is_in_the_registry() {
    // 0: ok; 1: 400 (refused); 2: 503 (retried); 3: ok; 4: ok after 1.5 s; then ok.
    let receiver = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, i| match i {
            1 => Reply::status(400),
            2 => Reply::status(503),
            4 => Reply::ok().delay(Duration::from_millis(1500)),
            _ => Reply::ok(),
        }),
    );
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    let otlp = Otlp::from_vars([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url()),
        ("OTEL_SERVICE_NAME", "billing".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".into()),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4".into()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4".into()),
    ]);
    let (layer, traces) = otlp.traces_with_registry(&registry).unwrap().unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let h = |name: &str, labels: &[(&str, &str)]| health(&registry, name, labels);
    // Before anything: every series is there, at zero.
    assert_eq!(h("aiplatform_push_samples_sent_total", &[]), 0.0);
    assert_eq!(
        h("aiplatform_push_last_success_timestamp_seconds", &[]),
        0.0
    );

    roots(3);
    assert!(traces.flush(WAIT));
    assert_eq!(h("aiplatform_push_samples_sent_total", &[]), 3.0);
    assert_eq!(h("aiplatform_push_batches_sent_total", &[]), 1.0);
    let bytes = h("aiplatform_push_sent_bytes_total", &[]);
    assert_eq!(bytes, receiver.requests()[0].raw.len() as f64);
    let last = h("aiplatform_push_last_success_timestamp_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - last).abs() < 30.0, "{last} vs {now}");

    // Refused for good: counted as a failure and as rejected spans, not retried.
    roots(2);
    assert!(!traces.flush(WAIT));
    let rejected = [("reason", "rejected")];
    assert_eq!(h("aiplatform_push_dropped_samples_total", &rejected), 2.0);
    assert_eq!(
        h("aiplatform_push_failures_total", &[("reason", "http_4xx")]),
        1.0
    );
    assert_eq!(h("aiplatform_push_retries_total", &[]), 0.0);

    // A full batch goes at once; 503 is retried, then delivered.
    roots(4);
    assert!(traces.flush(WAIT));
    assert_eq!(
        h("aiplatform_push_failures_total", &[("reason", "http_5xx")]),
        1.0
    );
    assert_eq!(h("aiplatform_push_retries_total", &[]), 1.0);
    assert_eq!(h("aiplatform_push_samples_sent_total", &[]), 7.0);
    assert_eq!(h("aiplatform_push_batches_sent_total", &[]), 2.0);
    assert_eq!(receiver.requests().len(), 4);

    // While a slow request holds the thread, the queue (4 spans) fills and the rest is
    // dropped; the gauges show what waits.
    roots(4);
    aiplatform_testkit::eventually(WAIT, "the slow request", || receiver.requests().len() == 5);
    roots(7);
    assert_eq!(
        h(
            "aiplatform_push_dropped_samples_total",
            &[("reason", "queue_full")]
        ),
        3.0
    );
    assert_eq!(traces.spans_dropped_for(DropReason::QueueFull), 3);
    // 4 being sent and 4 queued: two requests of 4.
    assert_eq!(h("aiplatform_push_queue_batches", &[]), 2.0);
    assert!(h("aiplatform_push_queue_bytes", &[]) > 8.0 * 20.0);
    assert!(traces.flush(WAIT));
    assert_eq!(h("aiplatform_push_queue_bytes", &[]), 0.0);
    assert_eq!(h("aiplatform_push_queue_batches", &[]), 0.0);
    assert_eq!(h("aiplatform_push_samples_sent_total", &[]), 15.0);
    assert_eq!(h("aiplatform_push_batches_sent_total", &[]), 4.0);
    assert_eq!(
        h("aiplatform_push_send_duration_seconds_count", &[]),
        receiver.requests().len() as f64
    );
    // What the guard says and what the registry says agree; every span is accounted for.
    assert_eq!(traces.spans_sent(), 15);
    assert_eq!(traces.spans_dropped(), 5);
    assert_eq!(3 + 2 + 4 + 4 + 7, 15 + 5);

    // After the guard stopped the exporter, spans closed are dropped as "shutdown", and the
    // series stay while the layer lives.
    drop(traces);
    roots(2);
    assert_eq!(
        h(
            "aiplatform_push_dropped_samples_total",
            &[("reason", "shutdown")]
        ),
        2.0
    );
    drop(_default);
    let text = String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap();
    assert!(!text.contains("otlp_traces"), "{text}");
}

#[test]
fn spans_still_failing_at_shutdown_are_dropped_as_shutdown() {
    let receiver = Receiver::start_with(None, Arc::new(|_: &Captured, _| Reply::status(503)));
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    let otlp = Otlp::from_vars([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url()),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".into()),
    ]);
    let (layer, traces) = otlp.traces_with_registry(&registry).unwrap().unwrap();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    roots(3);
    let started = std::time::Instant::now();
    drop(traces);
    assert!(started.elapsed() < Duration::from_secs(7));
    let h = |name: &str, labels: &[(&str, &str)]| health(&registry, name, labels);
    assert_eq!(
        h(
            "aiplatform_push_dropped_samples_total",
            &[("reason", "shutdown")]
        ),
        3.0
    );
    let attempts = receiver.requests().len() as f64;
    assert!(attempts >= 2.0);
    assert_eq!(
        h("aiplatform_push_failures_total", &[("reason", "http_5xx")]),
        attempts
    );
    assert_eq!(h("aiplatform_push_retries_total", &[]), attempts - 1.0);
    assert_eq!(h("aiplatform_push_samples_sent_total", &[]), 0.0);
}

/// What one sampling run produced: the spans exported, and the log records (one per root
/// span, written inside it).
struct Sampled {
    spans: Vec<Value>,
    logs: Vec<Value>,
    sent: u64,
    dropped: u64,
}

/// Runs `emit` with the sampler the variables name, and reads back what was sent.
fn sampled(vars: &[(&str, &str)], emit: impl FnOnce()) -> Sampled {
    let receiver = Receiver::start();
    let mut all: Vec<(String, String)> = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), receiver.url()),
        ("OTEL_SERVICE_NAME".into(), "billing".into()),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "50".into()),
        ("OTEL_BLRP_SCHEDULE_DELAY".into(), "50".into()),
        ("OTEL_BSP_MAX_QUEUE_SIZE".into(), "100000".into()),
        ("OTEL_BLRP_MAX_QUEUE_SIZE".into(), "100000".into()),
    ];
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let otlp = Otlp::from_vars(all);
    let (span_layer, traces) = otlp.traces().unwrap().unwrap();
    let (log_layer, logs) = aiplatform_logging::builder()
        .output(otlp.logs().unwrap().unwrap())
        .build()
        .unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::registry()
            .with(span_layer)
            .with(log_layer),
        emit,
    );
    assert!(traces.flush(WAIT));
    assert!(logs.flush(WAIT));
    let requests = receiver.requests();
    let of = |p: &str| -> Vec<Captured> {
        requests
            .iter()
            .filter(|r| r.path.ends_with(p))
            .cloned()
            .collect()
    };
    Sampled {
        spans: items(&of("/v1/traces"), "traces"),
        logs: items(&of("/v1/logs"), "logs"),
        sent: traces.spans_sent(),
        dropped: traces.spans_dropped(),
    }
}

/// `n` traces of a root span and a child, with one log line in the root.
fn traces_of_two(n: usize) -> impl FnOnce() {
    move || {
        for i in 0..n {
            let root = tracing::info_span!("root", i = i as u64);
            let _r = root.enter();
            tracing::info!("in the root");
            let _c = tracing::info_span!("child").entered();
        }
    }
}

fn flags(v: &Value) -> u64 {
    v.get("flags").and_then(Value::as_u64).unwrap_or(0)
}

#[test]
fn always_on_exports_every_span_sampled() {
    let s = sampled(&[("OTEL_TRACES_SAMPLER", "always_on")], traces_of_two(50));
    assert_eq!(s.spans.len(), 100);
    assert_eq!(s.sent, 100);
    for span in &s.spans {
        // Sampled, and the parent is known to be local (or absent).
        assert_eq!(flags(span), 0x101, "{span}");
    }
    assert_eq!(s.logs.len(), 50);
    assert!(s.logs.iter().all(|l| flags(l) == 1));
}

#[test]
fn always_off_exports_nothing_and_logs_keep_the_trace_id_with_flags_0() {
    let s = sampled(&[("OTEL_TRACES_SAMPLER", "always_off")], traces_of_two(50));
    assert!(s.spans.is_empty(), "{:?}", s.spans);
    assert_eq!((s.sent, s.dropped), (0, 0), "unsampled spans are not drops");
    assert_eq!(s.logs.len(), 50);
    let mut traces = std::collections::HashSet::new();
    for l in &s.logs {
        assert_eq!(flags(l), 0, "{l}");
        assert_eq!(hex_of(&l["trace_id"]).len(), 32);
        assert_eq!(hex_of(&l["span_id"]).len(), 16);
        traces.insert(hex_of(&l["trace_id"]));
    }
    assert_eq!(traces.len(), 50, "each root started its own trace");
}

#[test]
fn traceidratio_samples_the_ratio_by_trace_id_and_whole_traces() {
    let n = 4000;
    let s = sampled(
        &[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ],
        traces_of_two(n),
    );
    let threshold = (0.75 * (1u64 << 56) as f64) as u64;
    // Every root wrote a log line: sampled (flags 1) exactly when the trace id is at or
    // above the threshold.
    assert_eq!(s.logs.len(), n);
    let mut kept = std::collections::HashSet::new();
    for l in &s.logs {
        let t = hex_of(&l["trace_id"]);
        assert_eq!(
            flags(l) == 1,
            randomness(&t) >= threshold,
            "{t}: flags {}",
            flags(l)
        );
        if flags(l) == 1 {
            kept.insert(t);
        }
    }
    // 1000 expected; the standard deviation is 27, so ±150 cannot be luck, and neither
    // always_on (4000) nor always_off (0) nor another ratio fits.
    assert!(
        (850..=1150).contains(&kept.len()),
        "{} of {n} traces sampled",
        kept.len()
    );
    // Whole traces: the root and its child of every sampled trace, nothing else.
    assert_eq!(s.spans.len(), 2 * kept.len());
    for span in &s.spans {
        assert!(kept.contains(&hex_of(&span["trace_id"])), "{span}");
        assert_eq!(flags(span) & 1, 1);
    }
}

/// A `traceparent` value with this trace id's low 56 bits set to `low` (the rest fixed).
fn traceparent(low: u64, sampled: bool) -> String {
    format!(
        "00-4bf92f3577b34da6a3{low:014x}-00f067aa0ba902b7-0{}",
        u8::from(sampled)
    )
}

/// One root span per `traceparent`, each with a child; the names say which.
fn remote_children(parents: Vec<(&'static str, String)>) -> impl FnOnce() {
    move || {
        for (name, tp) in parents {
            let _r = tracing::info_span!("server", otel.name = name, traceparent = tp.as_str())
                .entered();
            let _c = tracing::info_span!("inner").entered();
        }
    }
}

/// The names of the exported spans that have a remote parent.
fn exported_servers(s: &Sampled) -> Vec<String> {
    let mut names: Vec<String> = s
        .spans
        .iter()
        .filter(|sp| flags(sp) & 0x200 != 0)
        .map(|sp| sp["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn samplers_and_a_remote_parents_flag() {
    // Ratio 0.25: the threshold is 0xc0..0 in the low 56 bits.
    let high = 0xff_ffff_ffff_ffff;
    let low = 0x00_0000_0000_0001;
    let parents = || {
        vec![
            ("sampled-high", traceparent(high, true)),
            ("sampled-low", traceparent(low, true)),
            ("unsampled-high", traceparent(high, false)),
            ("unsampled-low", traceparent(low, false)),
        ]
    };
    let cases: [(&str, &[&str]); 6] = [
        (
            "always_on",
            &[
                "sampled-high",
                "sampled-low",
                "unsampled-high",
                "unsampled-low",
            ],
        ),
        ("always_off", &[]),
        ("traceidratio", &["sampled-high", "unsampled-high"]),
        ("parentbased_always_on", &["sampled-high", "sampled-low"]),
        ("parentbased_always_off", &["sampled-high", "sampled-low"]),
        ("parentbased_traceidratio", &["sampled-high", "sampled-low"]),
    ];
    for (sampler, expected) in cases {
        let s = sampled(
            &[
                ("OTEL_TRACES_SAMPLER", sampler),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
            remote_children(parents()),
        );
        assert_eq!(exported_servers(&s), expected, "{sampler}");
        // The child follows its (local) parent wherever a parent-based or constant sampler
        // decides, and by the same trace id under a ratio: never a half trace.
        assert_eq!(
            s.spans.len(),
            2 * expected.len(),
            "{sampler}: {:?}",
            s.spans
        );
    }
    // Root spans (no traceparent): all with parentbased_always_on (the default), none with
    // parentbased_always_off.
    let default = sampled(&[], traces_of_two(10));
    assert_eq!(default.spans.len(), 20);
    let off = sampled(
        &[("OTEL_TRACES_SAMPLER", "parentbased_always_off")],
        traces_of_two(10),
    );
    assert!(off.spans.is_empty());
    assert!(off.logs.iter().all(|l| flags(l) == 0));
}

#[test]
fn parentbased_traceidratio_samples_roots_by_ratio() {
    let n = 2000;
    let s = sampled(
        &[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ],
        traces_of_two(n),
    );
    let threshold = 1u64 << 55;
    let sampled_roots = s.logs.iter().filter(|l| flags(l) == 1).count();
    for l in &s.logs {
        assert_eq!(
            flags(l) == 1,
            randomness(&hex_of(&l["trace_id"])) >= threshold
        );
    }
    // 1000 expected, sd 22: ±120.
    assert!((880..=1120).contains(&sampled_roots), "{sampled_roots}");
    // Children follow their root.
    assert_eq!(s.spans.len(), 2 * sampled_roots);
}

#[test]
fn an_unknown_sampler_is_a_config_error() {
    for (k, v) in [
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
    ] {
        let otlp = Otlp::from_vars([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            (k, v),
        ]);
        let e = otlp.traces().unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{e:?}");
        assert!(e.to_string().contains(k), "{e}");
    }
}

#[test]
fn a_traceparent_field_continues_the_callers_trace() {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let s = sampled(&[], move || {
        let tp = format!("00-{trace}-{parent}-01");
        let outer = tracing::info_span!("connection");
        let _o = outer.enter();
        {
            // Given with `%`, inside a local span: the remote parent wins.
            let server = tracing::info_span!("server", otel.kind = "server", traceparent = %tp);
            let _s = server.enter();
            tracing::info!("handling");
            let _c = tracing::info_span!("db").entered();
        }
        for bad in [
            format!("ff-{trace}-{parent}-01"),
            format!("00-{}-{parent}-01", "0".repeat(32)),
            format!("00-{trace}-{}-01", "0".repeat(16)),
            format!("00-{}-{parent}-01", trace.to_uppercase()),
            "00-garbage".to_owned(),
        ] {
            let _s =
                tracing::info_span!(parent: None, "ignored", traceparent = bad.as_str()).entered();
        }
    });
    let by_name =
        |n: &str| -> Vec<&Value> { s.spans.iter().filter(|sp| sp["name"] == n).collect() };
    let server = by_name("server")[0];
    let db = by_name("db")[0];
    let connection = by_name("connection")[0];
    assert_eq!(hex_of(&server["trace_id"]), trace);
    assert_eq!(hex_of(&server["parent_span_id"]), parent);
    assert_eq!(flags(server), 0x301, "sampled, remote parent");
    assert!(
        attributes(&server["attributes"])
            .iter()
            .all(|(k, _)| k != "traceparent"),
        "{server}"
    );
    assert_eq!(hex_of(&db["trace_id"]), trace);
    assert_eq!(db["parent_span_id"], server["span_id"]);
    assert_eq!(flags(db), 0x101);
    assert_ne!(hex_of(&connection["trace_id"]), trace);
    let log = s
        .logs
        .iter()
        .find(|l| l["body"]["string_value"] == "handling")
        .unwrap();
    assert_eq!(hex_of(&log["trace_id"]), trace);
    assert_eq!(log["span_id"], server["span_id"]);
    // Invalid values are ignored: each of those is a root of a new trace.
    let ignored = by_name("ignored");
    assert_eq!(ignored.len(), 5);
    for sp in ignored {
        assert!(sp.get("parent_span_id").is_none(), "{sp}");
        assert_ne!(hex_of(&sp["trace_id"]), trace);
        assert_eq!(flags(sp), 0x101);
    }
}
