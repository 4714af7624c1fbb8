//! The Kubernetes manifests under `deploy/kubernetes/`: validated against the Kubernetes API
//! schemas in strict mode (`kubernetes-validate --strict`, for the oldest and the newest
//! Kubernetes it bundles that we support), then checked for what the deployment promises:
//! node_exporter's host access for the DaemonSet, non-root hardened containers with resources
//! and probes everywhere, Services and `prometheus.io/*` annotations that agree with the
//! containers, RBAC for service discovery, and secrets that are referenced, never written.
//!
//! Where the manifests meet the monitoring configuration: the shipped `prometheus.yml` runs in
//! a real Prometheus whose Kubernetes discovery is fed these manifests' pods (labels,
//! annotations, container ports), so Prometheus's own relabelling shows which job scrapes each
//! workload and which Alertmanager it alerts; the generated ConfigMaps are projected where
//! Prometheus and Alertmanager load each file from; the webhook relay is deployed or
//! documented.
//!
//! Not covered (no cluster, no kustomize here): applying the manifests, kustomize's rendering
//! of kustomization.yaml (its resource list is checked), scheduling, and the images' contents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use aiplatform_monitoring::repo_root;
use aiplatform_monitoring::tools::{output_text, require_python_module, run};
use serde_json::{Value, json};

/// Kubernetes versions the manifests must be valid for.
const KUBERNETES_VERSIONS: &[&str] = &["1.30.0", "1.37.0"];

fn dir() -> PathBuf {
    repo_root().join("deploy/kubernetes")
}

/// Manifest files (everything but kustomization.yaml), sorted.
fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !p.ends_with("kustomization.yaml") && !p.ends_with("secrets.yaml"))
        .collect();
    files.sort();
    files
}

/// Every object of every manifest, with the file it came from.
fn objects() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for f in manifest_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !v.is_null() {
                out.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
            }
        }
    }
    out
}

fn find<'a>(objects: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    &objects
        .iter()
        .find(|(_, o)| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .1
}

fn kubernetes_validate(files: &[PathBuf], version: &str) -> std::process::Output {
    require_python_module("kubernetes_validate");
    let mut args = vec!["--strict", "--quiet", "-k", version];
    let names: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    args.extend(names.iter().map(String::as_str));
    run("kubernetes-validate", &args)
}

#[test]
fn every_manifest_is_valid_in_strict_mode() {
    let files = manifest_files();
    assert!(files.len() >= 8, "{files:?}");
    for version in KUBERNETES_VERSIONS {
        let out = kubernetes_validate(&files, version);
        assert!(
            out.status.success(),
            "Kubernetes {version}: {}",
            output_text(&out)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("WARN"), "Kubernetes {version}: {text}");
    }
}

#[test]
fn strict_validation_catches_a_misspelt_field() {
    let text = std::fs::read_to_string(dir().join("api.yaml")).unwrap();
    let broken = text.replacen("containerPort: 8000", "contanerPort: 8000", 1);
    assert_ne!(text, broken);
    let tmp = std::env::temp_dir().join(format!("aiplatform-k8s-{}.yaml", std::process::id()));
    std::fs::write(&tmp, broken).unwrap();
    let out = kubernetes_validate(std::slice::from_ref(&tmp), KUBERNETES_VERSIONS[1]);
    std::fs::remove_file(&tmp).ok();
    assert!(!out.status.success(), "{}", output_text(&out));
}

#[test]
fn kustomization_lists_every_manifest_but_the_secrets() {
    let text = std::fs::read_to_string(dir().join("kustomization.yaml")).unwrap();
    let k: Value = serde_norway::from_str(&text).unwrap();
    let listed: BTreeSet<String> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let present: BTreeSet<String> = manifest_files()
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|f| f != "secrets.example.yaml")
        .collect();
    assert_eq!(listed, present);
    assert_eq!(k["namespace"], "aiplatform");
    let gitignore = std::fs::read_to_string(repo_root().join(".gitignore")).unwrap();
    assert!(
        gitignore
            .lines()
            .any(|l| l == "/deploy/kubernetes/secrets.yaml")
    );
}

/// Pod specs of the workloads, by workload name.
fn workloads(objects: &[(String, Value)]) -> BTreeMap<String, Value> {
    objects
        .iter()
        .filter(|(_, o)| {
            matches!(
                o["kind"].as_str(),
                Some("Deployment" | "DaemonSet" | "StatefulSet")
            )
        })
        .map(|(_, o)| {
            (
                o["metadata"]["name"].as_str().unwrap().to_owned(),
                o.clone(),
            )
        })
        .collect()
}

#[test]
fn the_node_exporter_runs_on_every_node_with_read_only_host_access() {
    let objects = objects();
    let ds = find(&objects, "DaemonSet", "node-exporter");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
    let c = &pod["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for (flag, volume, host) in [
        ("--path.procfs=/host/proc", "proc", "/proc"),
        ("--path.sysfs=/host/sys", "sys", "/sys"),
        ("--path.rootfs=/host/root", "root", "/"),
    ] {
        assert!(args.contains(&flag), "{flag}");
        let v = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == volume)
            .unwrap();
        assert_eq!(v["hostPath"]["path"], host);
        let m = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume)
            .unwrap();
        assert_eq!(m["readOnly"], true, "{volume} is mounted read-only");
        assert_eq!(
            format!(
                "--path.{}fs={}",
                if volume == "root" { "root" } else { volume },
                m["mountPath"].as_str().unwrap()
            ),
            flag
        );
    }
    assert_eq!(c["ports"][0]["hostPort"], c["ports"][0]["containerPort"]);
}

#[test]
fn containers_are_non_root_hardened_with_resources_and_probes() {
    let objects = objects();
    for (name, w) in workloads(&objects) {
        let pod = &w["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert!(
            pod["securityContext"]["runAsUser"]
                .as_u64()
                .is_some_and(|u| u > 0),
            "{name}"
        );
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        let init = pod["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in pod["containers"].as_array().unwrap().iter().chain(&init) {
            let cname = c["name"].as_str().unwrap();
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}/{cname}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}/{cname}");
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{name}/{cname}");
            for kind in ["requests", "limits"] {
                for r in ["cpu", "memory"] {
                    assert!(
                        c["resources"][kind][r].is_string(),
                        "{name}/{cname}: {kind}.{r}"
                    );
                }
            }
            let image = c["image"].as_str().unwrap();
            assert!(
                image.contains(':') && !image.ends_with(":latest"),
                "{name}/{cname}: pin {image}"
            );
        }
        for c in pod["containers"].as_array().unwrap() {
            for probe in ["readinessProbe", "livenessProbe"] {
                assert!(c[probe]["httpGet"]["path"].is_string(), "{name}: {probe}");
            }
        }
    }
}

#[test]
fn services_annotations_and_ports_agree_with_the_pods() {
    let objects = objects();
    for (name, w) in workloads(&objects) {
        let template = &w["spec"]["template"];
        let labels = &template["metadata"]["labels"];
        let c = &template["spec"]["containers"][0];
        let ports = c["ports"].as_array().unwrap();
        let annotations = &template["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/scrape"], "true", "{name}");
        let port = annotations["prometheus.io/port"].as_str().unwrap();
        assert!(
            ports.iter().any(|p| p["containerPort"]
                .as_u64()
                .map(|n| n.to_string())
                .as_deref()
                == Some(port)),
            "{name}: annotated port {port} is not a container port"
        );
        assert_eq!(annotations["prometheus.io/path"], "/metrics", "{name}");
        assert_eq!(
            w["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
            labels["app.kubernetes.io/name"]
        );
        let svc = find(&objects, "Service", &name);
        assert_eq!(
            svc["spec"]["selector"]["app.kubernetes.io/name"], labels["app.kubernetes.io/name"],
            "{name}"
        );
        for sp in svc["spec"]["ports"].as_array().unwrap() {
            let target = sp["targetPort"].as_str().unwrap();
            assert!(
                ports.iter().any(|p| p["name"] == target),
                "{name}: Service targets unknown port {target}"
            );
        }
    }
}

/// One target of Kubernetes pod discovery: a container port of a pod of a workload here.
#[derive(Debug, Clone)]
struct PodTarget {
    workload: String,
    pod: String,
    address: String,
    port: String,
    /// The port its `prometheus.io/port` annotation names, if this is it.
    annotated: bool,
    labels: serde_json::Map<String, Value>,
}

/// Kubernetes' label-name sanitising for discovery labels (`app.kubernetes.io/name` ->
/// `app_kubernetes_io_name`).
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The targets Prometheus's pod discovery would find for one running pod of every workload
/// here, with the `__meta_kubernetes_*` labels it sets (labels, annotations, container port
/// name/number/protocol, phase, ...).
fn pod_targets(objects: &[(String, Value)]) -> Vec<PodTarget> {
    let mut out = Vec::new();
    for (i, (name, w)) in workloads(objects).into_iter().enumerate() {
        let template = &w["spec"]["template"];
        let pod = format!("{name}-7d9f8b6c5-x{i}");
        let ip = format!("10.1.0.{}", i + 10);
        let mut common = serde_json::Map::new();
        let mut put = |k: String, v: &str| {
            common.insert(k, Value::from(v));
        };
        put("__meta_kubernetes_namespace".into(), "aiplatform");
        put("__meta_kubernetes_pod_name".into(), &pod);
        put("__meta_kubernetes_pod_ip".into(), &ip);
        put("__meta_kubernetes_pod_node_name".into(), "node-a");
        put("__meta_kubernetes_pod_host_ip".into(), "192.0.2.10");
        put("__meta_kubernetes_pod_phase".into(), "Running");
        put("__meta_kubernetes_pod_ready".into(), "true");
        put(
            "__meta_kubernetes_pod_controller_kind".into(),
            if w["kind"] == "DaemonSet" {
                "DaemonSet"
            } else {
                "ReplicaSet"
            },
        );
        for (k, v) in template["metadata"]["labels"].as_object().unwrap() {
            put(
                format!("__meta_kubernetes_pod_label_{}", sanitize(k)),
                v.as_str().unwrap(),
            );
            put(
                format!("__meta_kubernetes_pod_labelpresent_{}", sanitize(k)),
                "true",
            );
        }
        let annotations = template["metadata"]["annotations"].as_object();
        for (k, v) in annotations.into_iter().flatten() {
            put(
                format!("__meta_kubernetes_pod_annotation_{}", sanitize(k)),
                v.as_str().unwrap(),
            );
            put(
                format!("__meta_kubernetes_pod_annotationpresent_{}", sanitize(k)),
                "true",
            );
        }
        let annotated = template["metadata"]["annotations"]["prometheus.io/port"].as_str();
        for c in template["spec"]["containers"].as_array().unwrap() {
            for p in c["ports"].as_array().into_iter().flatten() {
                let port = p["containerPort"].to_string();
                let mut labels = common.clone();
                labels.insert(
                    "__meta_kubernetes_pod_container_name".into(),
                    c["name"].clone(),
                );
                labels.insert(
                    "__meta_kubernetes_pod_container_image".into(),
                    c["image"].clone(),
                );
                labels.insert(
                    "__meta_kubernetes_pod_container_init".into(),
                    "false".into(),
                );
                labels.insert(
                    "__meta_kubernetes_pod_container_port_name".into(),
                    p["name"].clone(),
                );
                labels.insert(
                    "__meta_kubernetes_pod_container_port_number".into(),
                    Value::from(port.clone()),
                );
                labels.insert(
                    "__meta_kubernetes_pod_container_port_protocol".into(),
                    p["protocol"].as_str().unwrap_or("TCP").into(),
                );
                out.push(PodTarget {
                    workload: name.clone(),
                    pod: pod.clone(),
                    address: format!("{ip}:{port}"),
                    annotated: annotated == Some(port.as_str()),
                    port,
                    labels,
                });
            }
        }
    }
    out
}

/// Jobs of the configuration whose pods are not deployed by these manifests, and why.
const DEPLOYED_ELSEWHERE: &[(&str, &str)] = &[
    (
        "kube-state-metrics",
        "installed from its upstream manifests, which label it this way",
    ),
    (
        "cadvisor",
        "optional: the kubelet's built-in cAdvisor is scraped by kubernetes-cadvisor",
    ),
    ("pushgateway", "only where batch jobs push metrics"),
    (
        "grafana",
        "the compose stack runs it; on a cluster, any Grafana",
    ),
];

/// Prometheus's own API, JSON.
fn api(url: &str) -> Result<Value, String> {
    let text = aiplatform_monitoring::process::http_get(url)?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// The shipped prometheus.yml (from its ConfigMap) in a real Prometheus, with its Kubernetes
/// discovery fed the pods of these manifests: Prometheus's own relabelling decides which job
/// scrapes which pod and which Alertmanager it sends to. Every workload's metrics port is
/// scraped exactly once, by a job of its own (the one the rules and dashboards select on, not
/// the catch-all annotation job), no other port is, Prometheus's own pod is left to its static
/// self-scrape, the only Alertmanager is the one deployed here, and every other pod job names
/// a component deployed elsewhere, with the reason.
#[test]
fn prometheus_selects_every_workload_here_once_under_its_own_job() {
    let objects = objects();
    let yml = find(&objects, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
        .as_str()
        .unwrap()
        .to_owned();
    let targets = pod_targets(&objects);
    let groups: Vec<Value> = targets
        .iter()
        .map(|t| json!({"targets": [t.address], "labels": t.labels}))
        .collect();
    let dir = std::env::temp_dir().join(format!("aiplatform-k8s-sd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config =
        aiplatform_monitoring::prometheus_config::with_file_discovery(&yml, &dir, &|role| {
            if role == "pod" {
                Value::from(groups.clone())
            } else {
                json!([])
            }
        })
        .unwrap();
    std::fs::write(dir.join("prometheus.yml"), &config).unwrap();
    let port = aiplatform_monitoring::process::free_port();
    let prometheus = aiplatform_monitoring::stack::start_prometheus(&dir, port, &[]);
    let base = &prometheus.url;

    let parsed: serde_norway::Value = serde_norway::from_str(&yml).unwrap();
    let pod_jobs: Vec<String> = parsed["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|j| j["kubernetes_sd_configs"][0]["role"] == "pod")
        .map(|j| j["job_name"].as_str().unwrap().to_owned())
        .collect();
    // Discovery reaches the scrape pools within a few seconds; wait until every pod job has
    // seen (kept or dropped) every target.
    let body = aiplatform_monitoring::process::wait_for(
        std::time::Duration::from_secs(30),
        "every pod job to see every pod",
        || {
            let body = api(&format!("{base}/api/v1/targets?state=any"))?;
            for job in &pod_jobs {
                let active = body["data"]["activeTargets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t["scrapePool"] == job.as_str())
                    .count();
                let dropped = body["data"]["droppedTargets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t["discoveredLabels"]["job"] == job.as_str())
                    .count();
                if active + dropped < targets.len() {
                    return Err(format!("{job}: {active} kept, {dropped} dropped"));
                }
            }
            Ok(body)
        },
    );
    let mut scraped_by: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for t in body["data"]["activeTargets"].as_array().unwrap() {
        let d = &t["discoveredLabels"];
        if let (Some(pod), Some(port)) = (
            d["__meta_kubernetes_pod_name"].as_str(),
            d["__meta_kubernetes_pod_container_port_number"].as_str(),
        ) {
            scraped_by
                .entry((pod.to_owned(), port.to_owned()))
                .or_default()
                .push(t["scrapePool"].as_str().unwrap().to_owned());
        }
    }
    let mut served = BTreeSet::new();
    for t in &targets {
        let jobs = scraped_by
            .get(&(t.pod.clone(), t.port.clone()))
            .cloned()
            .unwrap_or_default();
        if t.workload == "prometheus" {
            assert!(
                jobs.is_empty(),
                "Prometheus's own pod is scraped again by {jobs:?}"
            );
            // Job 1 scrapes it as localhost on its container port.
            let own = parsed["scrape_configs"][0]["static_configs"][0]["targets"][0]
                .as_str()
                .unwrap();
            assert_eq!(own, format!("localhost:{}", t.port));
            continue;
        }
        if !t.annotated {
            assert!(
                jobs.is_empty(),
                "{}:{} scraped by {jobs:?}",
                t.workload,
                t.port
            );
            continue;
        }
        assert_eq!(
            jobs.len(),
            1,
            "{} port {} is scraped by {jobs:?}, not by exactly one job",
            t.workload,
            t.port
        );
        assert_ne!(
            jobs[0], "kubernetes-pods",
            "{}: left to the annotation job, not the job the rules select",
            t.workload
        );
        served.insert(jobs[0].clone());
    }
    // Every job that selects pods by name has a workload here, or is deployed elsewhere.
    for job in pod_jobs.iter().filter(|j| *j != "kubernetes-pods") {
        let elsewhere = DEPLOYED_ELSEWHERE.iter().any(|(j, _)| j == job);
        assert!(
            served.contains(job) != elsewhere,
            "{job}: served here = {}, listed as deployed elsewhere = {elsewhere}",
            served.contains(job)
        );
    }
    let readme = std::fs::read_to_string(dir_readme()).unwrap();
    for (job, _) in DEPLOYED_ELSEWHERE {
        assert!(
            readme.contains(&format!("`{job}`")),
            "deploy/kubernetes/README.md does not say how {job} is found"
        );
    }

    // Alerts go to the Alertmanager deployed here, and only to it.
    let alertmanager = targets
        .iter()
        .find(|t| t.workload == "alertmanager" && t.annotated)
        .expect("an Alertmanager is deployed");
    let managers = aiplatform_monitoring::process::wait_for(
        std::time::Duration::from_secs(30),
        "an active Alertmanager",
        || {
            let body = api(&format!("{base}/api/v1/alertmanagers"))?;
            let active = body["data"]["activeAlertmanagers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if active.is_empty() {
                Err("none yet".into())
            } else {
                Ok(active)
            }
        },
    );
    let urls: Vec<&str> = managers
        .iter()
        .map(|m| m["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [format!("http://{}/api/v2/alerts", alertmanager.address)]
    );
    drop(prometheus);
    std::fs::remove_dir_all(&dir).ok();
}

fn dir_readme() -> PathBuf {
    dir().join("README.md")
}

#[test]
fn prometheus_may_discover_and_read_what_its_jobs_need() {
    let objects = objects();
    let role = find(&objects, "ClusterRole", "aiplatform-prometheus");
    let rules = role["rules"].as_array().unwrap();
    let allows = |resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == resource))
                && r["verbs"].as_array().unwrap().iter().any(|v| v == verb)
        })
    };
    for resource in [
        "nodes",
        "nodes/proxy",
        "services",
        "endpoints",
        "pods",
        "endpointslices",
    ] {
        for verb in ["get", "list", "watch"] {
            assert!(allows(resource, verb), "{verb} {resource}");
        }
    }
    assert!(
        rules
            .iter()
            .any(|r| r["nonResourceURLs"] == json!(["/metrics"]) && r["verbs"] == json!(["get"]))
    );
    let binding = find(&objects, "ClusterRoleBinding", "aiplatform-prometheus");
    assert_eq!(binding["roleRef"]["name"], "aiplatform-prometheus");
    let sa = &binding["subjects"][0];
    let deployment = find(&objects, "Deployment", "prometheus");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        sa["name"]
    );
    assert_eq!(sa["namespace"], "aiplatform");
}

/// The `--config.file=` of a container.
fn config_file(container: &Value) -> String {
    container["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a.as_str()?.strip_prefix("--config.file="))
        .unwrap_or_else(|| panic!("{}: no --config.file", container["name"]))
        .to_owned()
}

/// Each generated ConfigMap reaches its pod as the files its configuration loads: every key
/// is projected, read-only, at the path next to the configuration file the loader resolves
/// it to (`rules/<file>` for Prometheus's `rule_files`, `templates/<file>` for
/// Alertmanager's `templates`), and nothing else is projected from it. Paths the
/// configurations name absolutely (Alertmanager's Slack URL file) are projected from a
/// Secret that `secrets.example.yaml` defines.
#[test]
fn configurations_are_projected_where_they_are_loaded_from() {
    let objects = objects();
    let maps = aiplatform_monitoring::configmaps::config_maps().unwrap();
    for map in &maps {
        let (_, w) = workloads(&objects)
            .into_iter()
            .find(|(_, w)| {
                w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == map.app
            })
            .unwrap_or_else(|| panic!("{}: no workload {} mounts it", map.name, map.app));
        let pod = &w["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let config = config_file(container);
        let config_dir = config.rsplit_once('/').unwrap().0;
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == config_dir)
            .unwrap_or_else(|| panic!("{}: nothing mounted at {config_dir}", map.app));
        assert_eq!(mount["readOnly"], true, "{}", map.app);
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let source = volume["projected"]["sources"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: {config_dir} is not a projected volume", map.app))
            .iter()
            .find(|s| s["configMap"]["name"] == map.name)
            .unwrap_or_else(|| panic!("{} is not projected into {}", map.name, map.app));
        let projected: BTreeMap<String, String> = source["configMap"]["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: list the items, with their paths", map.name))
            .iter()
            .map(|i| {
                (
                    i["key"].as_str().unwrap().to_owned(),
                    i["path"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let wanted: BTreeMap<String, String> = map
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.path.clone()))
            .collect();
        assert_eq!(
            projected, wanted,
            "{}: the keys of {} and where {config} loads them from",
            map.app, map.name
        );
    }
    // Prometheus's own configuration file is the one in the ConfigMap.
    let prometheus = find(&objects, "Deployment", "prometheus");
    assert_eq!(
        config_file(&prometheus["spec"]["template"]["spec"]["containers"][0]),
        "/etc/prometheus/prometheus.yml"
    );
    // Absolute paths in alertmanager.yml: each one projected from a Secret shipped as an example.
    let am = find(&objects, "Deployment", "alertmanager");
    let pod = &am["spec"]["template"]["spec"];
    let config_dir = config_file(&pod["containers"][0])
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    let text = std::fs::read_to_string(aiplatform_monitoring::alertmanager::config_path()).unwrap();
    let mut files = Vec::new();
    absolute_files(&serde_norway::from_str(&text).unwrap(), &mut files);
    assert!(!files.is_empty(), "the Slack URL file");
    let secrets: Vec<&Value> = objects
        .iter()
        .filter(|(_, o)| o["kind"] == "Secret")
        .map(|(_, o)| o)
        .collect();
    for file in &files {
        let rel = file
            .strip_prefix(&format!("{config_dir}/"))
            .unwrap_or_else(|| panic!("{file} is outside the projected {config_dir}"));
        let from_secret = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|v| {
                v["projected"]["sources"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|s| s.get("secret").cloned())
            .find(|s| {
                s["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["path"] == rel)
            })
            .unwrap_or_else(|| panic!("{file}: no Secret projected there"));
        assert_eq!(
            from_secret["optional"], true,
            "{file}: Alertmanager starts without it"
        );
        let item = from_secret["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"] == rel)
            .unwrap();
        let secret = secrets
            .iter()
            .find(|s| s["metadata"]["name"] == from_secret["name"])
            .unwrap_or_else(|| panic!("{}: not in secrets.example.yaml", from_secret["name"]));
        assert!(
            secret["stringData"][item["key"].as_str().unwrap()].is_string(),
            "{file}: the example Secret lacks {}",
            item["key"]
        );
    }
}

/// The values of `*_file` settings (`api_url_file`, `credentials_file`, ...) that are absolute
/// paths, anywhere in a configuration.
fn absolute_files(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v.as_str() {
                    Some(path) if k.ends_with("_file") && path.starts_with('/') => {
                        out.push(path.to_owned())
                    }
                    _ => absolute_files(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| absolute_files(v, out)),
        _ => {}
    }
}

/// Alertmanager's webhooks post to a relay this directory does not deploy: the README says
/// which Service name to give it.
#[test]
fn alertmanager_s_webhook_host_is_deployed_or_documented() {
    let objects = objects();
    let text = std::fs::read_to_string(aiplatform_monitoring::alertmanager::config_path()).unwrap();
    let config: Value = serde_norway::from_str(&text).unwrap();
    let readme = std::fs::read_to_string(dir_readme()).unwrap();
    let mut hosts = BTreeSet::new();
    for r in config["receivers"].as_array().unwrap() {
        for h in r["webhook_configs"].as_array().into_iter().flatten() {
            let url = h["url"].as_str().unwrap();
            let authority = url.split("://").nth(1).unwrap().split('/').next().unwrap();
            hosts.insert(authority.to_owned());
        }
    }
    assert!(!hosts.is_empty());
    for authority in hosts {
        let (host, port) = authority.split_once(':').unwrap();
        let deployed = objects.iter().any(|(_, o)| {
            o["kind"] == "Service"
                && o["metadata"]["name"] == host
                && o["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["port"].as_u64().map(|n| n.to_string()).as_deref() == Some(port))
        });
        assert!(
            deployed || readme.contains(&format!("`{authority}`")),
            "Alertmanager posts to {authority}: neither a Service here nor in README.md"
        );
    }
}

#[test]
fn secrets_are_referenced_and_never_written() {
    let objects = objects();
    let secrets: BTreeMap<String, Value> = objects
        .iter()
        .filter(|(_, o)| o["kind"] == "Secret")
        .map(|(file, o)| {
            assert_eq!(
                file, "secrets.example.yaml",
                "a Secret outside secrets.example.yaml"
            );
            (
                o["metadata"]["name"].as_str().unwrap().to_owned(),
                o["stringData"].clone(),
            )
        })
        .collect();
    for values in secrets.values() {
        for (k, v) in values.as_object().unwrap() {
            assert!(
                v.as_str().unwrap().contains("CHANGE_ME"),
                "{k} holds a value, not a placeholder"
            );
        }
    }
    let mut referenced = 0;
    for (name, w) in workloads(&objects) {
        for c in w["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
        {
            for e in c["env"].as_array().into_iter().flatten() {
                let var = e["name"].as_str().unwrap();
                if let Some(r) = e["valueFrom"].get("secretKeyRef") {
                    let key = r["key"].as_str().unwrap();
                    assert!(
                        secrets
                            .get(r["name"].as_str().unwrap())
                            .is_some_and(|s| s.get(key).is_some()),
                        "{name}: {var} reads a Secret key that secrets.example.yaml lacks"
                    );
                    referenced += 1;
                } else if let Some(r) = e["valueFrom"].get("configMapKeyRef") {
                    assert_eq!(
                        r["optional"], true,
                        "{name}: {var} needs a ConfigMap not shipped"
                    );
                } else if var.contains("PASSWORD") || var.contains("DATA_SOURCE") {
                    panic!("{name}: {var} is written in the manifest");
                }
            }
        }
    }
    assert_eq!(referenced, 2, "the PostgreSQL DSN and the Redis password");
}

/// `(binary, args)` of every container and compose service that runs our image.
fn our_commands() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    for (name, w) in workloads(&objects()) {
        for c in w["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
        {
            if c["image"]
                .as_str()
                .unwrap()
                .starts_with("aiplatform/observability:")
            {
                let program = strings(&c["command"]);
                assert_eq!(program.len(), 1, "{name}");
                out.push((program[0].clone(), strings(&c["args"])));
            }
        }
    }
    let text = std::fs::read_to_string(repo_root().join("docker-compose.monitoring.yml")).unwrap();
    let mut yaml: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    yaml.apply_merge().unwrap();
    let compose: Value = serde_json::to_value(yaml).unwrap();
    for (_, s) in compose["services"].as_object().unwrap() {
        if s["image"] == "aiplatform/observability:local" {
            let mut cmd = strings(&s["command"]);
            let program = cmd.remove(0);
            out.push((program, cmd));
        }
    }
    out
}

#[test]
fn our_binaries_accept_every_flag_the_deployments_pass() {
    let commands = our_commands();
    assert_eq!(
        commands.len(),
        8,
        "4 Kubernetes workloads and 4 compose services: {commands:?}"
    );
    for (program, args) in commands {
        let bin = aiplatform_monitoring::binaries::workspace_binary(&program);
        // clap parses every argument before it acts on --help: an unknown flag or a bad
        // value fails here.
        let out = std::process::Command::new(&bin)
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            output_text(&out)
        );
    }
}
