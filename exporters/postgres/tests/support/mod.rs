//! Test harness: throwaway PostgreSQL clusters (`initdb` + `pg_ctl` on free ports in temp
//! dirs), the exporter binary on a free port, and a minimal HTTP client.
//!
//! Tests may run as root (CI does): PostgreSQL refuses to run as root, so the cluster
//! commands then run as the `postgres` OS user through `runuser`, in a directory owned by it.
//! Clusters are stopped (`pg_ctl stop -m immediate`) and removed when dropped, and at process
//! exit for the shared ones ([`at_exit`]).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where Debian keeps the PostgreSQL server binaries, one directory per major version.
const PG_LIB: &str = "/usr/lib/postgresql";

/// The server binaries of the newest installed PostgreSQL (the machine's cluster runs it).
fn pg_bin() -> std::path::PathBuf {
    let newest = std::fs::read_dir(PG_LIB)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(major) => Path::new(PG_LIB).join(major.to_string()).join("bin"),
        None => panic!(
            "no PostgreSQL server under {PG_LIB}: install postgresql (apt-get install postgresql)"
        ),
    }
}

/// A password the tests give the `secretuser` role (scram-sha-256 over TCP).
pub const SECRET_PASSWORD: &str = "Zq9-s3cr3t-XyZ";

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root.
fn pg_command(tool: &str) -> Command {
    let bin = pg_bin().join(tool);
    assert!(
        bin.exists(),
        "{} is missing: install the PostgreSQL server binaries (apt-get install postgresql)",
        bin.display()
    );
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&bin);
        c
    } else {
        Command::new(bin)
    }
}

fn run(mut c: Command, what: &str) -> Output {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL cluster of our own.
#[derive(Debug)]
pub struct Cluster {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub port: u16,
    stopped: bool,
}

static CLEANUP: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

extern "C" fn cleanup_at_exit() {
    if let Ok(list) = CLEANUP.lock() {
        for (data, dir) in list.iter() {
            let _ = pg_command("pg_ctl")
                .args(["-D"])
                .arg(data)
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

unsafe extern "C" {
    fn atexit(f: extern "C" fn()) -> i32;
}

/// Stops and removes `cluster`'s files when the test process exits (for clusters kept in a
/// static, which are never dropped).
pub fn at_exit(cluster: &Cluster) {
    let mut list = CLEANUP.lock().unwrap();
    if list.is_empty() {
        // SAFETY: registering a plain extern "C" function with no arguments.
        unsafe {
            atexit(cleanup_at_exit);
        }
    }
    list.push((cluster.data.clone(), cluster.dir.clone()));
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "aiplatform-pgexp-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(&dir);
                c
            },
            "chown",
        );
    }
    dir
}

impl Cluster {
    /// A new primary: trust for local connections, scram for `secretuser`, replication
    /// allowed, pg_stat_statements preloaded, fsync off.
    pub fn primary(tag: &str) -> Cluster {
        let dir = temp_dir(tag);
        let data = dir.join("data");
        let guard = DirGuard(Some(dir.clone()));
        let mut c = pg_command("initdb");
        c.arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"]);
        run(c, "initdb");
        guard.disarm();
        let hba = "host all secretuser 127.0.0.1/32 scram-sha-256\n\
                   host all all 127.0.0.1/32 trust\n\
                   host replication all 127.0.0.1/32 trust\n\
                   local all all trust\n";
        write_as_postgres(&data.join("pg_hba.conf"), hba);
        let conf = "shared_preload_libraries = 'pg_stat_statements'\n\
                    fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
                    wal_level = replica\nmax_wal_senders = 5\nmax_replication_slots = 5\n\
                    hot_standby = on\nmax_connections = 50\npassword_encryption = 'scram-sha-256'\n";
        append_as_postgres(&data.join("postgresql.conf"), conf);
        let mut cluster = Cluster {
            dir,
            data,
            port: free_port(),
            stopped: true,
        };
        cluster.start();
        cluster.psql("template1", "CREATE EXTENSION pg_stat_statements");
        cluster.psql(
            "postgres",
            &format!(
                "CREATE ROLE secretuser LOGIN SUPERUSER PASSWORD '{SECRET_PASSWORD}'; \
             CREATE EXTENSION pg_stat_statements;"
            ),
        );
        cluster
    }

    /// A streaming replica of `primary` made with `pg_basebackup`, using a physical slot.
    pub fn replica_of(primary: &Cluster, tag: &str) -> Cluster {
        primary.psql(
            "postgres",
            "SELECT pg_create_physical_replication_slot('replica_slot')",
        );
        let dir = temp_dir(tag);
        let data = dir.join("data");
        let guard = DirGuard(Some(dir.clone()));
        let mut c = pg_command("pg_basebackup");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &primary.port.to_string(),
            "-U",
            "postgres",
            "-D",
        ])
        .arg(&data)
        .args(["-R", "-X", "stream", "-c", "fast", "-S", "replica_slot"]);
        run(c, "pg_basebackup");
        guard.disarm();
        // The primary's conninfo from -R has no application_name: add it for the tests.
        append_as_postgres(
            &data.join("postgresql.auto.conf"),
            &format!(
                "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=replica1'\n",
                primary.port
            ),
        );
        let mut cluster = Cluster {
            dir,
            data,
            port: free_port(),
            stopped: true,
        };
        cluster.start();
        cluster
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&mut self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D").arg(&self.data).args([
            "-o",
            &format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.display()
            ),
            "-l",
        ]);
        c.arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]);
        run(c, "pg_ctl start");
        self.stopped = false;
    }

    /// Stops the server (fast shutdown: sessions are disconnected).
    pub fn stop(&mut self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]);
        run(c, "pg_ctl stop");
        self.stopped = true;
    }

    /// `postgresql://postgres@127.0.0.1:PORT/DB?sslmode=disable`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Runs SQL with psql (as the OS user running the tests, over TCP) and returns stdout.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut c = Command::new("psql");
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            db,
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-Atqc", sql]);
        String::from_utf8(run(c, &format!("psql {sql}")).stdout)
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Starts psql reading SQL from its stdin (for holding a lock open).
    pub fn psql_session(&self, db: &str) -> Child {
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-Aqt"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = pg_command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes a directory on drop (a setup step that panicked) unless disarmed.
struct DirGuard(Option<PathBuf>);

impl DirGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn write_as_postgres(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn append_as_postgres(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The exporter binary under test.
pub fn exporter_bin() -> &'static str {
    env!("CARGO_BIN_EXE_aiplatform-postgres-exporter")
}

/// A running exporter; killed when dropped. Its stdout and stderr go to files.
#[derive(Debug)]
pub struct Exporter {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Exporter {
    /// Starts the binary with `env` and `args` (plus a listen address) and waits for it.
    pub fn start(env: &[(&str, &str)], args: &[&str]) -> Exporter {
        Exporter::start_bin(exporter_bin(), env, args)
    }

    /// Starts any exporter binary that takes `--web.listen-address`.
    pub fn start_bin(bin: &str, env: &[(&str, &str)], args: &[&str]) -> Exporter {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("pgexp-log-{}-{port}", std::process::id()));
        let file = std::fs::File::create(&log).unwrap();
        let mut c = Command::new(bin);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.spawn().unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let mut e = Exporter { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = e.child.try_wait() {
                panic!("{bin} exited with {status}: {}", e.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{bin} did not listen: {}",
                e.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        e
    }

    /// What the process wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path`: (status, body). A failed exchange panics with what the exporter logged.
    pub fn get(&self, path: &str) -> (u16, String) {
        try_http_get(self.port, path, &[]).unwrap_or_else(|e| {
            panic!(
                "GET {path} from the exporter on port {}: {e}\nexporter log:\n{}",
                self.port,
                self.log_text()
            )
        })
    }

    /// GET `/metrics`, asserting 200.
    pub fn scrape(&self) -> Scrape {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        Scrape(body)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A one-shot HTTP/1.1 GET with `Connection: close`.
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    try_http_get(port, path, headers)
        .unwrap_or_else(|e| panic!("GET {path} from 127.0.0.1:{port}: {e}"))
}

/// [`http_get`], returning I/O errors.
pub fn try_http_get(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(90)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n.min(rest.len())]);
        body = rest.get(n + 2..).unwrap_or("");
    }
    out
}

/// A scrape's text, with lookups.
#[derive(Debug, Clone)]
pub struct Scrape(pub String);

impl Scrape {
    /// Sample lines (no comments).
    pub fn samples(&self) -> impl Iterator<Item = &str> {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
    }

    /// The value of the first sample line starting with `prefix`: a family name (then any
    /// labels), or a name with its first labels (`pg_up`, `x{a="b"}`, `x{a="b",`).
    pub fn value(&self, prefix: &str) -> Option<f64> {
        self.samples()
            .find(|l| {
                l.starts_with(prefix)
                    && (prefix.contains('{')
                        || matches!(l.as_bytes().get(prefix.len()), Some(b' ' | b'{')))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Sample lines of the family `name` (exact name, any labels).
    pub fn lines_of<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        self.samples()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .collect()
    }

    /// `(name, type)` of every `# TYPE` line.
    pub fn types(&self) -> Vec<(String, String)> {
        self.0
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .map(|(n, t)| (n.to_owned(), t.to_owned()))
            .collect()
    }
}

/// Waits until `f` holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
