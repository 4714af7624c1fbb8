//! Helpers shared by the integration tests: fixture paths, a deterministic statfs, running
//! the collectors in process, spawning the binary and speaking HTTP/1.1 to it.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiplatform_metrics::{Format, Registry};
use aiplatform_node_exporter::collectors::collector_set;
use aiplatform_node_exporter::collectors::statfs::{FsStats, StatFs};
use aiplatform_node_exporter::compat::Compat;
use aiplatform_node_exporter::config::NodeConfig;
use aiplatform_node_exporter::paths::Paths;
use aiplatform_prometheus::{Exposition, ScrapeOptions};

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Paths into the fixture tree.
pub fn fixture_paths() -> Paths {
    Paths::new(
        fixture("proc"),
        fixture("sys"),
        fixture("rootfs"),
        fixture("udev"),
    )
}

/// A statfs with numbers derived from the mount point (the path below the fixture rootfs, so
/// the figures do not depend on where the checkout lives); `/srv/with space` answers EACCES.
#[derive(Debug)]
pub struct FakeStatFs;

impl StatFs for FakeStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsStats> {
        let root = fixture("rootfs");
        let p = path.strip_prefix(&root).unwrap_or(path).to_string_lossy();
        if p.ends_with("/srv/with space") {
            return Err(io::Error::from_raw_os_error(libc_eacces()));
        }
        let n = p.len() as u64;
        Ok(FsStats {
            blocks: 1000 * n,
            bfree: 400 * n,
            bavail: 300 * n,
            files: 5000 + n,
            ffree: 4000 + n,
            bsize: 4096,
        })
    }
}

fn libc_eacces() -> i32 {
    13
}

/// The fixture configuration for a profile: netdev from `/proc/net/dev`, fake statfs, the
/// fixture textfile directory.
pub fn fixture_config(compat: Compat) -> NodeConfig {
    let mut cfg = NodeConfig::defaults(fixture_paths(), compat);
    cfg.netdev_netlink = false;
    cfg.filesystem.statfs = Arc::new(FakeStatFs);
    cfg.textfile_directory = Some(fixture("textfile"));
    cfg.stat_softirq = true;
    cfg
}

/// Runs every collector once in process and returns the text exposition.
pub fn scrape_in_process(cfg: &NodeConfig) -> String {
    let set = collector_set(cfg, None).expect("collectors register");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let families = rt.block_on(set.scrape(ScrapeOptions::default()));
    let exposition = Exposition::new(Registry::new());
    let mut out = Vec::new();
    exposition.encode_into(Format::Text, families, &mut out);
    String::from_utf8(out).expect("UTF-8 exposition")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running exporter, killed on drop.
pub struct Running {
    pub child: Child,
    pub port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program` with `args` plus a free `--web.listen-address`, and waits until it answers.
pub fn start(program: &str, args: &[String]) -> Running {
    let port = free_port();
    let child = Command::new(program)
        .args(args)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"));
    let mut running = Running { child, port };
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Some(status) = running.child.try_wait().unwrap() {
            panic!("{program} exited early: {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return running;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = running.child.kill();
    panic!("{program} did not listen on {port}");
}

/// Our binary.
pub fn ours() -> &'static str {
    env!("CARGO_BIN_EXE_aiplatform-node-exporter")
}

/// An HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with `Connection: close`.
pub fn get(port: u16, path: &str) -> HttpResponse {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body = if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// A scalar sample: family name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// The scalar samples of an exposition.
pub fn samples(body: &str) -> Vec<Sample> {
    let families =
        aiplatform_node_exporter::textformat::parse_text(body).expect("valid exposition");
    let mut out = Vec::new();
    for f in families {
        for s in f.series {
            if let aiplatform_node_exporter::textformat::TextValue::Scalar(v) = s.value {
                out.push((f.name.clone(), s.labels, v));
            }
        }
    }
    out
}
