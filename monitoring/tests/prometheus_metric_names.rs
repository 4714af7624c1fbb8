//! Every metric a rule or a dashboard reads exists: among the series a real Prometheus stored
//! from this workspace's API and exporters and from the Prometheus, Alertmanager and
//! Pushgateway they run with (so what format negotiation does to names counts), as a
//! recording rule, or on the short list below of metrics from exporters that only run on
//! Kubernetes. Label matchers that require a label (`status=~"5.."`) must name a label the
//! metric has. A renamed metric or label fails here instead of showing "No data".

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aiplatform_monitoring::grafana::{self, substitute};
use aiplatform_monitoring::stack::{SeriesNames, Stack};
use aiplatform_monitoring::{promql, rules};

/// Metrics read by rules or dashboards that none of our processes expose, and where each
/// comes from.
const EXTERNAL: &[(&str, &str)] = &[
    (
        "kube_node_status_condition",
        "kube-state-metrics, node collector",
    ),
    (
        "kube_node_spec_unschedulable",
        "kube-state-metrics, node collector",
    ),
    ("kube_pod_status_phase", "kube-state-metrics, pod collector"),
    (
        "kube_pod_container_status_restarts_total",
        "kube-state-metrics, pod collector",
    ),
    (
        "kube_pod_container_status_waiting_reason",
        "kube-state-metrics, pod collector",
    ),
    (
        "container_cpu_usage_seconds_total",
        "cAdvisor (kubelet /metrics/cadvisor, or DaemonSet)",
    ),
    (
        "container_memory_working_set_bytes",
        "cAdvisor (kubelet /metrics/cadvisor, or DaemonSet)",
    ),
    (
        "container_network_receive_bytes_total",
        "cAdvisor (kubelet /metrics/cadvisor, or DaemonSet)",
    ),
    (
        "container_network_transmit_bytes_total",
        "cAdvisor (kubelet /metrics/cadvisor, or DaemonSet)",
    ),
    (
        "kubelet_volume_stats_used_bytes",
        "kubelet /metrics, volume stats",
    ),
    (
        "kubelet_volume_stats_capacity_bytes",
        "kubelet /metrics, volume stats",
    ),
];

/// The jobs of the local stack (Grafana's is not run here and reads nothing).
const JOBS: [&str; 7] = [
    "aiplatform-api",
    "postgres",
    "redis",
    "node",
    "prometheus",
    "alertmanager",
    "pushgateway",
];

/// Where an expression was found, and the expression.
fn every_expression() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, group, rule) in rules::all_rules() {
        let name = rule
            .alert
            .clone()
            .or(rule.record.clone())
            .unwrap_or_default();
        out.push((
            format!(
                "{} {group} {name}",
                path.file_name().unwrap().to_string_lossy()
            ),
            rule.expr,
        ));
    }
    for d in grafana::dashboards() {
        let values: BTreeMap<String, String> = d
            .variables()
            .iter()
            .filter_map(|v| v["name"].as_str())
            .map(|n| (n.to_owned(), "value".to_owned()))
            .collect();
        for q in d.queries() {
            out.push((
                format!("{} {}", d.name(), q.origin),
                substitute(&q.expr, "1m", &values),
            ));
        }
    }
    out
}

#[test]
fn every_metric_and_label_read_by_rules_and_dashboards_exists() {
    let stack = Stack::start("names", None);
    stack.wait_targets_up(Duration::from_secs(60));
    // Families that appear once something happened: requests of every kind (including
    // injected 503s), cache hits and misses, a rule evaluation, a notification attempt.
    stack.api_traffic(40, 0.25);
    stack.redis_traffic();

    // Wait for a scrape after the traffic, then read what Prometheus stored, job by job.
    std::thread::sleep(Duration::from_secs(2));
    let mut exposed: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for job in JOBS {
        let names: SeriesNames = stack
            .stored_series(job)
            .unwrap_or_else(|e| panic!("{job}: {e}"));
        assert!(names.contains_key("up"), "{job}: nothing stored");
        for (name, labels) in names {
            // Recording rules keep the job label; they are checked as recording rules.
            if name.contains(':') {
                continue;
            }
            let entry = exposed
                .entry(name)
                .or_insert_with(|| (job.to_owned(), BTreeSet::new()));
            entry.1.extend(labels);
        }
    }
    let recorded: BTreeSet<String> = rules::all_rules()
        .into_iter()
        .filter_map(|(_, _, r)| r.record)
        .collect();
    let external: BTreeMap<&str, &str> = EXTERNAL.iter().copied().collect();

    let mut problems = Vec::new();
    let mut used: BTreeMap<String, &str> = BTreeMap::new();
    let mut selectors = 0;
    for (origin, expr) in every_expression() {
        for selector in promql::selectors(&expr).unwrap_or_else(|e| panic!("{origin}: {e}")) {
            selectors += 1;
            let Some(metric) = selector.metric else {
                problems.push(format!(
                    "{origin}: a selector without a metric name in {expr}"
                ));
                continue;
            };
            if let Some((_job, labels)) = exposed.get(&metric) {
                used.insert(metric.clone(), "our processes");
                for m in &selector.matchers {
                    if !m.matches_empty && !labels.contains(&m.label) {
                        problems.push(format!(
                            "{origin}: {metric} has no label {:?} (it has {labels:?})",
                            m.label
                        ));
                    }
                }
            } else if recorded.contains(&metric) {
                used.insert(metric, "recording rules");
            } else if external.contains_key(metric.as_str()) {
                used.insert(metric, "external list");
            } else {
                problems.push(format!(
                    "{origin}: {metric} is exposed by nothing here, recorded by no rule, and \
                     not on the EXTERNAL list"
                ));
            }
        }
    }
    // The list stays short and true: every entry is used, and none is something we expose.
    for (metric, source) in EXTERNAL {
        if exposed.contains_key(*metric) {
            problems.push(format!(
                "{metric} is on EXTERNAL ({source}) but our processes expose it"
            ));
        }
        if !used.contains_key(*metric) {
            problems.push(format!("{metric} is on EXTERNAL but nothing reads it"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let count = |source: &str| used.values().filter(|s| **s == source).count();
    eprintln!(
        "{selectors} selectors, {} distinct metrics: {} exposed by our processes, {} recording \
         rules, {} external ({} metric names exposed in total)",
        used.len(),
        count("our processes"),
        count("recording rules"),
        count("external list"),
        exposed.len()
    );
}
