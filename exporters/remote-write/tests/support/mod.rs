//! Real receivers (Debian's `prometheus`, `victoria-metrics` and `prometheus-pushgateway`),
//! started on loopback, and the registry's own exposition as the expected values. Shared by
//! the remote-write and Pushgateway tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

pub use aiplatform_testkit::free_port;
use aiplatform_testkit::{Process, Scrape, TempDir, eventually, host, poll};

use aiplatform_metrics::{ExpositionFormat, Registry};

/// A receiver process, killed (and its data removed) on drop.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    _process: Process,
    _dir: TempDir,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Starts `cmd` (which listens on `port`), then waits until `ready` answers 2xx.
fn start(name: &'static str, cmd: Command, port: u16, dir: TempDir, ready: &str) -> Server {
    let process = Process::listening(name, cmd, port);
    let server = Server {
        name,
        port,
        _process: process,
        _dir: dir,
    };
    let url = server.url(ready);
    eventually(
        Duration::from_secs(60),
        &format!("{name} ready at {url}"),
        || reqwest::blocking::get(&url).is_ok_and(|r| r.status().is_success()),
    );
    server
}

/// Prometheus with its remote-write receiver on, and `scrape` (YAML `scrape_configs` entries)
/// to scrape.
pub fn prometheus(scrape: &str) -> Server {
    let dir = TempDir::new("prometheus");
    let config = dir.write(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{scrape}\n"
        ),
    );
    let port = free_port();
    let mut cmd = Command::new(host::command("prometheus", "prometheus"));
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--log.level=warn");
    start("prometheus", cmd, port, dir, "/-/ready")
}

/// VictoriaMetrics, queryable as soon as data arrives.
pub fn victoria_metrics() -> Server {
    let dir = TempDir::new("victoria-metrics");
    let port = free_port();
    let mut cmd = Command::new(host::command("victoria-metrics", "victoria-metrics"));
    cmd.arg(format!("-storageDataPath={}", dir.path().display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache")
        .arg("-loggerLevel=ERROR");
    start("victoria-metrics", cmd, port, dir, "/health")
}

/// The Pushgateway.
pub fn pushgateway() -> Server {
    let dir = TempDir::new("pushgateway");
    let port = free_port();
    let mut cmd = Command::new(host::command(
        "prometheus-pushgateway",
        "prometheus-pushgateway",
    ));
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .current_dir(dir.path());
    start("pushgateway", cmd, port, dir, "/-/ready")
}

/// The series of a text exposition served at `url`, whose names start with `prefix`.
pub fn scrape(url: &str, prefix: &str) -> Series {
    let text = reqwest::blocking::get(url).unwrap().text().unwrap();
    parse_exposition(&text, prefix, &[])
}

/// `labels -> value` of every series an instant query returns.
pub type Series = BTreeMap<BTreeMap<String, String>, f64>;

pub fn query(server: &Server, promql: &str) -> Series {
    let resp: serde_json::Value = reqwest::blocking::Client::new()
        .get(server.url("/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(resp["status"], "success", "{resp}");
    resp["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let v: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
            (labels, v)
        })
        .collect()
}

/// Polls `query` until it returns `want` (or times out, showing both).
pub fn wait_for(server: &Server, promql: &str, want: &Series) {
    let mut got = Series::new();
    if poll(Duration::from_secs(30), || {
        got = query(server, promql);
        &got == want
    }) {
        return;
    }
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(k, v)| want.get(*k) != Some(v))
        .collect();
    panic!(
        "{} never returned the registry's values for {promql}\nmissing or different: {missing:#?}\nunexpected: {extra:#?}",
        server.name
    );
}

/// The registry's series as a text 0.0.4 scrape shows them, whose names start with `prefix`,
/// with `extra` labels added where absent; empty label values dropped (as Prometheus does).
pub fn exposition(registry: &Registry, prefix: &str, extra: &[(&str, &str)]) -> Series {
    let text = String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap();
    parse_exposition(&text, prefix, extra)
}

/// The samples of a text 0.0.4 exposition whose names start with `prefix`, read with the
/// test kit's [`Scrape`], each keyed by its labels with `__name__`.
pub fn parse_exposition(text: &str, prefix: &str, extra: &[(&str, &str)]) -> Series {
    let mut out = Series::new();
    for (name, mut labels, value) in Scrape::parse(text).samples() {
        if !name.starts_with(prefix) {
            continue;
        }
        labels.insert("__name__".to_owned(), name);
        for (k, v) in extra {
            labels
                .entry((*k).to_owned())
                .or_insert_with(|| (*v).to_owned());
        }
        labels.retain(|_, v| !v.is_empty());
        out.insert(labels, value);
    }
    out
}
