//! Hostile peers of the PostgreSQL exporter, on loopback: a server that accepts TCP and never
//! answers, and invented `/probe` targets that must not become series.

mod support;

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiplatform_testkit::Scrape;
use support::exporter;

/// Accepts connections and holds them open without a byte in answer, until dropped.
struct Silent {
    port: u16,
    _held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        std::thread::spawn(move || {
            // Bounded: the test makes a handful of connections.
            for stream in listener.incoming().take(64).flatten() {
                keep.lock().unwrap().push(stream);
            }
        });
        Silent { port, _held: held }
    }
}

/// `--pg.connect-timeout=2s` bounds the whole attempt (start-up and authentication), not only
/// the socket connect: the scrape answers `pg_up 0` in about 2 s, not after the 60 s
/// collection time limit.
#[test]
fn a_server_that_never_answers_is_given_up_after_the_connect_timeout() {
    let silent = Silent::start();
    let dsn = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        silent.port
    );
    let e = exporter(&[("DATA_SOURCE_NAME", &dsn)], &["--pg.connect-timeout=2s"]);
    for _ in 0..2 {
        let start = Instant::now();
        let r = e.get("/metrics");
        let took = start.elapsed();
        assert_eq!(r.status, 200, "{}", r.body);
        let s = Scrape::parse(r.body);
        eprintln!("scrape against a silent server: {took:?}");
        assert_eq!(s.get("pg_up", &[]), Some(0.0));
        assert!(took < Duration::from_secs(15), "scrape took {took:?}");
    }
}

/// Invented `/probe` targets and auth modules, and invented query parameters on `/metrics`,
/// are refused or ignored and never show up in `/metrics`.
#[test]
fn invented_probe_targets_add_no_series() {
    // Nothing listens there: every scrape answers pg_up 0 at once.
    let dsn = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        aiplatform_testkit::free_port()
    );
    let e = exporter(&[("DATA_SOURCE_NAME", &dsn)], &["--pg.connect-timeout=1s"]);
    let before = e.get("/metrics").body;
    for i in 0..50 {
        let marker = format!("evil{i:03}");
        let r = e.get(&format!(
            "/probe?target=postgresql://{marker}.example:5432/db&auth_module={marker}"
        ));
        assert!([400, 404].contains(&r.status), "{}: {}", r.status, r.body);
        let r = e.get(&format!("/metrics?collect[]={marker}&{marker}={marker}"));
        assert!(r.status == 200 || r.status == 400, "{}", r.status);
    }
    let after = e.get("/metrics").body;
    assert!(!after.contains("evil"), "a request's value became a label");
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert!(
        series(&after) <= series(&before) + 2,
        "{} series before, {} after",
        series(&before),
        series(&after)
    );
}

/// One logfmt line, no chain and no backtrace, even with `RUST_BACKTRACE=1`.
#[test]
fn startup_errors_are_one_log_line() {
    let mut cmd = std::process::Command::new(support::exporter_bin());
    cmd.env("RUST_BACKTRACE", "1")
        .env(
            "DATA_SOURCE_NAME",
            "postgresql://postgres@127.0.0.1:1/postgres",
        )
        .args([
            &format!(
                "--web.listen-address=127.0.0.1:{}",
                aiplatform_testkit::free_port()
            ),
            "--web.config.file=/nonexistent/web.yml",
        ]);
    let mut p = aiplatform_testkit::Process::spawn("postgres-exporter", cmd);
    let status = p.wait_exit(Duration::from_secs(20)).expect("exits");
    assert!(!status.success());
    let log = p.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("web.yml")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].starts_with("ts=") && lines[0].contains("level=error"),
        "{}",
        lines[0]
    );
    for noise in ["Caused by", "backtrace", "Error: "] {
        assert!(!log.contains(noise), "{noise:?} in\n{log}");
    }
}
