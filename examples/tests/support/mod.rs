//! The example API on a free port, killed when the test ends, and its metrics read back.

// Each test file uses part of this module.
#![allow(dead_code)]

use std::process::Command;

use aiplatform_testkit::{Process, free_port};

/// Starts the example API on a free port logging JSON at warn level; returns it with its
/// base URL once it listens.
pub fn start_api() -> (Process, String) {
    start_api_with("warn", &[], &[])
}

/// [`start_api`] at `log_level`, with extra command-line arguments and environment variables.
pub fn start_api_with(
    log_level: &str,
    extra_args: &[&str],
    env: &[(&str, &str)],
) -> (Process, String) {
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
    .args(extra_args)
    .envs(env.iter().copied());
    let api = Process::listening("aiplatform-api", cmd, port);
    (api, format!("http://127.0.0.1:{port}"))
}

/// The API's `/metrics` in Prometheus text format.
pub fn scrape_text(client: &reqwest::blocking::Client, api: &str) -> String {
    client
        .get(format!("{api}/metrics"))
        .header("Accept", "text/plain;version=0.0.4")
        .send()
        .unwrap()
        .text()
        .unwrap()
}
