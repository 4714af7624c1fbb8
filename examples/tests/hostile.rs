//! The example API against hostile clients, on loopback with bounded loops: invented methods
//! and paths never become label values, silent and idle connections are closed, memory after
//! a burst returns near its baseline, and start-up errors are one log line.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use aiplatform_testkit::{Process, Scrape, rss_bytes};
use support::{scrape_text, start_api, start_api_with};

/// Sends raw bytes on a new connection and returns the status line (the response is read to
/// the end: each request asks to close).
fn raw(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

const STANDARD: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "OTHER",
];

/// Invented methods (10 KB each) and invented paths: the API's own counter and the HTTP
/// layer's record `OTHER` and route templates, `/metrics` stays small, and resident memory
/// comes back near where it was.
#[test]
fn invented_methods_and_paths_add_no_series_and_memory_returns() {
    let (api, base) = start_api();
    let addr = base.trim_start_matches("http://").to_owned();
    let client = reqwest::blocking::Client::new();
    for _ in 0..20 {
        client.get(format!("{base}/health")).send().unwrap();
    }
    scrape_text(&client, &base);
    std::thread::sleep(Duration::from_millis(500));
    let baseline = rss_bytes(api.id());
    let before = scrape_text(&client, &base).len();

    for i in 0..300 {
        let method = format!("X{i:05}{}", "M".repeat(10_000));
        let status = raw(
            &addr,
            format!("{method} /api/v1/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(status.starts_with("HTTP/1.1 4"), "{status}");
        let status = raw(
            &addr,
            format!(
                "GET /nowhere/{i}/{} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                "p".repeat(2_000)
            )
            .as_bytes(),
        );
        assert!(status.starts_with("HTTP/1.1 404"), "{status}");
    }
    let peak = rss_bytes(api.id());

    let text = scrape_text(&client, &base);
    let scrape = Scrape::parse(text.clone());
    for family in ["aiplatform_requests_total", "http_requests_total"] {
        for method in scrape.label_values(family, "method") {
            assert!(
                STANDARD.contains(&method.as_str()),
                "{family}: method {method:.40}"
            );
        }
        for endpoint in scrape.label_values(family, "endpoint") {
            assert!(
                !endpoint.starts_with("/nowhere"),
                "{family}: endpoint {endpoint:.40}"
            );
        }
    }
    assert!(
        scrape.get(
            "aiplatform_requests_total",
            &[("method", "OTHER"), ("status", "405")]
        ) == Some(300.0),
        "invented methods counted as OTHER:\n{}",
        scrape.lines_of("aiplatform_requests_total").join("\n")
    );
    assert!(
        text.len() < before + 20_000,
        "/metrics grew from {before} to {} bytes",
        text.len()
    );

    // The API returns free memory every 10 s.
    let mut after = rss_bytes(api.id());
    let deadline = Instant::now() + Duration::from_secs(25);
    while after > baseline + (8 << 20) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        after = rss_bytes(api.id());
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "API RSS: baseline {:.1} MiB, after the burst {:.1} MiB, later {:.1} MiB; /metrics {before} -> {} bytes",
        mib(baseline),
        mib(peak),
        mib(after),
        text.len()
    );
    assert!(
        after < baseline + (8 << 20),
        "RSS {:.1} MiB, baseline {:.1} MiB",
        mib(after),
        mib(baseline)
    );
}

/// When the server closed `s`, counted from `start`; `None` if still open at `start + limit`.
fn closed_within(s: &mut TcpStream, start: Instant, limit: Duration) -> Option<Duration> {
    s.set_read_timeout(Some(
        limit
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1)),
    ))
    .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed());
            }
            Err(_) => return None,
        }
    }
}

/// A connection that never sends a request, and a keep-alive connection idle after one, are
/// both closed after the idle timeout (2 s here; 60 s, the exporters' value, by default).
#[test]
fn silent_and_idle_connections_are_closed() {
    let (_api, base) = start_api_with("warn", &["--idle-timeout", "2s"], &[]);
    let addr = base.trim_start_matches("http://");
    let start = Instant::now();
    let mut silent = TcpStream::connect(addr).unwrap();
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let silent_closed = closed_within(&mut silent, start, Duration::from_secs(20));
    let idle_closed = closed_within(&mut idle, start, Duration::from_secs(20));
    eprintln!("closed after: silent {silent_closed:?}, idle keep-alive {idle_closed:?}");
    assert!(silent_closed.is_some(), "a silent connection stayed open");
    assert!(
        idle_closed.is_some(),
        "an idle keep-alive connection stayed open"
    );
}

#[test]
fn the_default_idle_timeout_is_the_exporters() {
    assert_eq!(
        aiplatform_prometheus::HEADER_READ_TIMEOUT,
        Duration::from_secs(60)
    );
    let help = Command::new(env!("CARGO_BIN_EXE_aiplatform-api"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 60s]"), "{help}");
}

/// A start-up failure (the port taken) is one JSON log line, without a backtrace even when
/// `RUST_BACKTRACE` asks for one.
#[test]
fn startup_errors_are_one_log_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiplatform-api"));
    cmd.env("RUST_BACKTRACE", "1").args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--log-format",
        "json",
    ]);
    let mut p = Process::spawn("aiplatform-api", cmd);
    let status = p.wait_exit(Duration::from_secs(20)).expect("exits");
    assert!(!status.success());
    let log = p.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("binding")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
    assert_eq!(v["log.level"], "ERROR", "{log}");
    for noise in ["Caused by", "backtrace", "Error: "] {
        assert!(!log.contains(noise), "{noise:?} in\n{log}");
    }
    drop(taken);
}
