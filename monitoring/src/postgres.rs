//! A throwaway PostgreSQL cluster (`initdb` + `pg_ctl` in a temporary directory, on a free
//! port) that a live test may stop and start, with `pg_stat_statements` loaded.
//!
//! PostgreSQL refuses to run as root: when the tests run as root (CI does), the cluster's
//! commands run as the `postgres` user through `runuser`, in a directory it owns.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::free_port;

/// A cluster of our own; stopped and deleted when dropped.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    data: PathBuf,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn pg_command(tool: &str) -> Command {
    let bin = aiplatform_testkit::host::postgres_tool(tool);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn run(mut command: Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Cluster {
    /// Creates and starts a cluster under `parent` (trust authentication on 127.0.0.1,
    /// `pg_stat_statements` preloaded and created in database `postgres`, durability off).
    pub fn start(parent: &Path) -> Cluster {
        let dir = parent.join(format!("pg-{}", free_port()));
        std::fs::create_dir_all(&dir).expect("creating the cluster directory");
        if is_root() {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(&dir);
            run(chown, "chown of the cluster directory");
        }
        let data = dir.join("data");
        let mut initdb = pg_command("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-N", "-E", "UTF8"]);
        run(initdb, "initdb");
        let conf = "shared_preload_libraries = 'pg_stat_statements'\n\
                    fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
        // Appending keeps the file's owner, so this works as root too.
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .expect("writing postgresql.conf");
        let cluster = Cluster {
            dir,
            data,
            port: free_port(),
        };
        cluster.resume();
        cluster.psql("CREATE EXTENSION pg_stat_statements");
        cluster
    }

    /// Starts the server again after [`Cluster::stop`]; returns once it accepts connections.
    pub fn resume(&self) {
        let mut c = pg_command("pg_ctl");
        c.arg("-D")
            .arg(&self.data)
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.display()
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

    /// `postgresql://postgres@127.0.0.1:PORT/postgres?sslmode=disable`.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Runs SQL in database `postgres` with psql over TCP; returns its output.
    pub fn psql(&self, sql: &str) -> String {
        let mut c = Command::new("psql");
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-Atqc",
                sql,
            ]);
        run(c, &format!("psql {sql}"))
    }
}

impl Cluster {
    /// Stops the server at once if it runs (immediate shutdown), ignoring errors.
    pub fn halt(&self) {
        let _ = pg_command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.halt();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
