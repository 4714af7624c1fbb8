//! The example API on a free port, killed when the test ends.

use std::process::Command;

use aiplatform_testkit::{Process, free_port};

/// Starts the example API on a free port; returns it with its base URL once it listens.
pub fn start_api() -> (Process, String) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiplatform-api"));
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--log-format",
        "json",
        "--log-level",
        "warn",
    ]);
    let api = Process::listening("aiplatform-api", cmd, port);
    (api, format!("http://127.0.0.1:{port}"))
}
