//! The workspace's own binaries (the example API and the exporters), built by cargo.
//!
//! `CARGO_BIN_EXE_*` only names binaries of the package under test, and these belong to
//! other packages. So the first call runs `cargo test --workspace --all-features --no-run`,
//! the build `scripts/test.sh` has just made: everything is fresh and cargo only reports the
//! paths (well under a second). Run alone (`cargo test -p aiplatform-monitoring`), it builds
//! what is missing first. The variables cargo sets for the test process are removed from the
//! nested cargo's environment, or build scripts that watch them (ring watches
//! `CARGO_MANIFEST_DIR`) would rebuild and invalidate the outer build.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The path of the workspace binary `name` (`aiplatform-api`, `aiplatform-node-exporter`, ...).
///
/// Panics with cargo's output if the build fails or no such binary exists.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BINARIES: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    let binaries = BINARIES.get_or_init(build);
    binaries.get(name).cloned().unwrap_or_else(|| {
        panic!(
            "no binary {name} in the workspace; found: {:?}",
            binaries.keys()
        )
    })
}

fn build() -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(crate::repo_root())
        .args([
            "test",
            "--workspace",
            "--all-features",
            "--no-run",
            "--message-format=json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if is_set_by_cargo_for_tests(&key) {
            command.env_remove(&*key);
        }
    }
    let output = command
        .output()
        .expect("running cargo to build the binaries");
    assert!(
        output.status.success(),
        "building the workspace binaries failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut found = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_binary = message["reason"] == "compiler-artifact"
            && message["target"]["kind"] == serde_json::json!(["bin"])
            && message["profile"]["test"] == false;
        if let (true, Some(name), Some(path)) = (
            is_binary,
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            found.insert(name.to_owned(), PathBuf::from(path));
        }
    }
    found
}

/// Variables cargo sets for a test process (not ones a user sets to configure cargo).
fn is_set_by_cargo_for_tests(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_MANIFEST_")
        || key.starts_with("CARGO_CRATE_")
        || key.starts_with("CARGO_BIN_")
        || matches!(key, "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR")
}

#[cfg(test)]
mod tests {
    use super::is_set_by_cargo_for_tests;

    #[test]
    fn only_cargos_per_test_variables_are_removed() {
        for set_by_cargo in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_EXE_x",
            "CARGO_TARGET_TMPDIR",
        ] {
            assert!(is_set_by_cargo_for_tests(set_by_cargo), "{set_by_cargo}");
        }
        for user_setting in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "RUSTFLAGS",
        ] {
            assert!(!is_set_by_cargo_for_tests(user_setting), "{user_setting}");
        }
    }
}
