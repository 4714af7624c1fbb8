//! End to end, as far as this machine allows: our services ship their logs over TCP
//! (`json_lines`, aiplatform-logging's Logstash output) into a local receiver that stands in
//! for Logstash and Elasticsearch. The receiver runs each line through the shipped pipeline's
//! own routing (the parsed `monitoring/logstash/pipeline/main` files, executed by
//! `aiplatform_monitoring::logstash`: the tcp input's decoration, severity, fingerprint reuse,
//! index choice), then checks the document against the shipped index template: every field
//! mapped, every value of the mapped type. Documents are stored by (index, document id), as
//! Elasticsearch would store them.
//!
//! What stands in for what, precisely:
//! - Logstash's `tcp` input + `json_lines` codec: a `TcpListener` splitting lines and parsing
//!   each as JSON (the codec's contract);
//! - Logstash's filters and outputs: the executor, on the real pipeline files;
//! - Elasticsearch: the template's mappings, checked field by field, and a map keyed by
//!   (index, _id).
//!
//! No Logstash, no Elasticsearch, no GeoIP database.
//!
//! The same holds for alerts: a real Alertmanager (Debian's, with the shipped configuration)
//! posts its webhook notifications to a local HTTP server standing in for Logstash's `http`
//! input on 5001 (`alert-receiver` in the compose stack); each request goes through the
//! executor's model of that input and the shipped pipeline, and the documents must be what
//! Kibana's "alerts" saved search shows.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aiplatform_monitoring::alertmanager::{self, Alertmanager, labels};
use aiplatform_monitoring::logstash::{
    Delivery, HttpRequest, Pipeline, parse_files, pipeline_files,
};
use aiplatform_monitoring::mappings::Mappings;
use aiplatform_monitoring::mock_http::MockServer;
use aiplatform_monitoring::process::wait_for;
use aiplatform_monitoring::repo_root;
use serde_json::{Value, json};

fn pipeline() -> Pipeline {
    let trees = parse_files(&pipeline_files(
        &repo_root().join("monitoring/logstash/pipeline/main"),
    ))
    .unwrap();
    Pipeline::from_trees(&trees).unwrap()
}

fn mappings() -> Mappings {
    let path = repo_root()
        .join("monitoring/elasticsearch/component_templates/aiplatform-ecs-mappings.json");
    let t: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Mappings::new(&t["template"]["mappings"])
}

/// A line as received, and what the pipeline made of it.
#[derive(Debug, Clone)]
struct Received {
    /// Which TCP connection brought it (0 = first).
    connection: usize,
    event: Value,
    doc: Value,
    delivery: Delivery,
}

/// Stands in for Logstash's tcp input: accepts connections, splits lines, parses JSON, runs
/// the pipeline, and sends each result on. `drop_first_after` closes the first connection
/// after that many lines, to make the sender reconnect.
fn receiver(
    drop_first_after: Option<usize>,
) -> (SocketAddr, mpsc::Receiver<Result<Received, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let p = pipeline();
    std::thread::spawn(move || {
        for (connection, conn) in listener.incoming().enumerate() {
            let Ok(conn) = conn else { return };
            let (tx, p) = (tx.clone(), p.clone());
            std::thread::spawn(move || {
                let mut lines = 0;
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    if line.trim().is_empty() {
                        continue;
                    }
                    let result = serde_json::from_str::<Value>(&line)
                        .map_err(|e| format!("not one JSON object per line: {e}: {line}"))
                        .and_then(|event| {
                            let (doc, mut d) = p
                                .process("tcp_json_lines", event.clone())
                                .map_err(|e| format!("{e}: {line}"))?;
                            if d.len() != 1 {
                                return Err(format!("{} outputs for {line}", d.len()));
                            }
                            Ok(Received {
                                connection,
                                event,
                                doc,
                                delivery: d.remove(0),
                            })
                        });
                    if tx.send(result).is_err() {
                        return;
                    }
                    lines += 1;
                    if connection == 0 && Some(lines) == drop_first_after {
                        return; // drops the connection, unconfirmed lines get resent
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// Collects until `done` says so or `limit` passes.
fn collect(
    rx: &mpsc::Receiver<Result<Received, String>>,
    limit: Duration,
    mut done: impl FnMut(&[Received]) -> bool,
) -> Vec<Received> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    while !done(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(r)) => got.push(r),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => break,
        }
    }
    got
}

fn check_against_template(m: &Mappings, got: &[Received]) {
    for r in got {
        let problems = m.check_document(&r.doc);
        assert!(problems.is_empty(), "{problems:#?}\nin {}", r.doc);
        let hash = r.event["event"]["hash"]
            .as_str()
            .expect("our events carry event.hash");
        assert_eq!(
            r.delivery.document_id.as_deref(),
            Some(hash),
            "event.hash is the _id"
        );
        let day = &r.event["@timestamp"].as_str().unwrap()[..10].replace('-', ".");
        assert!(
            r.delivery.index.ends_with(day.as_str()),
            "{}: daily index of the event's own date",
            r.delivery.index
        );
    }
}

struct Api(Child);

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_api_s_request_logs_arrive_mapped_and_routed() {
    let bin = aiplatform_monitoring::binaries::workspace_binary("aiplatform-api");
    let (logstash, rx) = receiver(None);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _api = Api(Command::new(bin)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("AIPLATFORM_LOGSTASH_ADDR", logstash.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiplatform-api"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiplatform-api did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let base = format!("http://127.0.0.1:{port}");
    let requests: [(&str, &str, &str); 5] = [
        ("GET", "/health", ""),
        (
            "POST",
            "/api/v1/predict?api_key=hunter2secret",
            r#"{"features":[0.5,1.5],"label":1}"#,
        ),
        (
            "POST",
            "/api/v1/predict",
            r#"{"model":"nope","features":[1.0]}"#,
        ),
        ("POST", "/api/v1/optimize", r#"{"problem_size":0}"#),
        ("GET", "/metrics", ""),
    ];
    for (method, path, body) in requests {
        let status = Command::new("curl")
            .args([
                "--silent",
                "--output",
                "/dev/null",
                "-X",
                method,
                "-H",
                "content-type: application/json",
            ])
            .args(if body.is_empty() {
                vec![]
            } else {
                vec!["--data", body]
            })
            .arg(format!("{base}{path}"))
            .status()
            .expect("curl");
        assert!(status.success());
    }
    let got = collect(&rx, Duration::from_secs(30), |g| {
        g.iter()
            .filter(|r| r.event["message"] == "request served")
            .count()
            >= requests.len()
    });
    let served: Vec<&Received> = got
        .iter()
        .filter(|r| r.event["message"] == "request served")
        .collect();
    assert_eq!(
        served.len(),
        requests.len(),
        "request logs received: {got:#?}"
    );
    assert!(got.iter().any(|r| {
        r.event["message"]
            .as_str()
            .unwrap_or("")
            .contains("listening")
    }));

    check_against_template(&mappings(), &got);
    for r in &served {
        // Request logs are INFO: the main index, severity low.
        assert_eq!(r.delivery.output, "elasticsearch_logs", "{}", r.doc);
        assert_eq!(r.doc["labels"]["severity"], "low");
        assert!(r.doc["http"]["response"]["status_code"].is_u64());
        assert!(r.doc["event"]["duration"].is_u64());
        assert!(r.doc["url"]["full"].as_str().unwrap().starts_with(&base));
        assert!(
            !r.doc.to_string().contains("hunter2secret"),
            "redacted before shipping"
        );
    }
    let statuses: Vec<u64> = served
        .iter()
        .map(|r| r.doc["http"]["response"]["status_code"].as_u64().unwrap())
        .collect();
    for want in [200, 404, 422] {
        assert!(statuses.contains(&want), "{statuses:?}");
    }
}

#[derive(Debug)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

impl std::error::Error for Failure {}

#[test]
fn library_events_of_every_kind_arrive_mapped_routed_and_deduplicated() {
    use aiplatform_logging::{LogstashConfig, Output};
    use tracing_subscriber::layer::SubscriberExt;

    // The first connection is dropped after 3 lines, within the shipper's confirmation
    // window: it reconnects and sends those lines again.
    let (logstash, rx) = receiver(Some(3));
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("billing")
        .service_version("1.4.2")
        .service_environment("prod")
        .output(Output::logstash(
            LogstashConfig::new(logstash.to_string())
                .confirm_after(Duration::from_secs(5))
                .backoff(Duration::from_millis(50), Duration::from_millis(200)),
        ))
        .build()
        .expect("logging builds");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(
            "request",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            tenant.id = 42
        );
        let _enter = span.enter();
        tracing::info!(
            http.request.method = "POST",
            url.full = "https://api.example.com/charge?token=abc123secret",
            http.response.status_code = 201u16,
            event.duration = 1_234_567u64,
            client.ip = "203.0.113.9",
            user.id = 7,
            "charge accepted"
        );
        tracing::warn!(
            event.risk_score = 42.5,
            user.roles = "admin",
            retries = 3,
            "slow upstream"
        );
        tracing::error!(
            error = &Failure as &dyn std::error::Error,
            event.outcome = "failure",
            "payment failed"
        );
        // Second batch, after the receiver dropped the first connection.
        std::thread::sleep(Duration::from_millis(300));
        tracing::info!(
            event.kind = "metric",
            gen_ai.usage.input_tokens = 812,
            gen_ai.request.model = "fraud-v2",
            gen_ai.request.temperature = 0.2,
            "inference measured"
        );
        tracing::error!(
            event.kind = "alert",
            event.action = "budget_exceeded",
            "spend alert"
        );
        tracing::debug!("not shipped at the default level");
    });
    // Unique events, as the application logged them.
    let unique = 5;
    let got = collect(&rx, Duration::from_secs(30), |g| {
        let mut ids: Vec<_> = g
            .iter()
            .map(|r| (r.delivery.index.clone(), r.delivery.document_id.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        ids.len() >= unique && g.iter().any(|r| r.connection > 0)
    });
    drop(guard);

    let m = mappings();
    check_against_template(&m, &got);

    let mut store: BTreeMap<(String, String), Value> = BTreeMap::new();
    for r in &got {
        let key = (
            r.delivery.index.clone(),
            r.delivery.document_id.clone().unwrap(),
        );
        if let Some(previous) = store.insert(key, r.doc.clone()) {
            assert_eq!(
                previous, r.doc,
                "a resend is byte-identical, so the document is too"
            );
        }
    }
    assert_eq!(
        store.len(),
        unique,
        "one document per logged event: {store:#?}"
    );
    assert!(
        got.len() > unique,
        "the dropped connection made the shipper resend ({} lines for {unique} events)",
        got.len()
    );

    let by_message = |m: &str| {
        store
            .iter()
            .find(|(_, d)| d["message"] == m)
            .unwrap_or_else(|| panic!("{m} not stored"))
    };
    let ((index, _), doc) = by_message("charge accepted");
    assert!(index.starts_with("aiplatform-logs-"));
    // ecs-logging writes trace.id as a dotted key; Elasticsearch expands it.
    assert_eq!(doc["trace.id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(doc["labels"]["tenant_id"], "42");
    assert!(!doc.to_string().contains("abc123secret"));
    let ((index, _), doc) = by_message("slow upstream");
    assert!(index.starts_with("aiplatform-logs-"));
    assert_eq!(doc["labels"]["severity"], "medium");
    let ((index, _), doc) = by_message("payment failed");
    assert!(index.starts_with("aiplatform-errors-"));
    assert_eq!(doc["labels"]["severity"], "high");
    assert_eq!(doc["error"]["message"], "card declined");
    let ((index, _), _) = by_message("inference measured");
    assert!(index.starts_with("aiplatform-metrics-"));
    let ((index, _), doc) = by_message("spend alert");
    assert!(index.starts_with("aiplatform-errors-"));
    assert_eq!(doc["event"]["kind"], "alert");
}

/// The saved search Kibana lists alerts with: its query, its data view's index patterns and
/// its columns.
fn kibana_alerts_search() -> (String, Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(repo_root().join("monitoring/kibana/saved-objects.ndjson"))
        .unwrap();
    let objects: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let search = objects
        .iter()
        .find(|o| o["id"] == "aiplatform-alerts")
        .expect("the alerts saved search");
    let source: Value = serde_json::from_str(
        search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let view_id = &search["references"][0]["id"];
    let view = objects.iter().find(|o| o["id"] == *view_id).unwrap();
    let patterns = view["attributes"]["title"]
        .as_str()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let columns = search["attributes"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (
        source["query"]["query"].as_str().unwrap().to_owned(),
        patterns,
        columns,
    )
}

fn field<'a>(doc: &'a Value, dotted: &str) -> &'a Value {
    dotted.split('.').fold(doc, |v, k| &v[k])
}

#[test]
fn alertmanager_s_notifications_become_the_documents_kibana_lists_as_alerts() {
    // Stands in for Logstash's http input: answers 200 and keeps each request.
    let receiver = MockServer::start(|_| (200, "ok".into()));
    let dir = std::env::temp_dir().join(format!("aiplatform-alert-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = std::fs::read_to_string(alertmanager::config_path()).unwrap();
    let config = alertmanager::for_localhost(&shipped, &receiver.url(), "1s").unwrap();
    let am = Alertmanager::start(&config, &dir);

    let now = chrono::Utc::now();
    let started = (now - chrono::Duration::seconds(90)).to_rfc3339();
    let alert = |pairs: &[(&str, &str)], summary: &str| {
        json!({
            "labels": labels(pairs),
            "annotations": {
                "summary": summary,
                "description": format!("{summary}: details"),
                "runbook_url": "https://github.com/aiplatform/observability/blob/main/monitoring/RUNBOOK.md#x",
            },
            "startsAt": started,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        })
    };
    let errors = alert(
        &[
            ("alertname", "APIHighErrorRate"),
            ("severity", "critical"),
            ("team", "api"),
            ("cluster", "test"),
            ("job", "aiplatform-api"),
        ],
        "API error rate above 5%",
    );
    let disk = alert(
        &[
            ("alertname", "HostHighDiskUsage"),
            ("severity", "warning"),
            ("team", "platform"),
            ("cluster", "test"),
            ("job", "node"),
            ("instance", "node-a"),
            ("mountpoint", "/"),
        ],
        "Filesystem almost full",
    );
    am.post_alerts(&json!([errors, disk]));
    let to = |path: &str| {
        receiver
            .requests()
            .into_iter()
            .filter(|r| r.path() == path)
            .count()
    };
    wait_for(
        Duration::from_secs(20),
        "the team and pager webhooks",
        || {
            (to("/alerts/api") > 0 && to("/alerts/pager") > 0 && to("/alerts/platform") > 0)
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "{:?}",
                        receiver
                            .requests()
                            .iter()
                            .map(|r| r.target.clone())
                            .collect::<Vec<_>>()
                    )
                })
        },
    );
    // Resolved a second ago.
    let mut resolved = errors.clone();
    resolved["endsAt"] = json!((now - chrono::Duration::seconds(1)).to_rfc3339());
    am.post_alerts(&json!([resolved]));
    let ended = |r: &aiplatform_monitoring::mock_http::Request| {
        serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["status"] == "resolved")
    };
    wait_for(Duration::from_secs(20), "the resolved notification", || {
        receiver
            .requests()
            .iter()
            .any(|r| r.path() == "/alerts/api" && ended(r))
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    });
    drop(am);
    std::fs::remove_dir_all(&dir).ok();

    // Every webhook request through the http input and the pipeline, stored by (index, _id).
    let p = pipeline();
    let m = mappings();
    let (query, patterns, columns) = kibana_alerts_search();
    assert_eq!(query, "event.kind:alert");
    let mut store: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut events = 0;
    for r in receiver.requests() {
        if !r.path().starts_with("/alerts/") {
            continue; // Slack's page, checked by alertmanager_notifications
        }
        let request = HttpRequest {
            method: r.method.clone(),
            path: r.target.clone(),
            headers: r.headers.clone(),
            body: r.body.clone(),
            peer: "127.0.0.1".into(),
        };
        for (doc, deliveries) in p.receive_http("alertmanager_webhooks", &request).unwrap() {
            events += 1;
            assert_eq!(deliveries.len(), 1);
            let d = &deliveries[0];
            let problems = m.check_document(&doc);
            assert!(problems.is_empty(), "{problems:#?}\nin {doc}");
            assert_eq!(doc["event"]["kind"], "alert", "Kibana's query");
            assert!(
                patterns
                    .iter()
                    .any(|p| d.index.starts_with(p.trim_end_matches('*'))),
                "{} is outside the data view {patterns:?}",
                d.index
            );
            for c in &columns {
                assert!(field(&doc, c).is_string(), "column {c} empty in {doc}");
            }
            let key = (d.index.clone(), d.document_id.clone().unwrap());
            if let Some(previous) = store.insert(key, doc.clone()) {
                assert_eq!(
                    previous, doc,
                    "a repeat or another receiver's copy is the same document"
                );
            }
        }
    }
    let summary: Vec<(String, String, String)> = store
        .iter()
        .map(|((index, _), doc)| {
            (
                index.split('-').nth(1).unwrap().to_owned(),
                doc["rule"]["name"].as_str().unwrap().to_owned(),
                doc["event"]["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("errors", "APIHighErrorRate", "firing"),
        ("errors", "APIHighErrorRate", "resolved"),
        ("logs", "HostHighDiskUsage", "firing"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    let mut got = summary.clone();
    got.sort();
    assert_eq!(got, want, "one document per alert and state");
    assert!(
        events > store.len(),
        "the pager's copies ({events} events) fold into the team's documents"
    );
    let day = |t: &str| t[..10].replace('-', ".");
    for ((index, _), doc) in &store {
        let when = if doc["event"]["action"] == "resolved" {
            assert!(doc["event"]["end"].is_string());
            doc["event"]["end"].as_str().unwrap()
        } else {
            doc["event"]["start"].as_str().unwrap()
        };
        let ts = doc["@timestamp"].as_str().unwrap();
        assert_eq!(
            &ts[..19],
            &chrono::DateTime::parse_from_rfc3339(when)
                .unwrap()
                .with_timezone(&chrono::Utc)
                .to_rfc3339()[..19]
        );
        assert!(index.ends_with(&day(ts)), "{index} is the day of {ts}");
    }
}
