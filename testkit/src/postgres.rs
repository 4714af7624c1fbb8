//! A throwaway PostgreSQL cluster: `initdb` + `pg_ctl` in a temporary directory, listening
//! on a free 127.0.0.1 port, with `pg_stat_statements` loaded and durability off. A test may
//! stop and start it, make a streaming replica of it, and run SQL with `psql`.
//!
//! PostgreSQL refuses to run as root: when the tests run as root (CI does), the server
//! commands run as the `postgres` OS user through `runuser`, in a directory it owns.
//! A cluster is stopped (`pg_ctl stop -m immediate`) and removed when dropped; one kept in a
//! `static` (never dropped) is cleaned up at process exit with [`Cluster::stop_at_exit`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::temp::TempDir;
use crate::{free_port, host};

/// Client authentication of every cluster: trust on 127.0.0.1 and the local socket,
/// replication allowed. Lines given to [`Cluster::with_hba`] come before these.
const HBA: &str = "host all all 127.0.0.1/32 trust\n\
                   host replication all 127.0.0.1/32 trust\n\
                   local all all trust\n";

/// Settings appended to `postgresql.conf`: pg_stat_statements, no durability (a test's data
/// is thrown away), and what a streaming replica needs.
const CONF: &str = "shared_preload_libraries = 'pg_stat_statements'\n\
                    fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
                    wal_level = replica\nmax_wal_senders = 5\nmax_replication_slots = 5\n\
                    hot_standby = on\nmax_connections = 50\n\
                    password_encryption = 'scram-sha-256'\n";

/// A PostgreSQL server of the test's own, stopped and deleted when dropped.
///
/// ```
/// use aiplatform_testkit::postgres::Cluster;
///
/// let db = Cluster::primary("example");
/// assert_eq!(db.psql("postgres", "SELECT 1 + 1"), "2");
/// db.stop();
/// db.start();
/// assert!(db.url("postgres").contains(&db.port.to_string()));
/// ```
#[derive(Debug)]
pub struct Cluster {
    dir: TempDir,
    data: PathBuf,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
    })
}

/// A PostgreSQL server tool, run as the `postgres` user when we are root.
fn pg_command(tool: &str) -> Command {
    let bin = host::postgres_tool(tool);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
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

/// A temporary directory the server may write to (owned by `postgres` when we are root).
fn cluster_dir(tag: &str) -> TempDir {
    let dir = TempDir::new(&format!("pg-{tag}"));
    if is_root() {
        let mut c = Command::new("chown");
        c.arg("postgres:postgres").arg(dir.path());
        run(c, "chown of the cluster directory");
    }
    dir
}

/// Appends `text` to `path` (keeps the file's owner, so this works as root too).
fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .unwrap_or_else(|e| panic!("appending to {}: {e}", path.display()));
}

fn psql_command(port: u16, db: &str) -> Command {
    let mut c = Command::new(host::command("psql", "postgresql-client"));
    c.args(["-h", "127.0.0.1", "-p", &port.to_string()]).args([
        "-U",
        "postgres",
        "-d",
        db,
        "-v",
        "ON_ERROR_STOP=1",
    ]);
    c
}

impl Cluster {
    /// A new primary, started: trust for connections over 127.0.0.1, replication allowed,
    /// `pg_stat_statements` preloaded and created in database `postgres`.
    pub fn primary(tag: &str) -> Cluster {
        Cluster::with_hba(tag, &[])
    }

    /// [`Cluster::primary`] with `hba` lines (`pg_hba.conf` entries, such as a role that
    /// must give a password) taking precedence over its trust rules.
    pub fn with_hba(tag: &str, hba: &[&str]) -> Cluster {
        let dir = cluster_dir(tag);
        let data = dir.join("data");
        let mut c = pg_command("initdb");
        c.arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"]);
        run(c, "initdb");
        let mut rules: String = hba.iter().map(|l| format!("{l}\n")).collect();
        rules.push_str(HBA);
        // Truncating keeps the file's owner as well.
        std::fs::write(data.join("pg_hba.conf"), rules).expect("writing pg_hba.conf");
        append(&data.join("postgresql.conf"), CONF);
        let cluster = Cluster {
            dir,
            data,
            port: free_port(),
        };
        cluster.start();
        cluster.psql("postgres", "CREATE EXTENSION pg_stat_statements");
        cluster
    }

    /// A streaming replica of `primary` made with `pg_basebackup` through the physical slot
    /// `replica_slot`, connecting with `application_name=replica1`; started.
    pub fn replica_of(primary: &Cluster, tag: &str) -> Cluster {
        primary.psql(
            "postgres",
            "SELECT pg_create_physical_replication_slot('replica_slot')",
        );
        let dir = cluster_dir(tag);
        let data = dir.join("data");
        let mut c = pg_command("pg_basebackup");
        c.args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
            .args(["-U", "postgres", "-D"])
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast", "-S", "replica_slot"]);
        run(c, "pg_basebackup");
        // The conninfo `-R` writes has no application_name: name the replica.
        append(
            &data.join("postgresql.auto.conf"),
            &format!(
                "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name=replica1'\n",
                primary.port
            ),
        );
        let cluster = Cluster {
            dir,
            data,
            port: free_port(),
        };
        cluster.start();
        cluster
    }

    /// Starts the server (again, after [`Cluster::stop`]); returns once it accepts
    /// connections.
    pub fn start(&self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.path().display()
            ))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]);
        run(c, "pg_ctl start");
    }

    /// Stops the server (fast shutdown: sessions are cut).
    pub fn stop(&self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]);
        run(c, "pg_ctl stop");
    }

    /// Stops the server at once if it runs (immediate shutdown), ignoring errors.
    pub fn halt(&self) {
        halt(&self.data);
    }

    /// `postgresql://postgres@127.0.0.1:PORT/DB?sslmode=disable`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Runs `sql` in database `db` with psql over TCP as `postgres`; returns its output
    /// (unaligned, tuples only), trimmed. Panics when psql fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut c = psql_command(self.port, db);
        c.args(["-Atqc", sql]);
        String::from_utf8_lossy(&run(c, &format!("psql {sql}")).stdout)
            .trim()
            .to_owned()
    }

    /// A psql session reading SQL from its stdin (to hold a transaction or a lock open).
    pub fn psql_session(&self, db: &str) -> Child {
        psql_command(self.port, db)
            .arg("-Aqt")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting psql")
    }

    /// Stops the server and removes its files when the test process exits: for a cluster
    /// kept in a `static`, which is never dropped.
    pub fn stop_at_exit(&self) {
        let mut list = AT_EXIT.lock().unwrap_or_else(|e| e.into_inner());
        if list.is_empty() {
            // SAFETY: registers a plain `extern "C" fn()` that takes no arguments.
            unsafe {
                atexit(cleanup_at_exit);
            }
        }
        list.push((self.data.clone(), self.dir.path().to_owned()));
    }
}

fn halt(data: &Path) {
    let _ = pg_command("pg_ctl")
        .arg("-D")
        .arg(data)
        .args(["-m", "immediate", "stop"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.halt();
        // The TempDir removes the files.
    }
}

/// `(data directory, cluster directory)` of the clusters to clean up at exit.
static AT_EXIT: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

unsafe extern "C" {
    fn atexit(f: extern "C" fn()) -> i32;
}

extern "C" fn cleanup_at_exit() {
    if let Ok(list) = AT_EXIT.lock() {
        for (data, dir) in list.iter() {
            halt(data);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
