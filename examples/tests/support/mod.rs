//! The example API on a free port, killed when the test ends.

// Each test file uses part of this module.
#![allow(dead_code)]

use std::process::Command;

use aiplatform_testkit::{Process, free_port};

/// Starts the example API on a free port logging JSON at warn level; returns it with its
/// base URL once it listens.
pub fn start_api() -> (Process, String) {
    start_api_with("warn", &[])
}

/// [`start_api`] at `log_level`, with these environment variables.
pub fn start_api_with(log_level: &str, env: &[(&str, &str)]) -> (Process, String) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiplatform-api"));
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--log-format",
        "json",
        "--log-level",
        log_level,
    ])
    .envs(env.iter().copied());
    let api = Process::listening("aiplatform-api", cmd, port);
    (api, format!("http://127.0.0.1:{port}"))
}
