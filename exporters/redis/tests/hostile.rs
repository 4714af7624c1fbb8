//! Hostile clients of the Redis exporter, on loopback: invented `/scrape` targets and query
//! parameters never become series, and a start-up failure is one log line.

mod common;

use std::process::Command;
use std::time::Duration;

use aiplatform_testkit::{Process, free_port};
use common::exporter;

#[test]
fn invented_scrape_targets_add_no_series() {
    // Nothing listens on the main address: redis_up 0, quickly.
    let addr = format!("--redis.addr=redis://127.0.0.1:{}", free_port());
    let e = exporter(&[&addr, "--enable-scrape-endpoint"], &[]);
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    let before = series(&e.get("/metrics").body);
    for i in 0..50 {
        for path in [
            format!("/scrape?target=redis://evil{i}:x@127.0.0.1:{}", free_port()),
            format!("/scrape?target=evil{i}.example:6379"),
            format!("/metrics?evil{i}=evil{i}"),
        ] {
            let r = e.get(&path);
            assert!([200, 400, 403].contains(&r.status), "{path}: {}", r.status);
        }
    }
    let after = e.get("/metrics").body;
    assert!(!after.contains("evil"), "a request's value became a label");
    assert!(
        series(&after) <= before + 2,
        "{before} series before, {} after",
        series(&after)
    );
}

/// One JSON line, no chain and no backtrace, even with `RUST_BACKTRACE=1`.
#[test]
fn startup_errors_are_one_log_line() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiplatform-redis-exporter"));
    cmd.env("RUST_BACKTRACE", "1").args([
        &format!("--web.listen-address=127.0.0.1:{}", free_port()),
        "--web.config.file=/nonexistent/web.yml",
        "--log-format=json",
    ]);
    let mut p = Process::spawn("redis-exporter", cmd);
    let status = p.wait_exit(Duration::from_secs(20)).expect("exits");
    assert!(!status.success());
    let log = p.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("web.yml")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(v["log.level"], "ERROR");
    for noise in ["Caused by", "backtrace", "Error: "] {
        assert!(!log.contains(noise), "{noise:?} in\n{log}");
    }
}
