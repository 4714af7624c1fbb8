//! The SaaS agents' configurations: Datadog (`monitoring/datadog/`) and New Relic
//! (`monitoring/newrelic/`).
//!
//! Neither agent runs here. Checked: every file is YAML; the option names are ones the agents
//! read (the Datadog OpenMetrics check's instance model, `datadog_checks/openmetrics/
//! config_models/instance.py`, and nri-prometheus's `scraper.Config`, transcribed below);
//! both point at the API and the three exporters by their compose service names and ports;
//! no key or password is written; and every metric the Datadog check is told to collect is
//! exposed by our binaries, which are started here and scraped as the check scrapes them
//! (`Accept: text/plain`, parsed by the Python `prometheus_client` parser it uses).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aiplatform_monitoring::binaries::workspace_binary;
use aiplatform_monitoring::repo_root;
use aiplatform_monitoring::tools::{output_text, require_python_module};
use serde_json::Value;

/// Instance options of Datadog's OpenMetrics v2 check.
const OPENMETRICS_OPTIONS: &[&str] = &[
    "openmetrics_endpoint",
    "namespace",
    "metrics",
    "exclude_metrics",
    "exclude_labels",
    "include_labels",
    "rename_labels",
    "tags",
    "service",
    "min_collection_interval",
    "timeout",
    "histogram_buckets_as_distributions",
    "collect_counters_with_distributions",
    "collect_histogram_buckets",
    "non_cumulative_histogram_buckets",
    "enable_health_service_check",
    "tls_verify",
    "tls_ca_cert",
    "headers",
    "share_labels",
    "raw_metric_prefix",
    "use_process_start_time",
];

/// Top-level options of nri-prometheus.
const NRI_PROMETHEUS_OPTIONS: &[&str] = &[
    "cluster_name",
    "license_key",
    "metric_api_url",
    "debug",
    "verbose",
    "emitters",
    "scrape_enabled_label",
    "require_scrape_enabled_label_for_nodes",
    "scrape_timeout",
    "scrape_duration",
    "emitter_harvest_period",
    "targets",
    "auto_decorate",
    "ca_file",
    "bearer_token_file",
    "insecure_skip_verify",
    "transformations",
    "percentiles",
    "emitter_proxy",
    "emitter_ca_file",
    "emitter_insecure_skip_verify",
    "scrape_services",
    "scrape_endpoints",
];

/// The metrics endpoints of the stack, by compose service name.
const ENDPOINTS: &[(&str, &str)] = &[
    ("api", "http://api:8000/metrics"),
    ("node-exporter", "http://node-exporter:9100/metrics"),
    ("postgres-exporter", "http://postgres-exporter:9187/metrics"),
    ("redis-exporter", "http://redis-exporter:9121/metrics"),
];

fn yaml(rel: &str) -> Value {
    let text =
        std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

#[test]
fn datadog_openmetrics_instances_use_known_options_and_point_at_our_services() {
    let conf = yaml("monitoring/datadog/conf.d/openmetrics.d/conf.yaml");
    let instances = conf["instances"].as_array().unwrap();
    let mut endpoints = Vec::new();
    for i in instances {
        for k in i.as_object().unwrap().keys() {
            assert!(
                OPENMETRICS_OPTIONS.contains(&k.as_str()),
                "unknown OpenMetrics option {k}"
            );
        }
        assert!(
            i["metrics"].as_array().is_some_and(|m| !m.is_empty()),
            "metrics is required"
        );
        let ns = i["namespace"].as_str().unwrap();
        assert!(
            ns.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "namespace {ns}"
        );
        endpoints.push(i["openmetrics_endpoint"].as_str().unwrap().to_owned());
    }
    let want: Vec<String> = ENDPOINTS.iter().map(|(_, u)| (*u).to_owned()).collect();
    assert_eq!(endpoints, want);
}

#[test]
fn datadog_postgres_redis_and_kubelet_integrations_are_configured_without_secrets() {
    let main = yaml("monitoring/datadog/datadog.yaml");
    assert!(
        main.get("api_key").is_none(),
        "the API key comes from DD_API_KEY"
    );
    for check in ["postgres.d", "redisdb.d", "kubelet.d", "openmetrics.d"] {
        let conf = yaml(&format!("monitoring/datadog/conf.d/{check}/conf.yaml"));
        assert!(
            conf["instances"].as_array().is_some_and(|i| !i.is_empty()),
            "{check}"
        );
        for i in conf["instances"].as_array().unwrap() {
            if let Some(p) = i.get("password") {
                let p = p.as_str().unwrap();
                assert!(
                    p.starts_with("%%env_") && p.ends_with("%%"),
                    "{check}: password written: {p}"
                );
            }
        }
    }
    let pg = yaml("monitoring/datadog/conf.d/postgres.d/conf.yaml");
    assert_eq!(
        (
            pg["instances"][0]["host"].as_str(),
            pg["instances"][0]["port"].as_u64()
        ),
        (Some("postgres"), Some(5432))
    );
    let redis = yaml("monitoring/datadog/conf.d/redisdb.d/conf.yaml");
    assert_eq!(
        (
            redis["instances"][0]["host"].as_str(),
            redis["instances"][0]["port"].as_u64()
        ),
        (Some("redis"), Some(6379))
    );
}

#[test]
fn new_relic_scrapes_the_same_endpoints_without_secrets() {
    let conf = yaml("monitoring/newrelic/nri-prometheus-config.yml");
    for k in conf.as_object().unwrap().keys() {
        assert!(
            NRI_PROMETHEUS_OPTIONS.contains(&k.as_str()),
            "unknown nri-prometheus option {k}"
        );
    }
    assert!(
        conf.get("license_key").is_none(),
        "the license key comes from LICENSE_KEY"
    );
    assert!(conf["cluster_name"].is_string(), "cluster_name is required");
    let urls: Vec<String> = conf["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            t["urls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_owned())
        })
        .collect();
    let want: Vec<String> = ENDPOINTS.iter().map(|(_, u)| (*u).to_owned()).collect();
    assert_eq!(urls, want);
    assert_eq!(
        conf["scrape_enabled_label"], "prometheus.io/scrape",
        "the annotation deploy/kubernetes sets"
    );
    for file in ["postgresql-config.yml", "redis-config.yml"] {
        let i = yaml(&format!("monitoring/newrelic/integrations.d/{file}"));
        let env = &i["integrations"][0]["env"];
        let p = env["PASSWORD"].as_str().unwrap();
        assert!(
            p.starts_with("${") && p.ends_with('}'),
            "{file}: password written"
        );
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(bin: &str, args: &[String], env: &[(&str, &str)], port: u16) -> Running {
    let mut cmd = Command::new(workspace_binary(bin));
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Running(cmd.spawn().unwrap_or_else(|e| panic!("{bin}: {e}")));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{bin} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

/// Metric family names as the Datadog OpenMetrics (v2) check sees them: fetched with the
/// `Accept: text/plain` header it sends (without `use_latest_spec`) and parsed by the parser
/// it uses, `prometheus_client.parser.text_fd_to_metric_families`, which names a counter
/// family without its `_total` suffix.
fn families(port: u16) -> BTreeSet<String> {
    let out = Command::new("curl")
        .args(["--silent", "--fail", "--max-time", "30", "-H"])
        .arg("Accept: text/plain")
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}", output_text(&out));
    require_python_module("prometheus_client");
    let mut parser = Command::new("python3")
        .args([
            "-c",
            "import sys\n\
             from prometheus_client.parser import text_fd_to_metric_families\n\
             for f in text_fd_to_metric_families(sys.stdin):\n    print(f.name)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    parser.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let parsed = parser.wait_with_output().unwrap();
    assert!(parsed.status.success(), "{}", output_text(&parsed));
    String::from_utf8_lossy(&parsed.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_metric_the_datadog_check_collects_is_exposed_by_our_binaries() {
    let conf = yaml("monitoring/datadog/conf.d/openmetrics.d/conf.yaml");
    let mut exposed = Vec::new();
    let port = free_port();
    let _api = start(
        "aiplatform-api",
        &["--listen".into(), format!("127.0.0.1:{port}")],
        &[],
        port,
    );
    // Labelled families appear with their first series: serve a request first.
    let served = Command::new("curl")
        .args(["--silent", "--fail", "--output", "/dev/null"])
        .arg(format!("http://127.0.0.1:{port}/health"))
        .status()
        .unwrap();
    assert!(served.success());
    exposed.push(("api", families(port)));
    let port = free_port();
    let _node = start(
        "aiplatform-node-exporter",
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[],
        port,
    );
    exposed.push(("node-exporter", families(port)));
    let port = free_port();
    let _pg = start(
        "aiplatform-postgres-exporter",
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[(
            "DATA_SOURCE_NAME",
            "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable",
        )],
        port,
    );
    exposed.push(("postgres-exporter", families(port)));
    let port = free_port();
    let _redis = start(
        "aiplatform-redis-exporter",
        &[
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--redis.addr=redis://127.0.0.1:6379".into(),
        ],
        &[],
        port,
    );
    exposed.push(("redis-exporter", families(port)));

    for (instance, (service, families)) in
        conf["instances"].as_array().unwrap().iter().zip(&exposed)
    {
        assert!(
            instance["openmetrics_endpoint"]
                .as_str()
                .unwrap()
                .contains(service)
        );
        for pattern in instance["metrics"].as_array().unwrap() {
            let pattern = pattern.as_str().unwrap();
            let re = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
            assert!(
                families.iter().any(|f| re.is_match(f)),
                "{service}: the Datadog check collects {pattern}, which is not exposed; exposed: {families:?}"
            );
        }
    }
}
