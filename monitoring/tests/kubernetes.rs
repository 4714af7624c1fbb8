//! The Kubernetes manifests under `deploy/kubernetes/`: validated against the Kubernetes API
//! schemas in strict mode (`kubernetes-validate --strict`, for the oldest and the newest
//! Kubernetes it bundles that we support), then checked for what the deployment promises:
//! node_exporter's host access for the DaemonSet, non-root hardened containers with resources
//! and probes everywhere, Services and `prometheus.io/*` annotations that agree with the
//! containers, the pods Prometheus's own discovery selects, RBAC for service discovery, and
//! secrets that are referenced, never written.
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

/// `(app.kubernetes.io/name, containerPort)` pairs the Prometheus configuration keeps.
fn scraped_pods(prometheus_yml: &str) -> Vec<(String, String)> {
    let config: Value = serde_norway::from_str(prometheus_yml).unwrap();
    let mut out = Vec::new();
    for job in config["scrape_configs"].as_array().unwrap() {
        for r in job["relabel_configs"].as_array().into_iter().flatten() {
            let sources = r["source_labels"].to_string();
            if r["action"] == "keep"
                && sources.contains("__meta_kubernetes_pod_label_app_kubernetes_io_name")
                && sources.contains("__meta_kubernetes_pod_container_port_number")
                && let Some((name, port)) = r["regex"].as_str().and_then(|x| x.split_once(';'))
            {
                out.push((name.to_owned(), port.to_owned()));
            }
        }
    }
    out
}

#[test]
fn prometheus_discovers_every_pod_deployed_here() {
    let objects = objects();
    let config = find(&objects, "ConfigMap", "prometheus-config");
    let yml = config["data"]["prometheus.yml"].as_str().unwrap();
    let scraped = scraped_pods(yml);
    let mut deployed = Vec::new();
    for (_, w) in workloads(&objects) {
        let template = &w["spec"]["template"];
        let app = template["metadata"]["labels"]["app.kubernetes.io/name"]
            .as_str()
            .unwrap()
            .to_owned();
        for c in template["spec"]["containers"].as_array().unwrap() {
            for p in c["ports"].as_array().unwrap() {
                deployed.push((app.clone(), p["containerPort"].to_string()));
            }
        }
    }
    for pod in [
        ("aiplatform-api", "8000"),
        ("postgres-exporter", "9187"),
        ("redis-exporter", "9121"),
        ("node-exporter", "9100"),
    ] {
        let pod = (pod.0.to_owned(), pod.1.to_owned());
        assert!(
            scraped.contains(&pod),
            "prometheus.yml does not scrape {pod:?}: {scraped:?}"
        );
        assert!(deployed.contains(&pod), "no pod {pod:?} here: {deployed:?}");
    }
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
    // The configuration reaches Prometheus as the files its rule_files glob expects.
    let init = deployment["spec"]["template"]["spec"]["initContainers"][0]["args"].to_string();
    assert!(
        init.contains("/etc/prometheus/prometheus.yml") && init.contains("/etc/prometheus/rules/")
    );
    let yml = find(&objects, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
        .as_str()
        .unwrap();
    let config: Value = serde_norway::from_str(yml).unwrap();
    assert_eq!(config["rule_files"], json!(["rules/*.yml"]));
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
        let bin = aiplatform_monitoring::tools::workspace_binary(&program);
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
