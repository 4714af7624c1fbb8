//! The pipeline's severity, deduplication and routing, executed from the parsed pipeline files
//! on events as the TCP input delivers them (see `aiplatform_monitoring::logstash` for what
//! the executor runs and what it refuses to).

use aiplatform_monitoring::logstash::{Delivery, Pipeline, parse_files, pipeline_files};
use aiplatform_monitoring::repo_root;
use serde_json::{Value, json};

fn pipeline() -> Pipeline {
    let trees = parse_files(&pipeline_files(
        &repo_root().join("monitoring/logstash/pipeline/main"),
    ))
    .unwrap();
    Pipeline::from_trees(&trees).unwrap()
}

fn event(level: &str, extra: Value) -> Value {
    let mut e = json!({
        "@timestamp": "2026-01-02T03:04:05.678Z",
        "log.level": level,
        "message": "m",
        "ecs.version": "8.11.0",
        "service.name": "aiplatform-api",
        "event": {"hash": format!("hash-{level}"), "sequence": 1},
        "host": {"name": "web-1"},
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn one(p: &Pipeline, e: Value) -> (Value, Delivery) {
    let (doc, mut d) = p.process("tcp_json_lines", e).expect("the tcp path runs");
    assert_eq!(d.len(), 1, "exactly one output per event: {d:?}");
    (doc, d.remove(0))
}

#[test]
fn levels_map_to_severities_and_indices() {
    let p = pipeline();
    for (level, severity, number, index) in [
        ("FATAL", "critical", 2, "aiplatform-errors-2026.01.02"),
        ("CRITICAL", "critical", 2, "aiplatform-errors-2026.01.02"),
        ("ERROR", "high", 3, "aiplatform-errors-2026.01.02"),
        ("err", "high", 3, "aiplatform-errors-2026.01.02"),
        ("WARN", "medium", 4, "aiplatform-logs-2026.01.02"),
        ("warning", "medium", 4, "aiplatform-logs-2026.01.02"),
        ("notice", "low", 5, "aiplatform-logs-2026.01.02"),
        ("INFO", "low", 6, "aiplatform-logs-2026.01.02"),
        ("DEBUG", "low", 7, "aiplatform-logs-2026.01.02"),
        ("TRACE", "low", 7, "aiplatform-logs-2026.01.02"),
    ] {
        let (doc, d) = one(&p, event(level, json!({})));
        assert_eq!(doc["labels"]["severity"], severity, "{level}");
        assert_eq!(doc["event"]["severity"], number, "{level}");
        assert_eq!(d.index, index, "{level}");
        // log.level is nested for every source and keeps the original text.
        assert_eq!(doc["log"]["level"], level);
        assert!(doc.get("log.level").is_none());
        assert!(doc.get("@metadata").is_none(), "metadata is never indexed");
    }
}

#[test]
fn measurements_go_to_the_metrics_index_whatever_their_level() {
    let p = pipeline();
    let (_, d) = one(
        &p,
        event("ERROR", json!({"event": {"hash": "h", "kind": "metric"}})),
    );
    assert_eq!(d.output, "elasticsearch_metrics");
    assert_eq!(d.index, "aiplatform-metrics-2026.01.02");
}

#[test]
fn events_without_a_level_go_to_the_main_index_without_a_severity() {
    let p = pipeline();
    let mut e = event("INFO", json!({}));
    e.as_object_mut().unwrap().remove("log.level");
    let (doc, d) = one(&p, e);
    assert_eq!(d.index, "aiplatform-logs-2026.01.02");
    assert!(doc["labels"].get("severity").is_none());
}

#[test]
fn our_event_hash_is_the_document_id_so_a_resend_overwrites() {
    let p = pipeline();
    let e = event("INFO", json!({}));
    let (_, first) = one(&p, e.clone());
    let (_, again) = one(&p, e);
    assert_eq!(first.document_id.as_deref(), Some("hash-INFO"));
    assert_eq!(first, again);
}

#[test]
fn events_without_a_hash_get_a_sha256_of_their_content() {
    let p = pipeline();
    let mut e = event("INFO", json!({}));
    e["event"].as_object_mut().unwrap().remove("hash");
    let (doc, d) = one(&p, e.clone());
    let hash = doc["event"]["hash"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 64);
    assert_eq!(d.document_id.as_deref(), Some(hash.as_str()));
    // The fingerprint plugin's input: sorted source names, `|name|value` each, closing `|`.
    let text = "|@timestamp|2026-01-02T03:04:05.678Z|[event][original]||[host][ip]||[host][name]|web-1|[log][file][path]||message|m|";
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hash, want);
    let (_, same) = one(&p, e.clone());
    assert_eq!(same.document_id, d.document_id, "stable");
    e["message"] = json!("other");
    let (_, other) = one(&p, e);
    assert_ne!(other.document_id, d.document_id);
}

#[test]
fn the_executor_refuses_paths_it_cannot_run() {
    // A public client address takes the event through a GeoIP lookup that needs MaxMind's
    // database: the executor says so instead of skipping it.
    let p = pipeline();
    let err = p
        .process(
            "tcp_json_lines",
            event("INFO", json!({"client": {"ip": "8.8.8.8"}})),
        )
        .unwrap_err();
    assert!(err.0.contains("geoip"), "{err}");
    // A documentation-range address is a lookup miss in Logstash too: no geo fields, no tag.
    let (doc, _) = one(&p, event("INFO", json!({"client": {"ip": "203.0.113.9"}})));
    assert_eq!(doc["client"], json!({"ip": "203.0.113.9"}));
    assert!(doc.get("tags").is_none());
}
