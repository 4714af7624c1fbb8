//! What the PostgreSQL exporter's integration tests share: a primary with a password role
//! (the throwaway cluster itself is the test kit's), and our exporter (or Debian's Go one)
//! started with nothing but the environment a test gives it.

// Each test file uses part of this module.
#![allow(dead_code)]

use std::path::Path;

pub use aiplatform_testkit::postgres::Cluster;
use aiplatform_testkit::{Exporter, host};

/// A password the tests give the `secretuser` role (scram-sha-256 over TCP).
pub const SECRET_PASSWORD: &str = "Zq9-s3cr3t-XyZ";

/// A primary ([`Cluster::primary`]) where the role `secretuser` logs in with
/// [`SECRET_PASSWORD`] (scram-sha-256 over TCP) and every new database has
/// `pg_stat_statements`.
pub fn primary(tag: &str) -> Cluster {
    let c = Cluster::with_hba(tag, &["host all secretuser 127.0.0.1/32 scram-sha-256"]);
    c.psql("template1", "CREATE EXTENSION pg_stat_statements");
    c.psql(
        "postgres",
        &format!("CREATE ROLE secretuser LOGIN SUPERUSER PASSWORD '{SECRET_PASSWORD}'"),
    );
    c
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
