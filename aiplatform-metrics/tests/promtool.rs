//! `promtool check metrics` (Prometheus' own linter) accepts our text output without a single
//! lint problem, for well-named metrics of every type. Needs Debian's `prometheus` package
//! (`scripts/test.sh` installs it).

use std::io::Write;
use std::process::{Command, Stdio};

use aiplatform_metrics::{
    Buckets, ExpositionFormat, MetricFamily, MetricKind, NO_LABELS, Opts, Registry, Unit,
};

/// Runs promtool on `body`; returns (exit code, combined output).
fn promtool(body: &[u8]) -> (i32, String) {
    let mut child = Command::new(aiplatform_testkit::host::promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting promtool");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn well_named_metrics_pass_the_linter() {
    let registry = Registry::builder()
        .const_label("service", "aiplatform-api")
        .build()
        .unwrap();
    let requests = registry
        .counter_family(
            "http_requests_total",
            "Requests served.",
            &["method", "endpoint", "status"],
        )
        .unwrap();
    requests.with(&["GET", "/predict", "200"]).inc_by(3);
    requests.with(&["POST", "/train\"round\"", "500"]).inc();
    let latency = registry
        .register(
            Opts::histogram(
                "http_request_duration",
                "Request latency.",
                Buckets::default(),
            )
            .unit(Unit::SECONDS)
            .label_names(&["endpoint"]),
        )
        .unwrap();
    latency.with(&["/predict"]).observe(0.042);
    registry
        .gauge("active_connections", "Open connections.")
        .unwrap()
        .set(7.0);
    registry
        .register(Opts::counter("cpu", "CPU time used.").unit(Unit::SECONDS))
        .unwrap()
        .with(NO_LABELS)
        .inc_by_f64(1.25);
    registry.register_collector(|out: &mut Vec<MetricFamily>| {
        let mut s =
            MetricFamily::builder(MetricKind::Summary, "rpc_duration_seconds", "RPC latency.")
                .build()
                .unwrap();
        s.push_summary(NO_LABELS, &[(0.5, 0.1), (0.9, 0.4)], 12, 2.5)
            .unwrap();
        out.push(s);
        let mut u = MetricFamily::builder(MetricKind::Unknown, "legacy_value", "Untyped source.")
            .build()
            .unwrap();
        u.push_gauge(NO_LABELS, 1.0).unwrap();
        out.push(u);
    });
    let body = registry.encode(ExpositionFormat::Text);
    let (code, output) = promtool(&body);
    assert_eq!(
        code,
        0,
        "promtool exit {code}:\n{output}\n{}",
        String::from_utf8_lossy(&body)
    );
    assert!(output.trim().is_empty(), "lint findings:\n{output}");
}

#[test]
fn the_linter_is_really_checking() {
    // A gauge named like a counter, and a millisecond unit: promtool must complain (exit 3),
    // which shows the test above would notice lint problems.
    let registry = Registry::new();
    registry
        .gauge("requests_total", "Wrong type for the name.")
        .unwrap()
        .set(1.0);
    registry
        .gauge("latency_milliseconds", "Non-base unit.")
        .unwrap()
        .set(1.0);
    let (code, output) = promtool(&registry.encode(ExpositionFormat::Text));
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("_total"), "{output}");
}
