//! Helpers for tests that run real processes: free ports and children killed on drop.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing behind.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example API on a free port; returns it with its base URL once it answers.
pub fn start_api() -> (Running, String) {
    start_api_with(&[])
}

/// [`start_api`] with extra command-line arguments.
pub fn start_api_with(extra_args: &[&str]) -> (Running, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_aiplatform-api"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
            "--log-level",
            "warn",
        ])
        .args(extra_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn aiplatform-api");
    let running = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .expect("aiplatform-api did not start listening");
    (running, base)
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

/// Polls `f` until it returns true or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Result<(), ()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(())
}
