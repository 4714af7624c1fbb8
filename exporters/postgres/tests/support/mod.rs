//! What the PostgreSQL exporter's integration tests share: throwaway PostgreSQL clusters
//! (`initdb` + `pg_ctl` on free ports in temporary directories), and our exporter (or
//! Debian's Go one) started with nothing but the environment a test gives it.
//!
//! Tests may run as root (CI does): PostgreSQL refuses to run as root, so the cluster
//! commands then run as the `postgres` OS user through `runuser`, in a directory owned by it.
//! Clusters are stopped (`pg_ctl stop -m immediate`) and removed when dropped, and at process
//! exit for the shared ones ([`at_exit`]).

// Each test file uses part of this module.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;

use aiplatform_testkit::{Exporter, free_port, host};

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
    let bin = host::postgres_tool(tool);
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
        let mut c = Command::new(psql());
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
        Command::new(psql())
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

/// Our exporter with only `env` (and `PATH`) in its environment, and `args`.
pub fn exporter(env: &[(&str, &str)], args: &[&str]) -> Exporter {
    start(Path::new(exporter_bin()), env, args)
}

/// Debian's Go postgres_exporter, started the same way.
pub fn go_exporter(env: &[(&str, &str)], args: &[&str]) -> Exporter {
    start(&host::go_exporter("postgres"), env, args)
}

fn start(bin: &Path, env: &[(&str, &str)], args: &[&str]) -> Exporter {
    Exporter::start(bin, args, |cmd| {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied());
    })
}

/// The `psql` client.
fn psql() -> PathBuf {
    host::command("psql", "postgresql-client")
}
