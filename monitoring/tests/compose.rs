//! `docker-compose.monitoring.yml`, `Dockerfile`, `.dockerignore` and `.env.example`.
//!
//! The compose file is validated against the Compose Specification's JSON schema
//! (`check-jsonschema --builtin-schema vendor.compose-spec`), then checked for what the stack
//! promises: every service of the stack on its documented port, a healthcheck on every
//! long-running service, named volumes for data, no secret in the file (every one comes from
//! `.env`), mounts that exist, and an image that builds the binaries the services run.
//!
//! Not covered (no Docker engine here): pulling the images, building the Dockerfile, starting
//! the stack, and whether each healthcheck command succeeds inside its image.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use aiplatform_monitoring::logstash::{Pipeline, parse_files, pipeline_files};
use aiplatform_monitoring::repo_root;
use aiplatform_monitoring::tools::{output_text, require_python_module, run};
use serde_json::Value;

const COMPOSE: &str = "docker-compose.monitoring.yml";

fn compose() -> Value {
    let text = std::fs::read_to_string(repo_root().join(COMPOSE)).unwrap();
    let mut yaml: serde_norway::Value = serde_norway::from_str(&text).expect("compose is YAML");
    yaml.apply_merge().expect("merge keys resolve");
    serde_json::to_value(yaml).unwrap()
}

fn services() -> BTreeMap<String, Value> {
    compose()["services"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_jsonschema(file: &std::path::Path) -> std::process::Output {
    require_python_module("check_jsonschema");
    run(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            file.to_str().unwrap(),
        ],
    )
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let out = check_jsonschema(&repo_root().join(COMPOSE));
    assert!(out.status.success(), "{}", output_text(&out));
}

#[test]
fn the_schema_check_catches_a_typo() {
    let text = std::fs::read_to_string(repo_root().join(COMPOSE)).unwrap();
    let broken = text.replacen(
        "  interval: 10s\n  timeout: 5s",
        "  intervall: 10s\n  timeout: 5s",
        1,
    );
    assert_ne!(broken, text);
    let tmp = std::env::temp_dir().join(format!("aiplatform-compose-{}.yml", std::process::id()));
    std::fs::write(&tmp, broken).unwrap();
    let out = check_jsonschema(&tmp);
    std::fs::remove_file(&tmp).ok();
    assert!(
        !out.status.success(),
        "a misspelt key passed: {}",
        output_text(&out)
    );
}

/// Published ports, as `host_ip:published:target[/protocol]` strings.
fn ports(service: &Value) -> Vec<String> {
    service["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.as_str().expect("ports are written as strings").to_owned())
        .collect()
}

#[test]
fn services_listen_on_their_documented_ports() {
    let services = services();
    let expected: &[(&str, &[&str])] = &[
        ("prometheus", &["127.0.0.1:9090:9090"]),
        ("alertmanager", &["127.0.0.1:9093:9093"]),
        ("pushgateway", &["127.0.0.1:9091:9091"]),
        ("grafana", &["127.0.0.1:3000:3000"]),
        ("elasticsearch", &["127.0.0.1:9200:9200"]),
        (
            "logstash",
            &[
                "127.0.0.1:5000:5000/tcp",
                "127.0.0.1:5514:5514/udp",
                "127.0.0.1:9600:9600",
            ],
        ),
        ("kibana", &["127.0.0.1:5601:5601"]),
        ("api", &["127.0.0.1:8000:8000"]),
        ("node-exporter", &["127.0.0.1:9100:9100"]),
        ("postgres-exporter", &["127.0.0.1:9187:9187"]),
        ("redis-exporter", &["127.0.0.1:9121:9121"]),
        ("postgres", &["127.0.0.1:5432:5432"]),
        ("redis", &["127.0.0.1:6379:6379"]),
    ];
    for (name, want) in expected {
        let s = services
            .get(*name)
            .unwrap_or_else(|| panic!("no service {name}"));
        assert_eq!(ports(s), *want, "{name}");
    }
    for (name, s) in &services {
        for p in ports(s) {
            assert!(
                p.starts_with("127.0.0.1:"),
                "{name}: {p} listens on every interface"
            );
        }
    }
    // Grafana's login is admin/<GRAFANA_ADMIN_PASSWORD>, Kibana's elastic/<ELASTIC_PASSWORD>.
    assert_eq!(
        services["grafana"]["environment"]["GF_SECURITY_ADMIN_USER"],
        "admin"
    );
}

#[test]
fn long_running_services_have_healthchecks_and_restart() {
    for (name, s) in services() {
        if s["restart"] == "no" {
            // One-shot setup jobs: the services that need them wait for their success.
            continue;
        }
        assert!(
            s["healthcheck"]["test"].is_array(),
            "{name}: no healthcheck"
        );
        assert_eq!(s["restart"], "unless-stopped", "{name}");
    }
    let services = services();
    for (name, needs) in [
        ("logstash", "elasticsearch-setup"),
        ("kibana", "elasticsearch-setup"),
        ("kibana-setup", "kibana"),
        ("elasticsearch-setup", "elasticsearch"),
    ] {
        assert!(
            services[name]["depends_on"][needs]["condition"].is_string(),
            "{name} waits for {needs}"
        );
    }
}

/// `source:target[:mode]` volume strings of a service.
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let mut parts = v.as_str().expect("short volume syntax").split(':');
            (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn data_lives_in_named_volumes_and_config_mounts_exist() {
    let c = compose();
    let declared: BTreeSet<String> = c["volumes"].as_object().unwrap().keys().cloned().collect();
    let mut used = BTreeSet::new();
    for (name, s) in services() {
        for (source, target) in mounts(&s) {
            if let Some(rel) = source.strip_prefix("./") {
                assert!(
                    repo_root().join(rel).exists(),
                    "{name}: {source} does not exist"
                );
            } else if source.starts_with('/') {
                assert_eq!(name, "node-exporter", "{name}: host path {source}");
            } else {
                assert!(
                    declared.contains(&source),
                    "{name}: volume {source} not declared"
                );
                used.insert(source.clone());
            }
            assert!(target.starts_with('/'), "{name}: {target}");
        }
    }
    assert_eq!(used, declared, "every declared volume is used");
    let m = |svc: &str| mounts(&services()[svc]);
    assert!(
        m("prometheus").contains(&("./monitoring/prometheus".into(), "/etc/prometheus".into()))
    );
    assert!(m("alertmanager").contains(&(
        "./monitoring/alertmanager".into(),
        "/etc/alertmanager".into()
    )));
    assert!(m("grafana").contains(&(
        "./monitoring/grafana/provisioning".into(),
        "/etc/grafana/provisioning".into()
    )));
    assert!(m("grafana").contains(&(
        "./monitoring/grafana/dashboards".into(),
        "/var/lib/grafana/dashboards".into()
    )));
    let prometheus_args = services()["prometheus"]["command"].to_string();
    assert!(prometheus_args.contains("--config.file=/etc/prometheus/prometheus.local.yml"));
    for (svc, volume) in [
        ("prometheus", "prometheus-data"),
        ("grafana", "grafana-data"),
        ("elasticsearch", "elasticsearch-data"),
        ("logstash", "logstash-data"),
        ("postgres", "postgres-data"),
        ("redis", "redis-data"),
    ] {
        assert!(
            m(svc).iter().any(|(s, _)| s == volume),
            "{svc} keeps its data in {volume}"
        );
    }
}

/// `${VAR}`, `${VAR:-default}`, `${VAR:?message}` references in a text; `$$` escapes skipped.
fn references(text: &str) -> Vec<(String, Option<char>)> {
    let re = regex::Regex::new(r"\$\{([A-Z0-9_]+)(?:(:[-?])[^}]*)?\}").unwrap();
    let unescaped = text.replace("$$", "");
    re.captures_iter(&unescaped)
        .map(|c| {
            (
                c[1].to_owned(),
                c.get(2).map(|m| m.as_str().chars().nth(1).unwrap()),
            )
        })
        .collect()
}

fn env_example() -> BTreeMap<String, String> {
    std::fs::read_to_string(repo_root().join(".env.example"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn no_secret_is_written_in_the_compose_file() {
    let secret = regex::Regex::new(
        r"(?i)(password|passwd|_pass$|secret|token|api_key|encryption_key|_auth$)",
    )
    .unwrap();
    for (name, s) in services() {
        for (k, v) in s["environment"].as_object().into_iter().flatten() {
            if !secret.is_match(k) {
                continue;
            }
            let v = v.as_str().unwrap_or_default();
            let refs = references(v);
            assert!(
                refs.len() == 1
                    && refs[0].1 == Some('?')
                    && v.starts_with("${")
                    && v.ends_with('}'),
                "{name}: {k} must be exactly a required ${{VAR:?...}} reference, is {v:?}"
            );
        }
    }
    let text = std::fs::read_to_string(repo_root().join(COMPOSE)).unwrap();
    let example = env_example();
    for (var, kind) in references(&text) {
        assert!(
            example.contains_key(&var) || kind == Some('-'),
            "${{{var}}} is neither in .env.example nor defaulted"
        );
    }
    let referenced: BTreeSet<String> = references(&text).into_iter().map(|(v, _)| v).collect();
    for var in example.keys() {
        assert!(
            referenced.contains(var),
            ".env.example has {var}, which compose never uses"
        );
    }
    // The default Elastic version is the one .env.example pins.
    assert!(text.contains(&format!(
        "${{ELASTIC_VERSION:-{}}}",
        example["ELASTIC_VERSION"]
    )));
    let gitignore = std::fs::read_to_string(repo_root().join(".gitignore")).unwrap();
    assert!(
        gitignore.lines().any(|l| l == "/.env"),
        ".env is never committed"
    );
}

/// The ports a service listens on inside the stack: the container side of its published
/// ports, and its `expose` list.
fn listening(service: &Value) -> BTreeSet<u16> {
    let mut out: BTreeSet<u16> = ports(service)
        .iter()
        .map(|p| {
            let container = p.rsplit(':').next().unwrap();
            container.split('/').next().unwrap().parse().unwrap()
        })
        .collect();
    for e in service["expose"].as_array().into_iter().flatten() {
        out.insert(
            e.as_str()
                .expect("expose entries are strings")
                .parse()
                .unwrap(),
        );
    }
    out
}

/// The names a service answers to on the stack's network: its own and its aliases.
fn names(name: &str, service: &Value) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    for a in service["networks"]["default"]["aliases"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push(a.as_str().unwrap().to_owned());
    }
    out
}

#[test]
fn logstash_ports_match_its_pipeline_and_settings() {
    let trees = parse_files(&pipeline_files(
        &repo_root().join("monitoring/logstash/pipeline/main"),
    ))
    .unwrap();
    let pipeline = Pipeline::from_trees(&trees).unwrap();
    let mut inputs = BTreeSet::new();
    for name in ["tcp", "udp", "http"] {
        for p in pipeline.plugins(name) {
            inputs.insert(p.get("port").and_then(Value::as_u64).unwrap() as u16);
        }
    }
    assert_eq!(inputs, BTreeSet::from([5000, 5001, 5514]));
    let settings =
        std::fs::read_to_string(repo_root().join("monitoring/logstash/config/logstash.yml"))
            .unwrap();
    assert!(settings.contains("api.http.port: 9600"));
    inputs.insert(9600);
    let services = services();
    assert_eq!(
        listening(&services["logstash"]),
        inputs,
        "every input and the monitoring API reachable, nothing else"
    );
    let api = &services["api"];
    assert_eq!(
        api["environment"]["AIPLATFORM_LOGSTASH_ADDR"],
        "logstash:5000"
    );
}

/// Every `host:port` a part of the stack dials, with who dials it: Prometheus's targets and
/// Alertmanagers (`prometheus.local.yml`), Alertmanager's webhooks, Grafana's data sources,
/// and every address in a service's environment.
fn dialled() -> Vec<(String, String, u16)> {
    let mut out = Vec::new();
    let url = regex::Regex::new(r"^(?:[a-z]+://)?([a-z][a-z0-9-]*):(\d+)(?:[/?]|$)").unwrap();
    let mut add = |who: &str, address: &str| {
        let c = url
            .captures(address)
            .unwrap_or_else(|| panic!("{who}: {address} is not host:port"));
        out.push((who.to_owned(), c[1].to_owned(), c[2].parse().unwrap()));
    };
    let read_yaml = |rel: &str| -> Value {
        let text = std::fs::read_to_string(repo_root().join(rel)).unwrap();
        serde_norway::from_str(&text).unwrap()
    };
    let prometheus = read_yaml("monitoring/prometheus/prometheus.local.yml");
    let statics = prometheus["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(prometheus["alerting"]["alertmanagers"].as_array().unwrap());
    for block in statics {
        for s in block["static_configs"].as_array().into_iter().flatten() {
            for t in s["targets"].as_array().unwrap() {
                let t = t.as_str().unwrap();
                if !t.starts_with("localhost:") {
                    add("prometheus", t);
                }
            }
        }
    }
    let alertmanager = read_yaml("monitoring/alertmanager/alertmanager.yml");
    for r in alertmanager["receivers"].as_array().unwrap() {
        for h in r["webhook_configs"].as_array().into_iter().flatten() {
            add("alertmanager", h["url"].as_str().unwrap());
        }
    }
    let sources = repo_root().join("monitoring/grafana/provisioning/datasources");
    for f in std::fs::read_dir(sources).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        let v: Value = serde_norway::from_str(&text).unwrap();
        for ds in v["datasources"].as_array().into_iter().flatten() {
            add("grafana", ds["url"].as_str().unwrap());
        }
    }
    for (name, s) in services() {
        for (_, v) in s["environment"].as_object().into_iter().flatten() {
            if let Some(v) = v.as_str()
                && url.is_match(v)
            {
                add(&name, v);
            }
        }
    }
    out
}

#[test]
fn every_address_the_stack_dials_is_a_service_listening_there() {
    let services = services();
    let dialled = dialled();
    for (who, host, port) in &dialled {
        let (name, target) = services
            .iter()
            .find(|(n, s)| names(n, s).contains(host))
            .unwrap_or_else(|| panic!("{who} dials {host}:{port}: no service or alias {host}"));
        assert!(
            listening(target).contains(port),
            "{who} dials {host}:{port}, but {name} listens on {:?}",
            listening(target)
        );
    }
    // The wiring this checks, at least.
    for (who, host) in [
        ("prometheus", "api"),
        ("prometheus", "alertmanager"),
        ("alertmanager", "alert-receiver"),
        ("grafana", "prometheus"),
        ("api", "logstash"),
        ("postgres-exporter", "postgres"),
    ] {
        assert!(
            dialled.iter().any(|(w, h, _)| w == who && h == host),
            "{who} -> {host} not found: {dialled:?}"
        );
    }
}

/// The packages and binaries of this workspace, from `cargo metadata`.
fn workspace_binaries() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(repo_root())
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", output_text(&out));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let bins = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), bins)
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_what_the_services_run_as_a_non_root_user() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let workspace = workspace_binaries();
    // Every `-p PACKAGE` and `--bin NAME` in the build command exists.
    let pkg = regex::Regex::new(r"-p ([a-z0-9-]+)").unwrap();
    let mut built = BTreeSet::new();
    for c in pkg.captures_iter(&dockerfile) {
        let bins = workspace
            .get(&c[1])
            .unwrap_or_else(|| panic!("no package {}", &c[1]));
        built.extend(bins.iter().cloned());
    }
    let copied: BTreeSet<String> = regex::Regex::new(r"target/release/([a-z0-9-]+)")
        .unwrap()
        .captures_iter(&dockerfile)
        .map(|c| c[1].to_owned())
        .collect();
    for bin in &copied {
        assert!(built.contains(bin), "{bin} is copied but not built");
    }
    let ours: Vec<(String, Value)> = services()
        .into_iter()
        .filter(|(_, s)| s["image"] == "aiplatform/observability:local")
        .collect();
    assert_eq!(ours.len(), 4, "the API and three exporters run our image");
    let expose: BTreeSet<&str> = dockerfile
        .lines()
        .find(|l| l.starts_with("EXPOSE "))
        .expect("EXPOSE")
        .split_whitespace()
        .skip(1)
        .collect();
    for (name, s) in &ours {
        assert_eq!(s["build"]["dockerfile"], "Dockerfile", "{name}");
        let program = s["command"][0].as_str().unwrap();
        assert!(
            copied.contains(program),
            "{name} runs {program}, which the image lacks"
        );
        let port = ports(s)[0].rsplit(':').next().unwrap().to_owned();
        assert!(
            expose.contains(port.as_str()),
            "{name}: port {port} not exposed"
        );
        assert_eq!(
            s["environment"]["PORT"],
            port.as_str(),
            "{name}: the healthcheck probes its port"
        );
    }
    let user = dockerfile
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("USER");
    assert!(
        !user.contains(" 0") && !user.contains("root"),
        "runs as root: {user}"
    );
    assert!(dockerfile.contains("--locked"), "the build uses Cargo.lock");
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    for entry in ["target", ".git", ".env", ".tools"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

#[test]
fn the_readme_quick_start_matches_the_stack() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("### Quick Start")
        .expect("a Quick Start section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |e| e + 4)];
    assert!(
        section.contains("docker-compose -f docker-compose.monitoring.yml up -d"),
        "{section}"
    );
    assert!(section.contains("cp .env.example .env"));
    let services = services();
    for (ui, service) in [
        ("Prometheus", "prometheus"),
        ("Grafana", "grafana"),
        ("Kibana", "kibana"),
        ("Alertmanager", "alertmanager"),
    ] {
        let port = ports(&services[service])[0]
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            section.contains(&format!("- {ui}: http://localhost:{port}")),
            "{ui} is not at localhost:{port} in the Quick Start"
        );
    }
    assert!(section.contains("(`admin` / `GRAFANA_ADMIN_PASSWORD`"));
    assert!(section.contains("(`elastic` / `ELASTIC_PASSWORD`"));
    // Dashboards come from the directory compose mounts into Grafana.
    assert!(section.contains("provisioned automatically from `monitoring/grafana/dashboards/`"));
    assert!(
        mounts(&services["grafana"])
            .iter()
            .any(|(s, _)| s == "./monitoring/grafana/dashboards")
    );
}
