//! Where the offline validators live, and running them with errors that say what is missing.
//!
//! `scripts/lib/deps.sh` installs them: Python packages into the system `python3`, npm
//! packages unpacked under `.tools/npm/` at the repository root. A test that needs a missing
//! validator fails with the command that installs it; it never passes silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::repo_root;

/// The compiled Elasticsearch API specification (`@elastic/request-converter` 9.5.0).
pub fn es_spec_path() -> PathBuf {
    npm_file(
        "@elastic+request-converter@9.5.0",
        "package/dist/schema.json",
    )
}

/// The ECS field reference as JSON, flat names to definitions (`@elastic/ecs` 9.4.0).
pub fn ecs_flat_path() -> PathBuf {
    npm_file("@elastic+ecs@9.4.0", "ecs_flat.json")
}

fn npm_file(package: &str, file: &str) -> PathBuf {
    let path = repo_root().join(".tools/npm").join(package).join(file);
    assert!(
        path.is_file(),
        "{} is missing: run `bash -c 'source scripts/lib/deps.sh && ensure_elk_validators'` \
         (scripts/test.sh does it)",
        path.display()
    );
    path
}

/// Runs `python3 -c 'import <module>'` and panics with the install command if it fails.
pub fn require_python_module(module: &str) {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the Python module `{module}` is missing: run \
         `bash -c 'source scripts/lib/deps.sh && ensure_elk_validators'` (scripts/test.sh does it)"
    );
}

/// Runs a program to completion, panicking with a readable message if it cannot start.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{program}`: {e}; scripts/lib/deps.sh installs the validators \
                 (scripts/test.sh runs it)"
            )
        })
}

/// The text a finished command printed, both streams, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A binary of this workspace, built by cargo into this workspace's target directory with the
/// flags `scripts/test.sh` builds the workspace with (so that under the test script the build
/// is a no-op), for tests running from `target/<profile>/deps/`.
pub fn workspace_binary(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "--workspace",
                "--all-features",
                "--bins",
            ])
            .current_dir(repo_root());
        // Variables cargo sets for a test process would look like changed build inputs to
        // build scripts that watch them (ring's does), and force rebuilds.
        for (k, _) in std::env::vars() {
            let keep = ["CARGO_HOME", "CARGO_TARGET_DIR"].contains(&k.as_str())
                || [
                    "CARGO_BUILD_",
                    "CARGO_TERM_",
                    "CARGO_PROFILE_",
                    "CARGO_NET_",
                    "CARGO_HTTP_",
                    "CARGO_REGISTR",
                ]
                .iter()
                .any(|p| k.starts_with(p));
            if (k.starts_with("CARGO_") && !keep) || k == "OUT_DIR" {
                build.env_remove(k);
            }
        }
        let status = build
            .status()
            .expect("cargo builds the workspace's binaries");
        assert!(status.success(), "building the workspace's binaries failed");
    });
    let exe = std::env::current_exe().expect("the test's own path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps/")
        .join(name);
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}
