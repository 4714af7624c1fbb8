//! The Prometheus configuration: the Kubernetes variant (the source of truth), the local
//! variant generated from it, both accepted by promtool, and the jobs the platform needs.

use aiplatform_monitoring::process::run_tool;
use aiplatform_monitoring::prometheus_config::{self, LOCAL_TARGETS};
use aiplatform_monitoring::rules::{self, parse_duration};
use serde_norway::Value;

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "aiplatform-monitoring-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn promtool_check_config(path: &std::path::Path) {
    let (ok, text) = run_tool(
        "promtool",
        "prometheus",
        &[
            "check".as_ref(),
            "config".as_ref(),
            "--lint=all".as_ref(),
            path.as_os_str(),
        ],
    );
    assert!(
        ok && !text.contains("FAILED"),
        "promtool check config {}:\n{text}",
        path.display()
    );
    eprintln!("{text}");
}

#[test]
fn the_local_variant_is_generated_from_the_kubernetes_one() {
    let source = read(&prometheus_config::source_path());
    let generated = prometheus_config::local_variant(&source).unwrap();
    let local_path = prometheus_config::local_path();
    if std::env::var_os("AIPLATFORM_BLESS").is_some() {
        std::fs::write(&local_path, &generated).unwrap();
        eprintln!("wrote {}", local_path.display());
        return;
    }
    let committed = read(&local_path);
    assert!(
        committed == generated,
        "{} is out of step with prometheus.yml; regenerate it with\n  \
         AIPLATFORM_BLESS=1 cargo test -p aiplatform-monitoring --test prometheus_config\n\
         --- generated ---\n{generated}",
        local_path.display()
    );
}

#[test]
fn promtool_accepts_the_local_variant_and_its_rules() {
    // Checked in place: rule_files resolve next to the file, as in the container.
    promtool_check_config(&prometheus_config::local_path());
}

#[test]
fn promtool_accepts_the_kubernetes_variant_with_discovery_rewritten() {
    // Debian's promtool has no Kubernetes discovery: every kubernetes_sd_configs becomes a
    // file_sd_configs; relabelling, TLS and authorization are still checked.
    let dir = temp_dir("promtool-k8s");
    let rewritten =
        prometheus_config::for_promtool(&read(&prometheus_config::source_path()), &dir).unwrap();
    assert!(!rewritten.contains("kubernetes_sd_configs"));
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, rewritten).unwrap();
    std::os::unix::fs::symlink(rules::prometheus_dir().join("rules"), dir.join("rules")).unwrap();
    promtool_check_config(&path);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The scrape jobs: Prometheus, the Kubernetes API servers, nodes and annotated pods, the API,
/// the PostgreSQL, Redis and node exporters, cAdvisor and Docker, Alertmanager, Pushgateway,
/// kube-state-metrics, Grafana and the kubelets' cAdvisor.
const JOBS: [&str; 15] = [
    "prometheus",
    "kubernetes-apiservers",
    "kubernetes-nodes",
    "kubernetes-pods",
    "aiplatform-api",
    "postgres",
    "redis",
    "node",
    "cadvisor",
    "docker",
    "alertmanager",
    "pushgateway",
    "kube-state-metrics",
    "grafana",
    "kubernetes-cadvisor",
];

#[test]
fn the_kubernetes_variant_has_every_job_sane_intervals_rules_and_alerting() {
    let config: Value = serde_norway::from_str(&read(&prometheus_config::source_path())).unwrap();
    let jobs = config["scrape_configs"].as_sequence().unwrap();
    let names: Vec<&str> = jobs
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, JOBS);

    let global = &config["global"];
    let interval = |v: &Value| parse_duration(v.as_str().unwrap()).unwrap();
    for job in jobs {
        let name = job["job_name"].as_str().unwrap();
        let scrape = interval(
            job.get("scrape_interval")
                .unwrap_or(&global["scrape_interval"]),
        );
        let timeout = interval(
            job.get("scrape_timeout")
                .unwrap_or(&global["scrape_timeout"]),
        );
        assert!(
            timeout <= scrape,
            "{name}: timeout {timeout:?} > interval {scrape:?}"
        );
        assert!(
            scrape.as_secs() >= 10 && scrape.as_secs() <= 60,
            "{name}: scrape interval {scrape:?} outside 10s..60s"
        );
        if job.get("kubernetes_sd_configs").is_some() {
            assert!(
                LOCAL_TARGETS.iter().any(|(j, _)| *j == name),
                "{name}: discovered on Kubernetes but absent from LOCAL_TARGETS"
            );
        }
    }
    // Recording rules feed alerts: evaluating as often as scraping keeps them in step.
    assert_eq!(global["evaluation_interval"], global["scrape_interval"]);
    // Alertmanager's inhibition rules match on it.
    assert!(global["external_labels"]["cluster"].as_str().is_some());

    // rule_files covers every rule file (and only those).
    assert_eq!(
        config["rule_files"],
        serde_norway::from_str::<Value>("[rules/*.yml]").unwrap()
    );
    let rule_files = rules::yaml_files(&rules::prometheus_dir().join("rules"));
    assert!(
        rule_files.iter().all(|p| p.extension().unwrap() == "yml"),
        "rules/*.yml would miss {rule_files:?}"
    );
    assert!(
        config["alerting"]["alertmanagers"]
            .as_sequence()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn the_local_variant_scrapes_the_compose_services_only() {
    let config: Value = serde_norway::from_str(&read(&prometheus_config::local_path())).unwrap();
    let mut targets: Vec<String> = config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|job| {
            job["static_configs"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{:?} has no static targets", job["job_name"]))
                .iter()
                .flat_map(|s| s["targets"].as_sequence().unwrap().iter())
                .map(|t| t.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            "alertmanager:9093",
            "api:8000",
            "grafana:3000",
            "localhost:9090",
            "node-exporter:9100",
            "postgres-exporter:9187",
            "pushgateway:9091",
            "redis-exporter:9121",
        ]
    );
    assert_eq!(
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0],
        "alertmanager:9093"
    );
    assert!(!read(&prometheus_config::local_path()).contains("__meta_kubernetes"));
}
