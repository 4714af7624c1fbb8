//! Where the offline validators live, and running them with errors that say what is missing.
//!
//! `scripts/lib/deps.sh` installs them: Python packages into the system `python3`, npm
//! packages unpacked under `.tools/npm/` at the repository root. A test that needs a missing
//! validator fails with the command that installs it; it never passes silently.

use std::path::PathBuf;
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
