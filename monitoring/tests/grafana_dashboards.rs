//! The Grafana dashboards and provisioning files: the shape file provisioning needs (no
//! `__inputs`, a `datasource` variable, stable uids), the panels an operator expects (the
//! lists below), every query parsed, and colour thresholds that match the alert thresholds.
//!
//! Whether the metrics the queries name exist is checked against the real binaries in
//! `prometheus_metric_names.rs`; whether the non-Kubernetes queries return data, against a
//! live Prometheus in `stack_e2e.rs`.

use std::collections::{BTreeMap, BTreeSet};

use aiplatform_monitoring::grafana::{self, Dashboard, substitute, variables_used};
use aiplatform_monitoring::{promql, rules};
use serde_json::{Value, json};

/// The dashboards, by uid, with the panels each must have (by title).
const REQUIRED_PANELS: &[(&str, &[&str])] = &[
    (
        "aiplatform-api",
        &[
            "Request rate",
            "Error rate by status code",
            "Latency percentiles",
            "Top endpoints by traffic",
            "Top endpoints by error rate",
            "Memory",
            "CPU",
            "Predictions by model",
            "Prediction accuracy",
            "Federated training rounds",
            "Quantum optimizations",
        ],
    ),
    (
        "aiplatform-kubernetes",
        &[
            "Node status",
            "Pods by phase",
            "Pod restart count",
            "CPU usage by namespace",
            "Memory usage by namespace",
            "PVC usage",
            "Network I/O by namespace",
        ],
    ),
    (
        "aiplatform-infrastructure",
        &[
            "CPU usage by instance",
            "Memory usage by instance",
            "Disk usage by filesystem",
            "Load average",
            "Network I/O by interface",
            "Database connections",
            "Cache memory usage",
        ],
    ),
    (
        "aiplatform-postgres",
        &[
            "Active connections",
            "Database size",
            "Cache hit ratio",
            "Query duration",
            "Connections by state",
            "Replication lag",
            "TPS",
        ],
    ),
    (
        "aiplatform-redis",
        &[
            "Redis up",
            "Memory used",
            "maxmemory",
            "Hit ratio",
            "Commands per second",
            "Evicted and expired keys",
            "Keys by database",
            "Clients",
        ],
    ),
];

/// Panels whose colour thresholds are an alert's thresholds: (dashboard uid, panel title,
/// alert name). Each severity of the alert must be a step of its colour (warning orange,
/// critical red) at the alert's threshold.
const ALERT_THRESHOLDS: &[(&str, &str, &str)] = &[
    ("aiplatform-api", "Error ratio", "APIHighErrorRate"),
    ("aiplatform-api", "p95 latency", "APIHighLatency"),
    ("aiplatform-api", "Latency percentiles", "APIHighLatency"),
    (
        "aiplatform-infrastructure",
        "Fullest memory",
        "HostHighMemoryUsage",
    ),
    (
        "aiplatform-infrastructure",
        "Memory usage by instance",
        "HostHighMemoryUsage",
    ),
    (
        "aiplatform-infrastructure",
        "Fullest filesystem",
        "HostHighDiskUsage",
    ),
    (
        "aiplatform-infrastructure",
        "Disk usage by filesystem",
        "HostHighDiskUsage",
    ),
    (
        "aiplatform-postgres",
        "Connection usage",
        "PostgreSQLTooManyConnections",
    ),
    (
        "aiplatform-postgres",
        "Replication lag",
        "PostgreSQLReplicationLag",
    ),
];

const PANEL_TYPES: [&str; 4] = ["row", "timeseries", "stat", "bargauge"];

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

fn titles(d: &Dashboard) -> Vec<&str> {
    d.panels()
        .iter()
        .filter(|p| p["type"] != "row")
        .filter_map(|p| p["title"].as_str())
        .collect()
}

#[test]
fn every_dashboard_has_the_shape_file_provisioning_needs() {
    let dashboards = grafana::dashboards();
    let uids: Vec<&str> = dashboards.iter().map(Dashboard::uid).collect();
    let expected: Vec<&str> = REQUIRED_PANELS.iter().map(|(uid, _)| *uid).collect();
    assert_eq!(
        uids.iter().copied().collect::<BTreeSet<_>>(),
        expected.iter().copied().collect::<BTreeSet<_>>(),
        "dashboards and REQUIRED_PANELS disagree"
    );
    let mut seen_titles = BTreeSet::new();
    for d in &dashboards {
        let at = d.name();
        let j = &d.json;
        assert!(
            seen_titles.insert(j["title"].as_str().unwrap().to_owned()),
            "{at}: title reused"
        );
        assert!(
            d.uid().len() <= 40 && d.uid().starts_with("aiplatform-"),
            "{at}: uid"
        );
        // Provisioned dashboards are matched by uid; a fixed id would clash between
        // Grafana instances, and __inputs/${DS_...} only work through the import dialog.
        assert!(j["id"].is_null(), "{at}: id must be null");
        assert!(
            j.get("__inputs").is_none() && j.get("__requires").is_none(),
            "{at}: __inputs"
        );
        let text = std::fs::read_to_string(&d.path).unwrap();
        assert!(!text.contains("${DS_"), "{at}: ${{DS_...}} placeholder");
        assert!(
            j["schemaVersion"].as_u64().unwrap() >= 36,
            "{at}: schemaVersion"
        );
        assert!(
            j["tags"].as_array().unwrap().contains(&json!("aiplatform")),
            "{at}: tags"
        );
        let from = j["time"]["from"].as_str().unwrap();
        assert!(
            ["now-1h", "now-3h", "now-6h", "now-12h", "now-24h"].contains(&from),
            "{at}: default time range {from}"
        );
        assert!(
            j["refresh"].as_str().is_some_and(|r| !r.is_empty()),
            "{at}: refresh"
        );
        assert!(
            j["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{at}: description"
        );

        let variables = d.variables();
        let ds = variables
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{at}: no datasource variable"));
        assert_eq!(ds["type"], "datasource", "{at}");
        assert_eq!(ds["query"], "prometheus", "{at}");
        for v in &variables {
            if v["type"] == "query" {
                assert_eq!(
                    v["datasource"],
                    datasource(),
                    "{at}: variable {}",
                    v["name"]
                );
            }
        }

        let mut ids = BTreeSet::new();
        let mut cells: BTreeSet<(u64, u64)> = BTreeSet::new();
        for p in d.panels() {
            let title = p["title"].as_str().unwrap_or_default();
            let at = format!("{at} panel {title:?}");
            assert!(
                ids.insert(p["id"].as_u64().expect("panel id")),
                "{at}: id reused"
            );
            let kind = p["type"].as_str().unwrap();
            assert!(PANEL_TYPES.contains(&kind), "{at}: panel type {kind}");
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_u64().unwrap(),
                g["y"].as_u64().unwrap(),
                g["w"].as_u64().unwrap(),
                g["h"].as_u64().unwrap(),
            );
            assert!(x + w <= 24 && w > 0 && h > 0, "{at}: gridPos {g}");
            for cx in x..x + w {
                for cy in y..y + h {
                    assert!(
                        cells.insert((cx, cy)),
                        "{at}: overlaps another panel at {cx},{cy}"
                    );
                }
            }
            if kind == "row" {
                continue;
            }
            assert!(!title.is_empty(), "{at}: no title");
            assert!(
                p["description"].as_str().is_some_and(|s| s.len() > 10),
                "{at}: no description"
            );
            assert_eq!(p["datasource"], datasource(), "{at}: panel datasource");
            let unit = p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or_default();
            assert!(!unit.is_empty(), "{at}: no unit");
            let steps = &p["fieldConfig"]["defaults"]["thresholds"];
            assert_eq!(steps["mode"], "absolute", "{at}: thresholds mode");
            assert!(
                steps["steps"][0]["value"].is_null(),
                "{at}: first step must be the base"
            );
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{at}: no query");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert_eq!(t["datasource"], datasource(), "{at}: target datasource");
                assert!(
                    refs.insert(t["refId"].as_str().unwrap()),
                    "{at}: refId reused"
                );
                assert!(
                    t["legendFormat"].as_str().is_some_and(|l| !l.is_empty()),
                    "{at}: legend"
                );
            }
        }
    }
}

#[test]
fn every_dashboard_has_the_panels_operators_expect() {
    let dashboards = grafana::dashboards();
    for (uid, required) in REQUIRED_PANELS {
        let d = dashboards.iter().find(|d| d.uid() == *uid).unwrap();
        let present = titles(d);
        for title in *required {
            assert!(
                present.contains(title),
                "{uid}: no panel {title:?} (has {present:?})"
            );
        }
    }
    // Load average: the 1, 5 and 15 minute averages.
    let infra = dashboards
        .iter()
        .find(|d| d.uid() == "aiplatform-infrastructure")
        .unwrap();
    let load = infra
        .panels()
        .into_iter()
        .find(|p| p["title"] == "Load average")
        .unwrap();
    let exprs: Vec<&str> = load["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    for metric in ["node_load1{", "node_load5{", "node_load15{"] {
        assert!(
            exprs.iter().any(|e| e.starts_with(metric)),
            "Load average lacks {metric}"
        );
    }
    // The business metrics each have a panel.
    let api = dashboards
        .iter()
        .find(|d| d.uid() == "aiplatform-api")
        .unwrap();
    let all: String = api.queries().into_iter().map(|q| q.expr).collect();
    for metric in [
        "aiplatform_ml_predictions_total",
        "aiplatform_ml_prediction_accuracy",
        "aiplatform_federated_training_rounds_total",
        "aiplatform_quantum_optimizations_total",
    ] {
        assert!(all.contains(metric), "no panel reads {metric}");
    }
}

#[test]
fn every_query_parses_uses_defined_variables_and_rate_interval() {
    let mut queries = 0;
    for d in grafana::dashboards() {
        let defined: BTreeSet<String> = d
            .variables()
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        // Placeholder values: what matters here is that the result is valid PromQL.
        let values: BTreeMap<String, String> = defined
            .iter()
            .map(|n| (n.clone(), "value".to_owned()))
            .collect();
        for q in d.queries() {
            queries += 1;
            let at = format!("{} {}", d.name(), q.origin);
            for used in variables_used(&q.expr) {
                assert!(defined.contains(&used), "{at}: ${used} is not a variable");
            }
            // An interval no one writes by hand, to tell $__rate_interval from a fixed range.
            let expr = substitute(&q.expr, "987s", &values);
            promql::selectors(&expr).unwrap_or_else(|e| panic!("{at}: {e}"));
            // Range selectors in panels use $__rate_interval: at least four scrapes, whatever
            // the zoom, so rate() never sees a window with one sample.
            if q.origin.starts_with("panel") {
                for range in promql::ranges(&expr).unwrap() {
                    assert_eq!(
                        range,
                        std::time::Duration::from_secs(987),
                        "{at}: a fixed range instead of $__rate_interval in {}",
                        q.expr
                    );
                }
            }
        }
    }
    assert!(queries > 50, "only {queries} queries");
}

#[test]
fn colour_thresholds_match_the_alert_thresholds() {
    let alerts = rules::alert_thresholds();
    let dashboards = grafana::dashboards();
    for (uid, title, alert) in ALERT_THRESHOLDS {
        let d = dashboards.iter().find(|d| d.uid() == *uid).unwrap();
        let panel = d
            .panels()
            .into_iter()
            .find(|p| p["title"] == *title)
            .unwrap_or_else(|| panic!("{uid}: no panel {title:?}"));
        let steps: Vec<(String, Option<f64>)> =
            panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["color"].as_str().unwrap().to_owned(), s["value"].as_f64()))
                .collect();
        for (severity, threshold) in &alerts[*alert] {
            let colour = if severity == "critical" {
                "red"
            } else {
                "orange"
            };
            assert!(
                steps.contains(&(colour.to_owned(), Some(*threshold))),
                "{uid} {title:?}: {alert} ({severity}) fires at {threshold}, \
                 but the panel's steps are {steps:?}"
            );
        }
    }
}

#[test]
fn provisioning_points_grafana_at_prometheus_and_the_dashboards() {
    let dir = grafana::grafana_dir().join("provisioning");
    let sources: serde_norway::Value = rules::read_yaml(&dir.join("datasources/prometheus.yml"));
    assert_eq!(sources["apiVersion"], 1);
    let list = sources["datasources"].as_sequence().unwrap();
    let prometheus = list.iter().find(|d| d["type"] == "prometheus").unwrap();
    assert_eq!(prometheus["url"], "http://prometheus:9090");
    assert_eq!(prometheus["isDefault"], true);
    assert!(prometheus["uid"].as_str().is_some());
    // $__rate_interval is derived from the scrape interval Grafana is told about.
    let local: serde_norway::Value =
        rules::read_yaml(&aiplatform_monitoring::prometheus_config::local_path());
    assert_eq!(
        prometheus["jsonData"]["timeInterval"], local["global"]["scrape_interval"],
        "Grafana's timeInterval must be Prometheus' scrape interval"
    );
    let alertmanager = list.iter().find(|d| d["type"] == "alertmanager").unwrap();
    assert_eq!(alertmanager["url"], "http://alertmanager:9093");

    let providers: serde_norway::Value = rules::read_yaml(&dir.join("dashboards/aiplatform.yml"));
    assert_eq!(providers["apiVersion"], 1);
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(provider["options"]["path"], "/var/lib/grafana/dashboards");
}
