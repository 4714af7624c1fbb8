//! Where this machine keeps the real peers the tests run against: Debian's Go exporters,
//! promtool, redis-server, PostgreSQL's server binaries and documentation examples.
//!
//! Each is looked up here and nowhere else. A missing one panics with the package that
//! provides it and the command that installs it (`scripts/test.sh`, through
//! `scripts/lib/deps.sh`): a test never passes silently without its peer.

use std::path::{Path, PathBuf};

fn missing(what: &str, package: &str) -> ! {
    panic!(
        "{what} is missing: run scripts/test.sh, which installs the Debian package {package} \
         (scripts/lib/deps.sh), or `apt-get install {package}`"
    )
}

/// The executable `name` from `PATH`, provided by the Debian package `package`.
pub fn command(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| missing(&format!("{name} (on PATH)"), package))
}

/// Debian 12's Go exporter for `kind` (`node`, `postgres`, `redis`): the binary
/// `prometheus-<kind>-exporter` of the package of the same name, what ours are compared with.
pub fn go_exporter(kind: &str) -> PathBuf {
    let name = format!("prometheus-{kind}-exporter");
    command(&name, &name)
}

/// `promtool`, Prometheus' own exposition parser and linter.
pub fn promtool() -> PathBuf {
    command("promtool", "prometheus")
}

/// `redis-server`.
pub fn redis_server() -> PathBuf {
    command("redis-server", "redis-server")
}

/// Where Debian installs the PostgreSQL server binaries, one directory per major version.
const POSTGRESQL_LIB: &str = "/usr/lib/postgresql";

/// A PostgreSQL server tool (`initdb`, `pg_ctl`, `pg_basebackup`) of the newest installed
/// major version (the one the machine's cluster runs), else from `PATH`.
pub fn postgres_tool(tool: &str) -> PathBuf {
    let newest = std::fs::read_dir(POSTGRESQL_LIB)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .max();
    if let Some(major) = newest {
        let bin = Path::new(POSTGRESQL_LIB)
            .join(major.to_string())
            .join("bin")
            .join(tool);
        if bin.is_file() {
            return bin;
        }
    }
    command(tool, "postgresql")
}

/// A file Debian ships under `/usr/share/doc/<package>/examples/`.
pub fn debian_example(package: &str, name: &str) -> PathBuf {
    let path = Path::new("/usr/share/doc")
        .join(package)
        .join("examples")
        .join(name);
    if !path.is_file() {
        missing(&path.display().to_string(), package);
    }
    path
}
