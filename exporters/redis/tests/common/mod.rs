//! Test harness: real `redis-server` processes on free ports in temp dirs, the exporter
//! binary, a minimal HTTP client and an exposition parser.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const EXPORTER: &str = env!("CARGO_BIN_EXE_aiplatform-redis-exporter");
pub const MASTER_PASSWORD: &str = "m4ster-Secret-7f3a";
pub const ACL_USER: &str = "metrics";
pub const ACL_PASSWORD: &str = "acl-Secret-91bd";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "aiplatform-redis-test-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn require(bin: &str, hint: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(bin);
        if p.is_file() {
            return p;
        }
    }
    panic!("{bin} is not installed: {hint}");
}

pub fn redis_server_bin() -> PathBuf {
    require(
        "redis-server",
        "run scripts/test.sh (scripts/lib/deps.sh installs redis-server)",
    )
}

/// A `redis-server` this test started; killed on drop.
pub struct RedisServer {
    pub port: u16,
    pub dir: PathBuf,
    pub password: Option<String>,
    config: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server with these extra config lines (`--save ""`, no AOF, own dir).
    pub fn start(tag: &str, extra: &[String], password: Option<&str>) -> RedisServer {
        let dir = temp_dir(tag);
        let port = free_port();
        let mut conf = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsave \"\"\nappendonly no\nlogfile {}/redis.log\ndaemonize no\n",
            dir.display(),
            dir.display()
        );
        if let Some(pw) = password {
            conf.push_str(&format!("requirepass {pw}\n"));
        }
        for line in extra {
            conf.push_str(line);
            conf.push('\n');
        }
        let config = dir.join("redis.conf");
        std::fs::write(&config, conf).unwrap();
        let mut s = RedisServer {
            port,
            dir,
            password: password.map(str::to_owned),
            config,
            child: None,
        };
        s.spawn();
        s
    }

    /// A master with a password and an ACL user.
    pub fn master() -> RedisServer {
        RedisServer::start(
            "master",
            &[format!("user {ACL_USER} on >{ACL_PASSWORD} ~* &* +@all")],
            Some(MASTER_PASSWORD),
        )
    }

    /// A replica of `master`.
    pub fn replica_of(master: &RedisServer) -> RedisServer {
        let mut extra = vec![format!("replicaof 127.0.0.1 {}", master.port)];
        if let Some(pw) = &master.password {
            extra.push(format!("masterauth {pw}"));
        }
        RedisServer::start("replica", &extra, None)
    }

    /// A server with `CONFIG` renamed away.
    pub fn config_renamed() -> RedisServer {
        RedisServer::start("noconfig", &["rename-command CONFIG \"\"".to_owned()], None)
    }

    fn spawn(&mut self) {
        let child = Command::new(redis_server_bin())
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = self.try_cmd(&["PING"])
                && (r.contains("PONG") || r.starts_with('-'))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs one command (authenticated as the default user) and returns the raw reply.
    pub fn try_cmd(&self, args: &[&str]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut wire = Vec::new();
        let mut push = |args: &[&str]| {
            wire.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in args {
                wire.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        };
        let authed = self.password.is_some();
        if let Some(pw) = &self.password {
            push(&["AUTH", pw]);
        }
        push(args);
        push(&["QUIT"]);
        s.write_all(&wire)?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        if authed {
            // Drop the +OK of AUTH.
            if let Some(rest) = out.strip_prefix("+OK\r\n") {
                out = rest.to_owned();
            }
        }
        Ok(out.trim_end_matches("+OK\r\n").to_owned())
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        self.try_cmd(args).expect("redis command")
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn wait_until(&self, what: &str, f: impl Fn(&RedisServer) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !f(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An exporter process this test started; killed on drop. Its stderr and stdout go to a file.
pub struct Exporter {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

impl Exporter {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        Exporter::start_bin(Path::new(EXPORTER), true, args, env)
    }

    /// Starts `bin` (ours, or Debian's Go exporter) listening on a free port.
    pub fn start_bin(bin: &Path, ours: bool, args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let port = free_port();
        let log = temp_dir("exporter-log").join("exporter.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("-web.listen-address=127.0.0.1:{port}"));
        cmd.args(args);
        for var in [
            "REDIS_ADDR",
            "REDIS_USER",
            "REDIS_PASSWORD",
            "REDIS_PASSWORD_FILE",
            "REDIS_EXPORTER_WEB_LISTEN_ADDRESS",
            "REDIS_EXPORTER_NAMESPACE",
            "REDIS_EXPORTER_DEBUG",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        let _ = ours;
        let child = cmd
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start exporter");
        let e = Exporter { port, log, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "exporter did not listen; log:\n{}",
                e.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        e
    }

    pub fn get(&self, path: &str) -> Response {
        http_get(self.port, path, &[])
    }

    pub fn metrics(&self) -> Metrics {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.body);
        Metrics::parse(&r.body)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.log.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Response {
        status,
        headers: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A family from the text exposition: type, HELP, label names, samples.
#[derive(Debug, Clone, Default)]
pub struct Family {
    pub kind: String,
    pub help: String,
    pub labels: BTreeSet<String>,
    pub samples: Vec<(BTreeMap<String, String>, f64)>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub families: BTreeMap<String, Family>,
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches(',').trim().to_owned();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = 0;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = eq + 2 + i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(name, value);
        rest = &rest[end..];
    }
    out
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut m = Metrics::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                m.families.entry(name.to_owned()).or_default().kind = kind.to_owned();
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                m.families.entry(name.to_owned()).or_default().help = help.to_owned();
            } else if !line.starts_with('#') && !line.is_empty() {
                let (series, value) = match line.rfind('}') {
                    Some(i) => (&line[..=i], line[i + 1..].trim()),
                    None => line.split_once(' ').unwrap(),
                };
                let (name, labels) = match series.find('{') {
                    Some(i) => (&series[..i], parse_labels(&series[i + 1..series.len() - 1])),
                    None => (series, BTreeMap::new()),
                };
                let value: f64 = match value.split_whitespace().next().unwrap_or("") {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    v => v.parse().unwrap_or(f64::NAN),
                };
                let family = [
                    name,
                    name.trim_end_matches("_sum"),
                    name.trim_end_matches("_count"),
                    name.trim_end_matches("_bucket"),
                ]
                .into_iter()
                .find(|n| m.families.contains_key(*n))
                .unwrap_or(name)
                .to_owned();
                let f = m.families.entry(family).or_default();
                for k in labels.keys() {
                    if k != "quantile" && k != "le" {
                        f.labels.insert(k.clone());
                    }
                }
                if (name.ends_with("_sum") || name.ends_with("_count")) && f.kind == "summary" {
                    continue;
                }
                f.samples.push((labels, value));
            }
        }
        m
    }

    pub fn family(&self, name: &str) -> &Family {
        self.families.get(name).unwrap_or_else(|| {
            panic!(
                "no family {name}; have {:?}",
                self.families.keys().collect::<Vec<_>>()
            )
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.families.contains_key(name)
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let f = self.family(name);
        let found: Vec<f64> = f
            .samples
            .iter()
            .filter(|(l, _)| {
                labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(found.len(), 1, "{name}{labels:?}: {:?}", f.samples);
        found[0]
    }

    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.family(name)
            .samples
            .iter()
            .filter_map(|(l, _)| l.get(label).cloned())
            .collect()
    }
}

/// Polls `f` until it returns true or `secs` pass.
pub fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
