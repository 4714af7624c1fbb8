//! Real receivers (Debian's `prometheus`, `victoria-metrics` and `prometheus-pushgateway`),
//! started on loopback, and the registry's own exposition as the expected values. Shared by
//! the remote-write and Pushgateway tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aiplatform_metrics::{Format, Registry};

/// A receiver process, killed (and its data removed) on drop.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary(name: &str, package: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{name} is not installed: the end-to-end tests need Debian's {package} (scripts/test.sh installs it through scripts/lib/deps.sh)"
    );
    path
}

fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "aiplatform-{what}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_ready(server: &mut Server, path: &str) {
    let url = server.url(path);
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::blocking::get(&url)
            && r.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{} exited at start: {status}", server.name);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} not ready at {url}",
            server.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prometheus with its remote-write receiver on, and `scrape` (YAML `scrape_configs` entries)
/// to scrape.
pub fn prometheus(scrape: &str) -> Server {
    let bin = binary("prometheus", "prometheus");
    let dir = temp_dir("prometheus");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{scrape}\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut s = Server {
        name: "prometheus",
        port,
        child,
        dir,
    };
    wait_ready(&mut s, "/-/ready");
    s
}

/// VictoriaMetrics, queryable as soon as data arrives.
pub fn victoria_metrics() -> Server {
    let bin = binary("victoria-metrics", "victoria-metrics");
    let dir = temp_dir("victoria-metrics");
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache")
        .arg("-loggerLevel=ERROR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut s = Server {
        name: "victoria-metrics",
        port,
        child,
        dir,
    };
    wait_ready(&mut s, "/health");
    s
}

/// The Pushgateway.
pub fn pushgateway() -> Server {
    let bin = binary("prometheus-pushgateway", "prometheus-pushgateway");
    let dir = temp_dir("pushgateway");
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut s = Server {
        name: "pushgateway",
        port,
        child,
        dir,
    };
    wait_ready(&mut s, "/-/ready");
    s
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
    let started = Instant::now();
    loop {
        let got = query(server, promql);
        if &got == want {
            return;
        }
        if started.elapsed() > Duration::from_secs(30) {
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
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The registry's series as a text 0.0.4 scrape shows them, whose names start with `prefix`,
/// with `extra` labels added where absent; empty label values dropped (as Prometheus does).
pub fn exposition(registry: &Registry, prefix: &str, extra: &[(&str, &str)]) -> Series {
    let text = String::from_utf8(registry.encode(Format::Text)).unwrap();
    parse_exposition(&text, prefix, extra)
}

/// Parses the sample lines of a text 0.0.4 exposition whose names start with `prefix`.
pub fn parse_exposition(text: &str, prefix: &str, extra: &[(&str, &str)]) -> Series {
    let mut out = Series::new();
    for line in text.lines() {
        if line.starts_with('#') || !line.starts_with(prefix) {
            continue;
        }
        let (mut labels, value) = parse_line(line);
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

/// `name{a="x",b="y"} value` → labels with `__name__`, and the value.
fn parse_line(line: &str) -> (BTreeMap<String, String>, f64) {
    let mut labels = BTreeMap::new();
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => panic!("bad line {line}"),
    };
    labels.insert("__name__".to_owned(), name.to_owned());
    let mut rest = rest;
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut key = String::new();
        loop {
            let Some((i, c)) = chars.next() else {
                panic!("unterminated {line}")
            };
            match c {
                '}' => {
                    rest = &body[i + 1..];
                    break;
                }
                ',' => {}
                '=' => {
                    assert_eq!(chars.next().map(|x| x.1), Some('"'));
                    let mut value = String::new();
                    loop {
                        let (_, c) = chars.next().unwrap();
                        match c {
                            '\\' => match chars.next().unwrap().1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            '"' => break,
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
    }
    let value = rest.split_whitespace().next().unwrap();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap(),
    };
    (labels, value)
}
