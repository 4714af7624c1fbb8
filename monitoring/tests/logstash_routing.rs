//! The pipeline's severity, deduplication and routing, executed from the parsed pipeline files
//! on events as the TCP input delivers them, and on Alertmanager notifications as the `http`
//! input receives them (see `aiplatform_monitoring::logstash` for what the executor runs and
//! what it refuses to).

use std::collections::BTreeSet;

use aiplatform_monitoring::logstash::{
    Delivery, HttpRequest, Pipeline, parse_files, pipeline_files,
};
use aiplatform_monitoring::mappings::Mappings;
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

fn mappings() -> Mappings {
    let path = repo_root()
        .join("monitoring/elasticsearch/component_templates/aiplatform-ecs-mappings.json");
    let t: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Mappings::new(&t["template"]["mappings"])
}

/// An alert as Alertmanager's webhook (version 4) writes it.
fn alert(name: &str, severity: &str, status: &str, starts: &str, ends: &str) -> Value {
    json!({
        "status": status,
        "labels": {
            "alertname": name,
            "severity": severity,
            "team": "api",
            "cluster": "aiplatform",
            "job": "aiplatform-api",
            "instance": "api-0",
        },
        "annotations": {
            "summary": format!("{name} summary"),
            "description": format!("{name} description"),
            "runbook_url": format!("https://example.com/RUNBOOK.md#{}", name.to_lowercase()),
        },
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": format!("{:016x}", name.len() * 7919 + severity.len()),
    })
}

/// An Alertmanager notification POSTed to `/alerts/{receiver}`.
fn notification(receiver: &str, alerts: Vec<Value>) -> HttpRequest {
    let body = json!({
        "receiver": receiver,
        "status": alerts.first().map_or("firing".into(), |a| a["status"].clone()),
        "alerts": alerts,
        "groupLabels": {"alertname": "x"},
        "commonLabels": {"team": "api"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"x\"}",
        "truncatedAlerts": 0,
    });
    request(
        &format!("/alerts/{receiver}"),
        body.to_string().into_bytes(),
    )
}

fn request(path: &str, body: Vec<u8>) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "Alertmanager/0.25.0".into()),
        ],
        body,
        peer: "172.18.0.5".into(),
    }
}

fn receive(p: &Pipeline, r: &HttpRequest) -> Vec<(Value, Delivery)> {
    p.receive_http("alertmanager_webhooks", r)
        .expect("the alert path runs")
        .into_iter()
        .map(|(doc, mut d)| {
            assert_eq!(d.len(), 1, "exactly one output per event: {d:?}");
            (doc, d.remove(0))
        })
        .collect()
}

#[test]
fn each_alert_of_a_notification_becomes_an_event_routed_by_its_severity() {
    let p = pipeline();
    let m = mappings();
    let mut info = alert(
        "Watchdog",
        "info",
        "firing",
        "2026-01-02T10:00:00Z",
        "0001-01-01T00:00:00Z",
    );
    info["annotations"] = json!({});
    let got = receive(
        &p,
        &notification(
            "api",
            vec![
                // Alertmanager writes nanoseconds, and the offset of the Prometheus that sent it.
                alert(
                    "APIHighErrorRate",
                    "critical",
                    "firing",
                    "2026-01-02T23:30:00.123456789-02:00",
                    "0001-01-01T00:00:00Z",
                ),
                alert(
                    "APIHighLatency",
                    "warning",
                    "firing",
                    "2026-01-02T10:00:00Z",
                    "0001-01-01T00:00:00Z",
                ),
                info,
            ],
        ),
    );
    assert_eq!(got.len(), 3);
    let (critical, d) = &got[0];
    assert_eq!(d.output, "elasticsearch_errors");
    // Dated when it started, in UTC: the next day's index.
    assert_eq!(critical["@timestamp"], "2026-01-03T01:30:00.123Z");
    assert_eq!(d.index, "aiplatform-errors-2026.01.03");
    assert_eq!(critical["event"]["kind"], "alert");
    assert_eq!(critical["event"]["action"], "firing");
    assert_eq!(critical["event"]["dataset"], "alertmanager.alerts");
    assert_eq!(
        critical["event"]["start"],
        "2026-01-02T23:30:00.123456789-02:00"
    );
    assert!(critical["event"].get("end").is_none(), "still firing");
    assert_eq!(critical["rule"]["name"], "APIHighErrorRate");
    assert_eq!(
        critical["rule"]["reference"],
        "https://example.com/RUNBOOK.md#apihigherrorrate"
    );
    assert_eq!(critical["message"], "APIHighErrorRate summary");
    assert_eq!(critical["event"]["reason"], "APIHighErrorRate description");
    assert_eq!(
        critical["event"]["url"],
        "http://prometheus:9090/graph?g0.expr=up"
    );
    assert_eq!(critical["service"]["name"], "aiplatform-api");
    assert_eq!(critical["log"]["level"], "critical");
    // The alert's labels, with the pipeline's severity class in place of the alert's own.
    assert_eq!(
        critical["labels"],
        json!({
            "alertname": "APIHighErrorRate",
            "team": "api",
            "cluster": "aiplatform",
            "job": "aiplatform-api",
            "instance": "api-0",
            "severity": "critical",
        })
    );
    assert_eq!(critical["event"]["severity"], 2);

    let (warning, d) = &got[1];
    assert_eq!(d.index, "aiplatform-logs-2026.01.02");
    assert_eq!(warning["labels"]["severity"], "medium");
    let (info, d) = &got[2];
    assert_eq!(d.index, "aiplatform-logs-2026.01.02");
    assert_eq!(info["labels"]["severity"], "low");
    assert_eq!(info["message"], "Watchdog", "no summary: the alert's name");

    let ids: BTreeSet<_> = got
        .iter()
        .map(|(_, d)| d.document_id.clone().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "one document per alert");
    for (doc, d) in &got {
        // Nothing of the request or the notification's envelope is indexed.
        for key in [
            "receiver",
            "groupLabels",
            "commonLabels",
            "externalURL",
            "alerts",
            "headers",
            "host",
            "http",
            "url",
            "@metadata",
        ] {
            assert!(doc.get(key).is_none(), "{key} in {doc}");
        }
        assert_eq!(d.document_id.as_deref(), doc["event"]["hash"].as_str());
        let problems = m.check_document(doc);
        assert!(problems.is_empty(), "{problems:#?}\nin {doc}");
    }
}

#[test]
fn an_alert_is_one_document_per_state_whoever_receives_it() {
    let p = pipeline();
    let firing = alert(
        "PostgreSQLDown",
        "critical",
        "firing",
        "2026-01-02T10:00:00Z",
        "0001-01-01T00:00:00Z",
    );
    let mut resolved = firing.clone();
    resolved["status"] = json!("resolved");
    resolved["endsAt"] = json!("2026-01-02T10:07:30Z");
    // The same firing alert reaches the database team and on-call, and is repeated later.
    let to_team = receive(&p, &notification("database", vec![firing.clone()]));
    let to_pager = receive(&p, &notification("pager", vec![firing]));
    assert_eq!(to_team, to_pager, "the same document, wherever it was sent");
    let done = receive(&p, &notification("database", vec![resolved]));
    let (doc, d) = &done[0];
    assert_ne!(
        d.document_id, to_team[0].1.document_id,
        "resolution is a document of its own"
    );
    assert_eq!(doc["event"]["action"], "resolved");
    assert_eq!(doc["event"]["end"], "2026-01-02T10:07:30Z");
    assert_eq!(doc["@timestamp"], "2026-01-02T10:07:30.000Z");
    assert_eq!(d.index, "aiplatform-errors-2026.01.02");
    // Another alert starting at the same moment with the same text stays apart.
    let mut other = alert(
        "PostgreSQLDown",
        "critical",
        "firing",
        "2026-01-02T10:00:00Z",
        "0001-01-01T00:00:00Z",
    );
    other["fingerprint"] = json!("0123456789abcdef");
    other["labels"]["instance"] = json!("postgres-1");
    let apart = receive(&p, &notification("database", vec![other]));
    assert_ne!(apart[0].1.document_id, to_team[0].1.document_id);
}

#[test]
fn empty_and_malformed_notifications_lose_nothing() {
    let p = pipeline();
    assert!(
        receive(&p, &notification("api", vec![])).is_empty(),
        "no alert, no event"
    );
    // A body that is not JSON is kept, tagged, in the main index.
    let got = receive(&p, &request("/alerts/api", b"not json".to_vec()));
    assert_eq!(got.len(), 1);
    let (doc, d) = &got[0];
    assert_eq!(doc["message"], "not json");
    assert_eq!(
        doc["tags"],
        json!(["_jsonparsefailure", "_split_type_failure"])
    );
    assert!(d.index.starts_with("aiplatform-logs-"));
}
