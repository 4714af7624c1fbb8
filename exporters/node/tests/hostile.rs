//! Hostile textfiles and a hostile process life: a FIFO, a symlink to `/dev/zero`, a file too
//! large, a directory, a file redefining a built-in family; SIGTERM during a scrape; start-up
//! errors; memory after a burst. Loopback only, bounded loops.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aiplatform_metrics::MetricFamily;
use aiplatform_node_exporter::collectors::textfile::TextfileCollector;
use aiplatform_prometheus::{BlockingCollector, ScrapeContext};
use aiplatform_testkit::{Process, SnapshotLookup, TempDir, free_port};
use support::{ours, start_ours};

const GOOD: &str = "# HELP good_metric Fine.\n# TYPE good_metric gauge\ngood_metric 7\n";

/// Runs the collector on `dir` on a thread of its own and waits at most 10 s for it: a
/// collector that blocks fails the test instead of hanging it (the thread is left behind).
fn collect_within(collector: TextfileCollector, limit: Duration) -> (Vec<MetricFamily>, Duration) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(60));
        let mut out = Vec::new();
        collector.collect(&ctx, &mut out).unwrap();
        let _ = tx.send((out, start.elapsed()));
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the textfile collector did not return within {limit:?}"))
}

/// A directory with `a_good.prom` and whatever `hostile` adds; the good file must still be
/// exported, the hostile one not, and the error set, within a few seconds.
fn refused(hostile: impl FnOnce(&Path), limit: Option<u64>) -> Duration {
    let dir = TempDir::new("hostile-textfile");
    std::fs::write(dir.join("a_good.prom"), GOOD).unwrap();
    hostile(dir.path());
    let mut collector = TextfileCollector::new(Some(dir.path().to_owned()));
    if let Some(limit) = limit {
        collector = collector.max_file_size(limit);
    }
    let (out, took) = collect_within(collector, Duration::from_secs(10));
    assert_eq!(
        out.value("good_metric", &[]),
        Some(7.0),
        "the good file is exported"
    );
    assert_eq!(out.value("node_textfile_scrape_error", &[]), Some(1.0));
    let mtimes: Vec<String> = out
        .iter()
        .find(|f| f.name() == "node_textfile_mtime_seconds")
        .map(|f| f.samples().map(|s| s.labels.value(0).to_owned()).collect())
        .unwrap_or_default();
    assert_eq!(
        mtimes.len(),
        1,
        "only the good file has an mtime: {mtimes:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    took
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo touches nothing else.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let took = refused(|d| mkfifo(&d.join("b_fifo.prom")), None);
    eprintln!("FIFO: collector returned in {took:?}");
}

#[test]
fn a_symlink_to_dev_zero_is_refused_without_reading() {
    let took = refused(
        |d| std::os::unix::fs::symlink("/dev/zero", d.join("b_zero.prom")).unwrap(),
        None,
    );
    eprintln!("/dev/zero: collector returned in {took:?}");
}

#[test]
fn a_file_over_the_default_limit_is_refused_from_its_size() {
    // Sparse: 100 MB on paper, nothing on disk; refused before a byte is read.
    let took = refused(
        |d| {
            let f = std::fs::File::create(d.join("b_huge.prom")).unwrap();
            f.set_len(100_000_000).unwrap();
        },
        None,
    );
    eprintln!("100 MB file: collector returned in {took:?}");
}

#[test]
fn a_valid_file_over_a_configured_limit_is_refused() {
    refused(
        |d| {
            let mut text = String::from("# TYPE big_metric gauge\n");
            for i in 0..40_000 {
                text.push_str(&format!("big_metric{{i=\"{i}\"}} {i}\n"));
            }
            assert!(text.len() > 1 << 20);
            std::fs::write(d.join("b_big.prom"), text).unwrap();
        },
        Some(1 << 20),
    );
}

#[test]
fn a_directory_named_prom_is_refused() {
    refused(|d| std::fs::create_dir(d.join("b_dir.prom")).unwrap(), None);
}

#[test]
fn redefining_a_built_in_family_is_refused() {
    refused(
        |d| {
            std::fs::write(
                d.join("b_load.prom"),
                "# TYPE node_load1 counter\nnode_load1 99\n",
            )
            .unwrap()
        },
        None,
    );
}

fn textfile_dir_with_fifo() -> TempDir {
    let dir = TempDir::new("hostile-node");
    std::fs::write(dir.join("a_good.prom"), GOOD).unwrap();
    mkfifo(&dir.join("b_fifo.prom"));
    dir
}

fn textfile_args(dir: &Path) -> Vec<String> {
    vec![
        format!("--collector.textfile.directory={}", dir.display()),
        "--no-collector.netdev.netlink".into(),
    ]
}

/// The binary with a FIFO among its textfiles: every scrape answers quickly with the good
/// file and the error (the collector is never left running and disabled), and SIGTERM
/// during scrapes ends the process promptly.
#[test]
fn fifo_textfile_keeps_scrapes_quick_and_sigterm_stops_the_exporter() {
    let dir = textfile_dir_with_fifo();
    let mut ne = start_ours(&textfile_args(dir.path()));
    for _ in 0..3 {
        let start = Instant::now();
        let s = ne.scrape();
        let took = start.elapsed();
        assert_eq!(s.value("good_metric", &[]), 7.0);
        assert_eq!(s.value("node_textfile_scrape_error", &[]), 1.0);
        assert_eq!(
            s.value(
                "node_scrape_collector_success",
                &[("collector", "textfile")]
            ),
            1.0
        );
        assert!(took < Duration::from_secs(5), "scrape took {took:?}");
    }
    // SIGTERM while a scrape is in flight.
    let port = ne.port;
    let scraper =
        std::thread::spawn(move || aiplatform_testkit::http::try_get(port, "/metrics", &[]));
    let start = Instant::now();
    let status = ne.terminate(Duration::from_secs(20));
    let took = start.elapsed();
    let _ = scraper.join();
    eprintln!("SIGTERM to exit: {took:?}");
    assert!(
        status.is_some(),
        "still running 20 s after SIGTERM:\n{}",
        ne.log()
    );
}

/// A start-up failure is one line in the configured log format, without a backtrace even
/// when `RUST_BACKTRACE` asks for one.
#[test]
fn startup_errors_are_one_log_line() {
    for (format, prefix) in [("logfmt", "ts="), ("json", "{")] {
        let port = free_port();
        let mut cmd = Command::new(ours());
        cmd.env("RUST_BACKTRACE", "1")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--log.format={format}"))
            .arg("--web.config.file=/nonexistent/web.yml");
        let mut p = Process::spawn("node-exporter", cmd);
        let status = p.wait_exit(Duration::from_secs(20)).expect("exits");
        assert!(!status.success());
        let log = p.log();
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("web.yml")).collect();
        assert_eq!(
            errors.len(),
            1,
            "{format}: one line names the problem:\n{log}"
        );
        let line = errors[0];
        assert!(line.starts_with(prefix), "{format}: {line}");
        assert!(line.contains("exiting on error"), "{format}: {line}");
        assert!(line.contains("/nonexistent/web.yml"), "{line}");
        for noise in ["Caused by", "backtrace", "Stack backtrace", "Error: "] {
            assert!(!log.contains(noise), "{format}: {noise:?} in\n{log}");
        }
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert!(v.is_object());
        }
    }
}

/// Resident memory after a burst of large scrapes returns near where it was before.
#[test]
fn memory_returns_near_baseline_after_a_burst() {
    let dir = TempDir::new("hostile-burst");
    std::fs::write(dir.join("a_good.prom"), GOOD).unwrap();
    let ne = start_ours(&textfile_args(dir.path()));
    for _ in 0..5 {
        ne.scrape();
    }
    std::thread::sleep(Duration::from_millis(500));
    let baseline = ne.rss_bytes();
    // A 6 MB textfile (under the 8 MiB default), scraped by 8 clients at once, 5 times.
    let mut text = String::from("# TYPE burst_metric gauge\n");
    for i in 0..100_000 {
        text.push_str(&format!("burst_metric{{instance=\"host-{i:08}\"}} {i}\n"));
    }
    std::fs::write(dir.join("b_burst.prom"), &text).unwrap();
    let port = ne.port;
    let mut peak = 0;
    for _ in 0..5 {
        let clients: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(move || aiplatform_testkit::http::try_get(port, "/metrics", &[]))
            })
            .collect();
        for c in clients {
            let _ = c.join();
        }
        peak = peak.max(ne.rss_bytes());
    }
    std::fs::remove_file(dir.join("b_burst.prom")).unwrap();
    for _ in 0..3 {
        ne.scrape();
    }
    // Give the allocator its purge delay.
    let mut after = ne.rss_bytes();
    for _ in 0..20 {
        if after < baseline + (8 << 20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        ne.scrape();
        after = ne.rss_bytes();
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "node RSS: baseline {:.1} MiB, peak {:.1} MiB, after {:.1} MiB",
        mib(baseline),
        mib(peak),
        mib(after)
    );
    assert!(
        after < baseline + (8 << 20),
        "RSS {:.1} MiB after the burst, baseline {:.1} MiB (peak {:.1} MiB)",
        mib(after),
        mib(baseline),
        mib(peak)
    );
}

/// Invented `collect[]` / `exclude[]` names and query parameters are refused or ignored, and
/// no request value shows up in `/metrics`.
#[test]
fn invented_collector_names_add_no_series() {
    let dir = TempDir::new("hostile-collect");
    std::fs::write(dir.join("a_good.prom"), GOOD).unwrap();
    let ne = start_ours(&textfile_args(dir.path()));
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    let before = series(&ne.get("/metrics").body);
    for i in 0..50 {
        for path in [
            format!("/metrics?collect[]=evil{i}"),
            format!("/metrics?exclude[]=evil{i}"),
            format!("/metrics?evil{i}=evil{i}"),
            format!("/evil{i}"),
        ] {
            let r = ne.get(&path);
            assert!([200, 400, 404].contains(&r.status), "{path}: {}", r.status);
        }
    }
    let after = ne.get("/metrics").body;
    assert!(!after.contains("evil"), "a request's value became a label");
    // Counters of scrapes by code may gain a series or two (400, 404), no more.
    assert!(
        series(&after) <= before + 3,
        "{before} series before, {} after",
        series(&after)
    );
}
