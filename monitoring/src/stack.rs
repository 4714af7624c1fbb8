//! The monitoring stack on one machine, from the shipped files: Debian's Prometheus (the
//! local variant of the configuration and the rules), Alertmanager (the shipped routing,
//! delivering to a [`Recorder`]) and Pushgateway, this workspace's API and exporters against
//! the machine's PostgreSQL and Redis, and a throwaway PostgreSQL cluster a test may stop.
//!
//! Differences from the compose stack, all made here: everything listens on 127.0.0.1 (each
//! target keeps its compose name as `instance`), scrapes and rule evaluations run every
//! second, `for:` can be shortened, notifications leave within a second, Grafana's job is
//! left out (no Grafana package here), and the PostgreSQL job has a second target: the
//! throwaway cluster's exporter, with `pg_stat_statements` collected.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::alertmanager::{self, Alertmanager};
use crate::binaries::workspace_binary;
use crate::postgres::Cluster;
use crate::process::{Running, free_port, http_get, require_command, wait_for};
use crate::prometheus_config::{self, LocalTarget};
use crate::webhook::Recorder;

/// Metric name to the label names seen on its series.
pub type SeriesNames = BTreeMap<String, std::collections::BTreeSet<String>>;

/// The `instance` label of the throwaway cluster's exporter.
pub const THROWAWAY_POSTGRES_INSTANCE: &str = "postgres-exporter-throwaway:9187";

/// A process and its base URL.
#[derive(Debug)]
pub struct Component {
    /// The process, killed on drop.
    pub process: Running,
    /// `http://127.0.0.1:port`.
    pub url: String,
}

impl Component {
    fn address(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }
}

/// The running stack; everything stops when it is dropped.
#[derive(Debug)]
pub struct Stack {
    /// Working directory: configuration, data, logs.
    pub dir: PathBuf,
    /// Where Alertmanager's receivers deliver.
    pub recorder: Recorder,
    /// Prometheus.
    pub prometheus: Component,
    /// Alertmanager.
    pub alertmanager: Alertmanager,
    /// Pushgateway.
    pub pushgateway: Component,
    /// The example API, with fault injection enabled.
    pub api: Component,
    /// The node exporter.
    pub node: Component,
    /// The PostgreSQL exporter of the machine's PostgreSQL (127.0.0.1:5432).
    pub postgres: Component,
    /// The PostgreSQL exporter of the throwaway cluster.
    pub postgres_throwaway: Component,
    /// The Redis exporter of the machine's Redis (127.0.0.1:6379).
    pub redis: Component,
    /// The throwaway PostgreSQL cluster.
    pub cluster: Cluster,
}

fn spawn(dir: &Path, name: &str, command: Command, port: u16, ready_path: &str) -> Component {
    let mut process = Running::spawn(name, command, &dir.join(format!("{name}.log")));
    let url = format!("http://127.0.0.1:{port}");
    wait_for(
        Duration::from_secs(30),
        &format!("{name} to answer"),
        || {
            process.assert_running();
            http_get(&format!("{url}{ready_path}")).map(|_| ())
        },
    );
    Component { process, url }
}

/// Starts Debian's Prometheus on `127.0.0.1:port` with `dir/prometheus.yml` (rule files
/// resolve next to it) and its data in `dir/prometheus-data`, plus `extra_args`; returns once
/// it is ready.
pub fn start_prometheus(dir: &Path, port: u16, extra_args: &[&str]) -> Component {
    let mut command = Command::new(require_command("prometheus", "prometheus"));
    command
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra_args);
    spawn(dir, "prometheus", command, port, "/-/ready")
}

fn exporter(
    dir: &Path,
    name: &str,
    binary: &str,
    args: &[String],
    env: &[(&str, String)],
) -> Component {
    let port = free_port();
    let mut command = Command::new(workspace_binary(binary));
    command
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    spawn(dir, name, command, port, "/metrics")
}

impl Stack {
    /// Starts everything under a fresh temporary directory named after `tag`; with
    /// `shorten_for`, every rule's `for:` becomes that duration. Returns once Prometheus is
    /// ready (targets may not have been scraped yet: see [`Stack::wait_targets_up`]).
    pub fn start(tag: &str, shorten_for: Option<&str>) -> Stack {
        let dir =
            std::env::temp_dir().join(format!("aiplatform-stack-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the stack directory");
        let recorder = Recorder::start();
        let cluster = Cluster::primary(tag);

        let api_port = free_port();
        let mut api = Command::new(workspace_binary("aiplatform-api"));
        api.args([
            "--listen",
            &format!("127.0.0.1:{api_port}"),
            "--log-format",
            "json",
            "--log-level",
            "warn",
            "--fault-injection",
        ]);
        let api = spawn(&dir, "api", api, api_port, "/health");
        let node = exporter(&dir, "node-exporter", "aiplatform-node-exporter", &[], &[]);
        let postgres = exporter(
            &dir,
            "postgres-exporter",
            "aiplatform-postgres-exporter",
            &[],
            &[(
                "DATA_SOURCE_NAME",
                "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable".to_owned(),
            )],
        );
        let postgres_throwaway = exporter(
            &dir,
            "postgres-exporter-throwaway",
            "aiplatform-postgres-exporter",
            &["--collector.stat_statements".to_owned()],
            &[("DATA_SOURCE_NAME", cluster.url("postgres"))],
        );
        let redis = exporter(
            &dir,
            "redis-exporter",
            "aiplatform-redis-exporter",
            &["--redis.addr=redis://127.0.0.1:6379".to_owned()],
            &[],
        );
        let pushgateway_port = free_port();
        let mut pushgateway = Command::new(require_command(
            "prometheus-pushgateway",
            "prometheus-pushgateway",
        ));
        pushgateway.arg(format!("--web.listen-address=127.0.0.1:{pushgateway_port}"));
        let pushgateway = spawn(
            &dir,
            "pushgateway",
            pushgateway,
            pushgateway_port,
            "/-/ready",
        );

        let shipped =
            std::fs::read_to_string(alertmanager::config_path()).expect("reading alertmanager.yml");
        let am_config = alertmanager::for_localhost(&shipped, recorder.base_url(), "1s")
            .expect("rewriting alertmanager.yml");
        let am_dir = dir.join("alertmanager");
        std::fs::create_dir_all(&am_dir).unwrap();
        let alertmanager = Alertmanager::start(&am_config, &am_dir);

        let prometheus_port = free_port();
        let target = |address: String, instance: &str| LocalTarget {
            address,
            instance: instance.to_owned(),
        };
        let targets = BTreeMap::from([
            (
                "localhost:9090".to_owned(),
                vec![target(
                    format!("127.0.0.1:{prometheus_port}"),
                    "localhost:9090",
                )],
            ),
            (
                "api:8000".to_owned(),
                vec![target(api.address(), "api:8000")],
            ),
            (
                "postgres-exporter:9187".to_owned(),
                vec![
                    target(postgres.address(), "postgres-exporter:9187"),
                    target(postgres_throwaway.address(), THROWAWAY_POSTGRES_INSTANCE),
                ],
            ),
            (
                "redis-exporter:9121".to_owned(),
                vec![target(redis.address(), "redis-exporter:9121")],
            ),
            (
                "node-exporter:9100".to_owned(),
                vec![target(node.address(), "node-exporter:9100")],
            ),
            (
                "alertmanager:9093".to_owned(),
                vec![target(
                    alertmanager.url.trim_start_matches("http://").to_owned(),
                    "alertmanager:9093",
                )],
            ),
            (
                "pushgateway:9091".to_owned(),
                vec![target(pushgateway.address(), "pushgateway:9091")],
            ),
        ]);
        let local = std::fs::read_to_string(prometheus_config::local_path())
            .expect("reading prometheus.local.yml");
        let config = prometheus_config::for_localhost(&local, &targets, &["grafana"], "1s")
            .expect("pointing prometheus.local.yml at this machine");
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        copy_rules(&dir.join("rules"), shorten_for);
        // Re-send firing alerts every second rather than every minute.
        let prometheus =
            start_prometheus(&dir, prometheus_port, &["--rules.alert.resend-delay=1s"]);

        Stack {
            dir,
            recorder,
            prometheus,
            alertmanager,
            pushgateway,
            api,
            node,
            postgres,
            postgres_throwaway,
            redis,
            cluster,
        }
    }

    /// Waits until Prometheus has scraped every target successfully; returns them.
    pub fn wait_targets_up(&self, limit: Duration) -> Vec<Value> {
        wait_for(limit, "every target to be up", || {
            let text = http_get(&format!(
                "{}/api/v1/targets?state=active",
                self.prometheus.url
            ))?;
            let body: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            let targets = body["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let down: Vec<String> = targets
                .iter()
                .filter(|t| t["health"] != "up")
                .map(|t| {
                    format!(
                        "{} {} ({})",
                        t["labels"]["job"], t["labels"]["instance"], t["lastError"]
                    )
                })
                .collect();
            if targets.is_empty() || !down.is_empty() {
                return Err(format!("not up: {down:?}"));
            }
            Ok(targets)
        })
    }

    /// Runs an instant query; the result vector (an error for a failed query).
    pub fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let response = crate::process::client()
            .get(format!("{}/api/v1/query", self.prometheus.url))
            .query(&[("query", expr)])
            .send()
            .map_err(|e| format!("{expr}: {e}"))?;
        let body: Value = response.json().map_err(|e| format!("{expr}: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("{expr}: {}", body["error"]));
        }
        match &body["data"]["result"] {
            Value::Array(items) => Ok(items.clone()),
            // A scalar or string result is one value.
            other => Ok(vec![other.clone()]),
        }
    }

    /// The values of `label` on the series `selector` selects, sorted (Grafana's
    /// `label_values(selector, label)`).
    pub fn label_values(&self, selector: &str, label: &str) -> Result<Vec<String>, String> {
        let response = crate::process::client()
            .get(format!(
                "{}/api/v1/label/{label}/values",
                self.prometheus.url
            ))
            .query(&[("match[]", selector)])
            .send()
            .map_err(|e| format!("{selector}: {e}"))?;
        let body: Value = response.json().map_err(|e| format!("{selector}: {e}"))?;
        Ok(body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect())
    }

    /// The series Prometheus has stored from the targets of `job`: metric name to label
    /// names (target labels included). What rules and dashboards can read, as the real
    /// scrape produced it (format negotiation and all), not as a `curl` of `/metrics` shows.
    pub fn stored_series(&self, job: &str) -> Result<SeriesNames, String> {
        let selector = format!("{{job={job:?}}}");
        let response = crate::process::client()
            .get(format!("{}/api/v1/series", self.prometheus.url))
            .query(&[("match[]", selector.as_str())])
            .send()
            .map_err(|e| format!("{selector}: {e}"))?;
        let body: Value = response.json().map_err(|e| format!("{selector}: {e}"))?;
        let mut names = SeriesNames::new();
        for series in body["data"].as_array().into_iter().flatten() {
            let Some(labels) = series.as_object() else {
                continue;
            };
            let Some(name) = labels.get("__name__").and_then(Value::as_str) else {
                continue;
            };
            names
                .entry(name.to_owned())
                .or_default()
                .extend(labels.keys().filter(|k| *k != "__name__").cloned());
        }
        Ok(names)
    }

    /// Sends a mix of requests to the API: every route, successes, 404, 422 and, with
    /// `error_ratio` above 0, that share of injected 503s on `/api/v1/*`.
    pub fn api_traffic(&self, requests: usize, error_ratio: f64) {
        let client = crate::process::client();
        let base = &self.api.url;
        let status = client
            .put(format!("{base}/admin/faults"))
            .json(&serde_json::json!({ "error_ratio": error_ratio }))
            .send()
            .expect("setting the API's fault ratio")
            .status();
        assert!(status.is_success(), "PUT /admin/faults: {status}");
        for i in 0..requests {
            let (path, body) = match i % 8 {
                0 => ("/api/v1/training/rounds", serde_json::json!({"clients": 5})),
                1 => ("/api/v1/optimize", serde_json::json!({"problem_size": 2})),
                2 => ("/api/v1/predict", serde_json::json!({"features": []})),
                3 => (
                    "/api/v1/predict",
                    serde_json::json!({"model": "nope", "features": [1.0]}),
                ),
                4 => (
                    "/api/v1/predict",
                    serde_json::json!({"model": "fraud", "features": [0.5], "label": 1}),
                ),
                _ => (
                    "/api/v1/predict",
                    serde_json::json!({"features": [1.0, 2.0], "label": 1}),
                ),
            };
            client
                .post(format!("{base}{path}"))
                .json(&body)
                .send()
                .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.api.process.log_tail()));
        }
        let _ = http_get(&format!("{base}/health"));
    }

    /// Hits and misses on the machine's Redis (keys under a prefix of this test, deleted).
    pub fn redis_traffic(&self) {
        let key = format!("aiplatform-monitoring-test:{}", std::process::id());
        redis(&["SET", &key, "1"]);
        for _ in 0..5 {
            redis(&["GET", &key]);
            redis(&["GET", &format!("{key}:missing")]);
        }
        redis(&["DEL", &key]);
    }
}

/// Sends one command to the Redis at 127.0.0.1:6379 and returns its raw reply.
pub fn redis(args: &[&str]) -> String {
    let mut stream = TcpStream::connect("127.0.0.1:6379").expect("connecting to Redis on 6379");
    let mut request = format!("*{}\r\n", args.len());
    for a in args {
        request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream
        .write_all(request.as_bytes())
        .expect("writing to Redis");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("setting a timeout");
    let mut reply = [0u8; 512];
    let n = stream.read(&mut reply).expect("reading Redis' reply");
    String::from_utf8_lossy(&reply[..n]).into_owned()
}

/// Copies the rule files to `dir`, with every `for:` set to `shorten_for` when given.
fn copy_rules(dir: &Path, shorten_for: Option<&str>) {
    std::fs::create_dir_all(dir).expect("creating the rules directory");
    for (path, _) in crate::rules::rule_files() {
        let mut file: serde_norway::Value = crate::rules::read_yaml(&path);
        if let Some(duration) = shorten_for {
            for group in file["groups"].as_sequence_mut().into_iter().flatten() {
                for rule in group["rules"].as_sequence_mut().into_iter().flatten() {
                    if let Some(map) = rule.as_mapping_mut()
                        && map.contains_key("for")
                    {
                        map.insert("for".into(), duration.into());
                    }
                }
            }
        }
        let text = serde_norway::to_string(&file).expect("writing YAML");
        std::fs::write(dir.join(path.file_name().unwrap()), text).expect("writing a rule file");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Stop everything before the directory goes: it holds their data and logs (kept
        // when the test failed).
        for component in [
            &mut self.prometheus,
            &mut self.pushgateway,
            &mut self.api,
            &mut self.node,
            &mut self.postgres,
            &mut self.postgres_throwaway,
            &mut self.redis,
        ] {
            component.process.kill();
        }
        self.alertmanager.process.kill();
        self.cluster.halt();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("stack logs kept in {}", self.dir.display());
        }
    }
}
