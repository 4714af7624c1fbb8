//! The Prometheus configuration's variants, all derived from `prometheus.yml` (the Kubernetes
//! one, the source of truth):
//!
//! - [`local_variant`]: `prometheus.local.yml`, static targets by compose service name;
//! - [`for_promtool`]: Kubernetes service discovery rewritten to file discovery, which
//!   Debian's promtool (built without Kubernetes discovery) can check;
//! - [`for_localhost`]: the local variant pointed at processes on 127.0.0.1, for live tests.

use std::collections::BTreeMap;
use std::path::Path;

use serde_norway::{Mapping, Value};

/// `monitoring/prometheus/prometheus.yml`.
pub fn source_path() -> std::path::PathBuf {
    crate::rules::prometheus_dir().join("prometheus.yml")
}

/// `monitoring/prometheus/prometheus.local.yml`.
pub fn local_path() -> std::path::PathBuf {
    crate::rules::prometheus_dir().join("prometheus.local.yml")
}

/// Where each job discovered through Kubernetes runs in the compose stack (service name and
/// port), or `None` for jobs that only exist on Kubernetes.
pub const LOCAL_TARGETS: &[(&str, Option<&str>)] = &[
    ("aiplatform-api", Some("api:8000")),
    ("postgres", Some("postgres-exporter:9187")),
    ("redis", Some("redis-exporter:9121")),
    ("node", Some("node-exporter:9100")),
    ("alertmanager", Some("alertmanager:9093")),
    ("pushgateway", Some("pushgateway:9091")),
    ("grafana", Some("grafana:3000")),
    // The cluster's own components, and container metrics the compose stack does not run.
    ("kubernetes-apiservers", None),
    ("kubernetes-nodes", None),
    ("kubernetes-pods", None),
    ("kubernetes-cadvisor", None),
    ("kube-state-metrics", None),
    ("cadvisor", None),
    ("docker", None),
];

/// Where the Alertmanager discovered through Kubernetes runs in the compose stack.
pub const LOCAL_ALERTMANAGER: &str = "alertmanager:9093";

const HEADER: &str = "\
# GENERATED from prometheus.yml (the Kubernetes variant): do not edit. The same jobs, rules,
# intervals and alerting, with each Kubernetes-discovered component replaced by its compose
# service (static target) and the Kubernetes-only jobs left out. Regenerate with
#   AIPLATFORM_BLESS=1 cargo test -p aiplatform-monitoring --test prometheus_config
";

/// Builds `prometheus.local.yml` from the text of `prometheus.yml`.
///
/// Jobs with static targets are copied as they are. A job found through Kubernetes discovery
/// is replaced by the static target [`LOCAL_TARGETS`] gives it, keeping everything but the
/// discovery and the relabelling rules that read Kubernetes metadata, or left out when it
/// only exists on Kubernetes. A discovered job missing from the table, or whose
/// `app.kubernetes.io/name;port` keep rule names another port than its compose target, is
/// an error: the two variants must not drift apart silently.
pub fn local_variant(source: &str) -> Result<String, String> {
    let mut config: Value =
        serde_norway::from_str(source).map_err(|e| format!("prometheus.yml: {e}"))?;
    let root = config
        .as_mapping_mut()
        .ok_or("prometheus.yml: not a mapping")?;

    if let Some(alerting) = root.get_mut("alerting") {
        let managers = alerting
            .get_mut("alertmanagers")
            .and_then(Value::as_sequence_mut)
            .ok_or("alerting: no alertmanagers")?;
        for manager in managers {
            localize(manager, "alerting", LOCAL_ALERTMANAGER)?;
        }
    }

    let jobs = root
        .get_mut("scrape_configs")
        .and_then(Value::as_sequence_mut)
        .ok_or("no scrape_configs")?;
    let mut kept = Vec::new();
    for mut job in std::mem::take(jobs) {
        let name = job["job_name"]
            .as_str()
            .ok_or("a scrape config without job_name")?
            .to_owned();
        if job.get("kubernetes_sd_configs").is_none() {
            kept.push(job);
            continue;
        }
        let target = LOCAL_TARGETS
            .iter()
            .find(|(job_name, _)| *job_name == name)
            .ok_or_else(|| {
                format!(
                    "job {name} uses Kubernetes discovery but has no entry in LOCAL_TARGETS \
                     (give it its compose service, or None if it only exists on Kubernetes)"
                )
            })?
            .1;
        if let Some(target) = target {
            localize(&mut job, &format!("job {name}"), target)?;
            kept.push(job);
        }
    }
    *jobs = kept;

    let body = serde_norway::to_string(&config).map_err(|e| e.to_string())?;
    Ok(format!("{HEADER}\n{body}"))
}

/// Replaces a Kubernetes-discovered block (scrape job or alertmanager) by a static target.
fn localize(block: &mut Value, what: &str, target: &str) -> Result<(), String> {
    let map = block
        .as_mapping_mut()
        .ok_or_else(|| format!("{what}: not a mapping"))?;
    if map.remove("kubernetes_sd_configs").is_none() {
        return Ok(());
    }
    let port = target.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
    if let Some(relabels) = map
        .get_mut("relabel_configs")
        .and_then(Value::as_sequence_mut)
    {
        let keep_port = relabels
            .iter()
            .filter(|r| r["action"] == "keep")
            .filter_map(|r| r["regex"].as_str())
            .filter_map(|re| re.split_once(';').map(|(_, port)| port.to_owned()))
            .next();
        if let Some(keep_port) = keep_port
            && keep_port != port
        {
            return Err(format!(
                "{what}: Kubernetes keeps port {keep_port} but the compose target is {target}"
            ));
        }
        relabels.retain(|r| !reads_kubernetes_metadata(r));
        if relabels.is_empty() {
            map.remove("relabel_configs");
        }
    }
    let mut static_config = Mapping::new();
    static_config.insert(
        "targets".into(),
        Value::Sequence(vec![Value::from(target.to_owned())]),
    );
    map.insert(
        "static_configs".into(),
        Value::Sequence(vec![Value::Mapping(static_config)]),
    );
    Ok(())
}

fn reads_kubernetes_metadata(relabel: &Value) -> bool {
    relabel["source_labels"]
        .as_sequence()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&relabel["regex"]))
        .filter_map(Value::as_str)
        .any(|s| s.contains("__meta_kubernetes_"))
}

/// `config` (the text of a variant) with every `kubernetes_sd_configs` replaced by a
/// `file_sd_configs` reading an empty target list, and the Kubernetes service-account files
/// (CA, token) pointed at empty files, all created under `dir`: what Debian's promtool, built
/// without Kubernetes discovery, accepts. Relabelling, TLS and authentication settings are
/// kept, so promtool still validates them.
pub fn for_promtool(config: &str, dir: &Path) -> Result<String, String> {
    with_file_discovery(config, dir, &|_| serde_json::json!([]))
}

/// Like [`for_promtool`], but each discovery block's file holds the target groups
/// `targets(role)` returns for its Kubernetes role (`pod`, `node`, `endpoints`, ...): a
/// Prometheus running the result relabels those targets exactly as it would relabel what
/// Kubernetes discovery finds, when each group carries the `__meta_kubernetes_*` labels
/// Kubernetes discovery sets.
pub fn with_file_discovery(
    config: &str,
    dir: &Path,
    targets: &dyn Fn(&str) -> serde_json::Value,
) -> Result<String, String> {
    let mut value: Value = serde_norway::from_str(config).map_err(|e| e.to_string())?;
    let mut count = 0;
    rewrite_discovery(&mut value, dir, targets, &mut count)?;
    serde_norway::to_string(&value).map_err(|e| e.to_string())
}

const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount/";

fn rewrite_discovery(
    value: &mut Value,
    dir: &Path,
    targets: &dyn Fn(&str) -> serde_json::Value,
    count: &mut usize,
) -> Result<(), String> {
    match value {
        Value::Mapping(map) => {
            if let Some(sd) = map.remove("kubernetes_sd_configs") {
                *count += 1;
                let mut groups = Vec::new();
                for block in sd.as_sequence().into_iter().flatten() {
                    let role = block["role"]
                        .as_str()
                        .ok_or("a kubernetes_sd_configs block without a role")?;
                    groups.extend(targets(role).as_array().cloned().unwrap_or_default());
                }
                let file = dir.join(format!("kubernetes-sd-{count}.json"));
                let text = serde_json::to_string(&groups).map_err(|e| e.to_string())?;
                std::fs::write(&file, text).map_err(|e| e.to_string())?;
                let mut sd = Mapping::new();
                sd.insert(
                    "files".into(),
                    Value::Sequence(vec![Value::from(file.display().to_string())]),
                );
                map.insert(
                    "file_sd_configs".into(),
                    Value::Sequence(vec![Value::Mapping(sd)]),
                );
            }
            for (_, v) in map.iter_mut() {
                if let Some(path) = v.as_str()
                    && let Some(file) = path.strip_prefix(SERVICE_ACCOUNT_DIR)
                {
                    let stand_in = dir.join(format!("serviceaccount-{file}"));
                    std::fs::write(&stand_in, "").map_err(|e| e.to_string())?;
                    *v = Value::from(stand_in.display().to_string());
                } else {
                    rewrite_discovery(v, dir, targets, count)?;
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                rewrite_discovery(item, dir, targets, count)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A target a live test runs: the address Prometheus scrapes, and the `instance` label it
/// gets (the compose name, so alerts read as they would in the stack).
#[derive(Debug, Clone)]
pub struct LocalTarget {
    /// `127.0.0.1:port`.
    pub address: String,
    /// The `instance` label.
    pub instance: String,
}

/// The local variant (its text) pointed at processes on this machine, for live tests:
///
/// - every static target `service:port` is replaced by the targets `targets` maps it to
///   (each keeps an `instance` label naming the service), and a target with no entry is an
///   error;
/// - jobs listed in `drop_jobs` are removed (a component that cannot run here);
/// - every scrape and evaluation interval becomes `interval` (timeouts too), so that a test
///   sees data within seconds.
pub fn for_localhost(
    local: &str,
    targets: &BTreeMap<String, Vec<LocalTarget>>,
    drop_jobs: &[&str],
    interval: &str,
) -> Result<String, String> {
    let mut config: Value = serde_norway::from_str(local).map_err(|e| e.to_string())?;
    let global = config
        .get_mut("global")
        .and_then(Value::as_mapping_mut)
        .ok_or("no global section")?;
    for key in ["scrape_interval", "scrape_timeout", "evaluation_interval"] {
        global.insert(key.into(), Value::from(interval));
    }
    let map_static = |block: &mut Value| -> Result<(), String> {
        let Some(statics) = block
            .get_mut("static_configs")
            .and_then(Value::as_sequence_mut)
        else {
            return Ok(());
        };
        let mut rewritten = Vec::new();
        for static_config in statics.iter() {
            for target in static_config["targets"].as_sequence().into_iter().flatten() {
                let target = target.as_str().ok_or("a target that is not a string")?;
                let local = targets
                    .get(target)
                    .ok_or_else(|| format!("no local process for target {target}"))?;
                for t in local {
                    let mut labels = static_config["labels"]
                        .as_mapping()
                        .cloned()
                        .unwrap_or_default();
                    labels.insert("instance".into(), Value::from(t.instance.clone()));
                    let mut entry = Mapping::new();
                    entry.insert(
                        "targets".into(),
                        Value::Sequence(vec![Value::from(t.address.clone())]),
                    );
                    entry.insert("labels".into(), Value::Mapping(labels));
                    rewritten.push(Value::Mapping(entry));
                }
            }
        }
        *statics = rewritten;
        Ok(())
    };
    if let Some(managers) = config
        .get_mut("alerting")
        .and_then(|a| a.get_mut("alertmanagers"))
        .and_then(Value::as_sequence_mut)
    {
        for manager in managers {
            map_static(manager)?;
        }
    }
    let jobs = config
        .get_mut("scrape_configs")
        .and_then(Value::as_sequence_mut)
        .ok_or("no scrape_configs")?;
    jobs.retain(|job| !drop_jobs.contains(&job["job_name"].as_str().unwrap_or_default()));
    for job in jobs.iter_mut() {
        if let Some(map) = job.as_mapping_mut() {
            map.remove("scrape_interval");
            map.remove("scrape_timeout");
        }
        map_static(job)?;
    }
    serde_norway::to_string(&config).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
global: {scrape_interval: 15s}
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ['localhost:9090']}]
  - job_name: aiplatform-api
    scrape_interval: 30s
    kubernetes_sd_configs: [{role: pod}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name, __meta_kubernetes_pod_container_port_number]
        regex: aiplatform-api;8000
        action: keep
      - target_label: team
        replacement: api
  - job_name: kubernetes-pods
    kubernetes_sd_configs: [{role: pod}]
"#;

    #[test]
    fn discovered_jobs_become_compose_targets_and_kubernetes_only_jobs_go() {
        let local = local_variant(SOURCE).unwrap();
        let value: Value = serde_norway::from_str(&local).unwrap();
        let jobs = value["scrape_configs"].as_sequence().unwrap();
        let names: Vec<&str> = jobs
            .iter()
            .map(|j| j["job_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["prometheus", "aiplatform-api"]);
        let api = &jobs[1];
        assert_eq!(api["static_configs"][0]["targets"][0], "api:8000");
        assert_eq!(api["scrape_interval"], "30s", "settings are kept");
        assert!(api.get("kubernetes_sd_configs").is_none());
        let relabels = api["relabel_configs"].as_sequence().unwrap();
        assert_eq!(
            relabels.len(),
            1,
            "only the rule without Kubernetes metadata stays"
        );
        assert_eq!(relabels[0]["target_label"], "team");
        assert!(local.starts_with("# GENERATED"));
    }

    #[test]
    fn an_unknown_discovered_job_or_a_port_mismatch_is_an_error() {
        let unknown = SOURCE.replace("job_name: kubernetes-pods", "job_name: mystery");
        assert!(local_variant(&unknown).unwrap_err().contains("mystery"));
        let wrong_port = SOURCE.replace("aiplatform-api;8000", "aiplatform-api;8080");
        assert!(local_variant(&wrong_port).unwrap_err().contains("8080"));
    }

    #[test]
    fn localhost_targets_keep_the_compose_name_as_instance() {
        let local = local_variant(SOURCE).unwrap();
        let targets = BTreeMap::from([(
            "api:8000".to_owned(),
            vec![LocalTarget {
                address: "127.0.0.1:1234".into(),
                instance: "api:8000".into(),
            }],
        )]);
        let live = for_localhost(&local, &targets, &["prometheus"], "1s").unwrap();
        let value: Value = serde_norway::from_str(&live).unwrap();
        let jobs = value["scrape_configs"].as_sequence().unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0]["static_configs"][0]["targets"][0], "127.0.0.1:1234");
        assert_eq!(
            jobs[0]["static_configs"][0]["labels"]["instance"],
            "api:8000"
        );
        assert!(jobs[0].get("scrape_interval").is_none());
        assert_eq!(value["global"]["scrape_timeout"], "1s");
        let missing = for_localhost(&local, &BTreeMap::new(), &["prometheus"], "1s");
        assert!(missing.unwrap_err().contains("api:8000"));
    }
}
