//! The binary over HTTP: status codes, content type, families, node_exporter's `collect[]` /
//! `exclude[]` filters, collector flags, and a scrape that stays 200 when collectors fail.

mod support;

use std::process::Command;

use aiplatform_testkit::{Scrape, host};
use support::{NO_SOURCE_HERE, fixture, ours, start_ours};

fn fixture_args(procfs: &str) -> Vec<String> {
    vec![
        format!("--path.procfs={}", fixture(procfs).display()),
        format!("--path.sysfs={}", fixture("sys").display()),
        format!("--path.rootfs={}", fixture("rootfs").display()),
        format!("--path.udev.data={}", fixture("udev").display()),
        "--no-collector.netdev.netlink".into(),
        format!(
            "--collector.textfile.directory={}",
            fixture("textfile").display()
        ),
    ]
}

/// `(collector, node_scrape_collector_success)` pairs.
fn success(body: &str) -> Vec<(String, f64)> {
    Scrape::parse(body)
        .series("node_scrape_collector_success")
        .iter()
        .map(|s| (s.labels["collector"].clone(), s.scalar().unwrap()))
        .collect()
}

#[test]
fn serves_every_collector_with_self_metrics_and_no_go_metrics() {
    let ne = start_ours(&fixture_args("proc"));
    let r = ne.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let s = success(&r.body);
    assert_eq!(s.len(), support::default_collectors(), "{s:?}");
    assert!(
        s.iter().all(|(n, v)| *v
            == if NO_SOURCE_HERE.contains(&n.as_str()) {
                0.0
            } else {
                1.0
            }),
        "{s:?}"
    );
    for family in [
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_filesystem_avail_bytes",
        "node_network_receive_bytes_total",
        "node_load1",
        "node_disk_read_bytes_total",
        "node_exporter_build_info",
        "process_resident_memory_bytes",
        "promhttp_metric_handler_requests_total",
    ] {
        assert!(r.body.contains(&format!("\n{family}")), "{family} missing");
    }
    assert!(!r.body.contains("\ngo_"), "go_* metrics are not produced");
    assert!(
        r.body.contains("node_textfile_scrape_error 1"),
        "the bad fixture files are flagged"
    );
    assert!(
        r.body.contains("backup_last_success_timestamp_seconds{"),
        "the good file is kept"
    );
}

#[test]
fn collect_and_exclude_select_collectors() {
    let ne = start_ours(&fixture_args("proc"));
    let r = ne.get("/metrics?collect[]=cpu&collect[]=meminfo");
    assert_eq!(r.status, 200);
    let names: Vec<String> = success(&r.body).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["cpu", "meminfo"]);
    assert!(!r.body.contains("node_load1"));

    let r = ne.get("/metrics?exclude[]=cpu");
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("node_cpu_seconds_total"));
    assert_eq!(success(&r.body).len(), support::default_collectors() - 1);

    let r = ne.get("/metrics?collect[]=nope");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("missing collector: nope"), "{}", r.body);
    let r = ne.get("/metrics?collect[]=cpu&exclude[]=meminfo");
    assert_eq!(r.status, 400);
}

#[test]
fn failing_collectors_report_zero_and_the_scrape_is_still_200() {
    let ne = start_ours(&fixture_args("garbage/proc"));
    let r = ne.get("/metrics");
    assert_eq!(r.status, 200);
    let s = success(&r.body);
    let failed: Vec<&str> = s
        .iter()
        .filter(|(_, v)| *v == 0.0)
        .map(|(n, _)| n.as_str())
        .collect();
    for c in [
        "cpu",
        "diskstats",
        "filefd",
        "filesystem",
        "loadavg",
        "meminfo",
        "netdev",
        "netstat",
        "sockstat",
        "stat",
        "vmstat",
    ] {
        assert!(failed.contains(&c), "{c} should fail on garbage: {s:?}");
    }
    for c in ["uname", "time", "os", "textfile"] {
        assert!(!failed.contains(&c), "{c} has nothing to fail on: {s:?}");
    }
    assert!(r.body.contains("node_uname_info{"));
}

#[test]
fn disable_defaults_keeps_only_the_named_collectors() {
    let mut args = fixture_args("proc");
    args.extend([
        "--collector.disable-defaults".into(),
        "--collector.loadavg".into(),
    ]);
    let ne = start_ours(&args);
    let r = ne.get("/metrics");
    let names: Vec<String> = success(&r.body).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["loadavg"]);
    assert!(r.body.contains("node_load1 0.93\n"));
    let r = ne.get("/metrics?collect[]=cpu");
    assert_eq!(r.status, 400, "a disabled collector cannot be requested");
    assert!(r.body.contains("disabled collector: cpu"));
}

#[test]
fn landing_page_and_unknown_paths() {
    let ne = start_ours(&fixture_args("proc"));
    let r = ne.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Node Exporter"));
    assert!(r.body.contains("href=\"metrics\""), "{}", r.body);
    assert_eq!(ne.get("/nope").status, 404);
}

#[test]
fn help_and_version_and_bad_flags() {
    let help = Command::new(ours()).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("go_*"), "--help says go_* metrics are absent");
    for flag in [
        "--web.listen-address",
        "--path.procfs",
        "--collector.filesystem.mount-points-exclude",
        "--collector.netdev.device-exclude",
        "--collector.diskstats.device-exclude",
        "--collector.textfile.directory",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--compat",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
    let version = Command::new(ours()).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("node_exporter, version "));
    let bad = Command::new(ours())
        .args([
            "--collector.vmstat.fields=(",
            "--web.listen-address=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("collector.vmstat.fields"));
}

/// `promtool check metrics`, the Prometheus project's own parser and linter, accepts the
/// exposition; the only findings are node_exporter's own camelCase names (`node_memory_*`,
/// `node_netstat_*`, which dashboards depend on) and a fixture counter named after its type.
#[test]
fn promtool_accepts_the_exposition() {
    use std::io::Write as _;
    let promtool = host::promtool();
    let ne = start_ours(&fixture_args("proc"));
    let r = ne.get("/metrics");
    assert_eq!(r.status, 200);
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(r.body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!report.contains("error while linting"), "{report}");
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.contains("should be written in 'snake_case'"))
        // The fixture's textfile counter is named by its file, and node_exporter keeps such
        // names as given; promtool says the same of Go's output.
        .filter(|l| !l.starts_with("legacy_counter "))
        // node_exporter's names, which promtool flags in Go's output too.
        .filter(|l| !(l.starts_with("node_entropy_") && l.ends_with("instead of \"bits\"")))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(unexpected.is_empty(), "promtool findings: {unexpected:#?}");
}

#[test]
fn a_gzip_scrape_like_prometheus_sends_is_answered_compressed() {
    use std::io::{Read, Write};
    let ne = start_ours(&fixture_args("proc"));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", ne.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n\
         Accept: application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let head = String::from_utf8_lossy(&raw[..raw.len().min(512)]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    // The exporter is still serving (a debug build used to overflow its stack here).
    assert_eq!(ne.get("/metrics").status, 200);
}
