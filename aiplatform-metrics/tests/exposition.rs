//! Exact exposition bytes for every metric type, in both formats.

use aiplatform_metrics::{
    Buckets, ExpositionFormat, MetricFamily, MetricKind, NO_LABELS, Opts, Registry, Unit, encode,
};

fn text(registry: &Registry, format: ExpositionFormat) -> String {
    String::from_utf8(registry.encode(format)).expect("exposition is UTF-8")
}

fn sample_registry() -> Registry {
    let registry = Registry::new();
    let requests = registry
        .counter_family(
            "http_requests_total",
            "Requests served.",
            &["method", "code"],
        )
        .unwrap();
    requests.with(&["POST", "500"]).inc_by(2);
    requests.with(&["GET", "200"]).inc_by(1027);
    let cpu = registry
        .register(Opts::counter("cpu", "CPU time.").unit(Unit::SECONDS))
        .unwrap()
        .with(NO_LABELS);
    cpu.inc_by_f64(1.5);
    registry
        .gauge("queue_depth", "Jobs \"waiting\" \\ now\nin queue.")
        .unwrap()
        .set(-3.0);
    let latency = registry
        .register(
            Opts::histogram(
                "latency",
                "Request latency.",
                Buckets::new([0.1, 1.0]).unwrap(),
            )
            .unit(Unit::SECONDS)
            .label_names(&["path"]),
        )
        .unwrap();
    let slash = latency.with(&["/"]);
    slash.observe(0.05);
    slash.observe(0.5);
    slash.observe(7.0);
    registry
}

/// Text 0.0.4 writes `le` as client_golang does (`1`, not OpenMetrics' `1.0`), so selectors
/// written against a Go exporter's buckets keep matching.
#[test]
fn text_format_0_0_4() {
    let got = text(&sample_registry(), ExpositionFormat::Text);
    let want = "\
# HELP cpu_seconds_total CPU time.
# TYPE cpu_seconds_total counter
cpu_seconds_total 1.5
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{method=\"GET\",code=\"200\"} 1027
http_requests_total{method=\"POST\",code=\"500\"} 2
# HELP latency_seconds Request latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{path=\"/\",le=\"0.1\"} 1
latency_seconds_bucket{path=\"/\",le=\"1\"} 2
latency_seconds_bucket{path=\"/\",le=\"+Inf\"} 3
latency_seconds_sum{path=\"/\"} 7.55
latency_seconds_count{path=\"/\"} 3
# HELP queue_depth Jobs \"waiting\" \\\\ now\\nin queue.
# TYPE queue_depth gauge
queue_depth -3
";
    assert_eq!(got, want);
}

#[test]
fn openmetrics_1_0() {
    let got = text(&sample_registry(), ExpositionFormat::OpenMetrics);
    let want = "\
# TYPE cpu_seconds counter
# UNIT cpu_seconds seconds
# HELP cpu_seconds CPU time.
cpu_seconds_total 1.5
# TYPE http_requests counter
# HELP http_requests Requests served.
http_requests_total{method=\"GET\",code=\"200\"} 1027
http_requests_total{method=\"POST\",code=\"500\"} 2
# TYPE latency_seconds histogram
# UNIT latency_seconds seconds
# HELP latency_seconds Request latency.
latency_seconds_bucket{path=\"/\",le=\"0.1\"} 1
latency_seconds_bucket{path=\"/\",le=\"1.0\"} 2
latency_seconds_bucket{path=\"/\",le=\"+Inf\"} 3
latency_seconds_sum{path=\"/\"} 7.55
latency_seconds_count{path=\"/\"} 3
# TYPE queue_depth gauge
# HELP queue_depth Jobs \\\"waiting\\\" \\\\ now\\nin queue.
queue_depth -3
# EOF
";
    assert_eq!(got, want);
}

#[test]
fn namespace_const_labels_and_escaped_values() {
    let registry = Registry::builder()
        .namespace("aiplatform")
        .const_label("env", "pr\"od")
        .build()
        .unwrap();
    let f = registry
        .gauge_family("temperature_celsius", "", &["room"])
        .unwrap();
    f.with(&["a\\b\nc\"d"]).set(21.5);
    let _up = registry.counter("up_total", "").unwrap();
    let got = text(&registry, ExpositionFormat::Text);
    let want = "\
# TYPE aiplatform_temperature_celsius gauge
aiplatform_temperature_celsius{env=\"pr\\\"od\",room=\"a\\\\b\\nc\\\"d\"} 21.5
# TYPE aiplatform_up_total counter
aiplatform_up_total{env=\"pr\\\"od\"} 0
";
    assert_eq!(got, want, "empty HELP is left out; labels escaped once");
}

#[test]
fn collector_families_timestamps_summaries_and_unknown() {
    let registry = Registry::new();
    registry.register_collector(|out: &mut Vec<MetricFamily>| {
        let mut info = MetricFamily::builder(MetricKind::Unknown, "pg_static", "Version string.")
            .label_names(&["version"])
            .build()
            .unwrap();
        info.push_gauge(&["15.4"], 1.0).unwrap();
        info.set_last_timestamp_ms(1_700_000_000_123);
        out.push(info);
        let mut s = MetricFamily::builder(MetricKind::Summary, "rpc_seconds", "RPC time.")
            .build()
            .unwrap();
        s.push_summary(NO_LABELS, &[(0.5, 0.25), (0.99, 1.5)], 10, 4.25)
            .unwrap();
        out.push(s);
        let mut h = MetricFamily::builder(MetricKind::Histogram, "size_bytes", "Sizes.")
            .build()
            .unwrap();
        h.push_histogram(NO_LABELS, &[1e6, 1e9], &[3, 1, 0], 2e6)
            .unwrap();
        out.push(h);
        let mut bad = MetricFamily::builder(MetricKind::Counter, "weird_total", "NaN counter.")
            .build()
            .unwrap();
        bad.push_counter(NO_LABELS, f64::NAN).unwrap();
        out.push(bad);
    });
    let got = text(&registry, ExpositionFormat::Text);
    assert_eq!(
        got,
        "\
# HELP pg_static Version string.
# TYPE pg_static untyped
pg_static{version=\"15.4\"} 1 1700000000123
# HELP rpc_seconds RPC time.
# TYPE rpc_seconds summary
rpc_seconds{quantile=\"0.5\"} 0.25
rpc_seconds{quantile=\"0.99\"} 1.5
rpc_seconds_sum 4.25
rpc_seconds_count 10
# HELP size_bytes Sizes.
# TYPE size_bytes histogram
size_bytes_bucket{le=\"1e+06\"} 3
size_bytes_bucket{le=\"1e+09\"} 4
size_bytes_bucket{le=\"+Inf\"} 4
size_bytes_sum 2000000
size_bytes_count 4
# HELP weird_total NaN counter.
# TYPE weird_total counter
weird_total NaN
"
    );
    let om = text(&registry, ExpositionFormat::OpenMetrics);
    assert!(om.contains("# TYPE pg_static unknown\n"));
    assert!(
        om.contains("pg_static{version=\"15.4\"} 1 1700000000.123\n"),
        "{om}"
    );
    assert!(
        !om.contains("weird_total"),
        "OpenMetrics forbids NaN counters: {om}"
    );
    assert!(om.ends_with("# EOF\n"));
}

#[test]
fn families_and_series_are_sorted_and_empty_families_skipped() {
    let registry = Registry::new();
    let b = registry.counter_family("b_total", "b", &["k"]).unwrap();
    registry.counter_family("a_total", "a", &["k"]).unwrap();
    for v in ["zeta", "alpha", "mid", "Alpha"] {
        b.with(&[v]).inc();
    }
    let got = text(&registry, ExpositionFormat::Text);
    let lines: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "b_total{k=\"Alpha\"} 1",
            "b_total{k=\"alpha\"} 1",
            "b_total{k=\"mid\"} 1",
            "b_total{k=\"zeta\"} 1"
        ]
    );
    assert!(
        !got.contains("a_total"),
        "a family without series writes nothing"
    );
}

#[test]
fn encode_matches_registry_encode() {
    let registry = sample_registry();
    let snapshot = registry.collect();
    for format in [ExpositionFormat::Text, ExpositionFormat::OpenMetrics] {
        assert_eq!(encode(&snapshot, format), registry.encode(format));
    }
}

#[test]
fn histograms_stay_valid_openmetrics_with_nan_and_negative_values() {
    let registry = Registry::new();
    let temp = registry
        .histogram(
            "temp_celsius",
            "Temperatures.",
            Buckets::new([-10.0, 0.0, 10.0]).unwrap(),
        )
        .unwrap();
    temp.observe(-20.0);
    temp.observe(f64::NAN); // ignored: it belongs to no bucket and would poison the sum
    temp.observe(5.0);
    assert_eq!(temp.count(), 2);
    let om = text(&registry, ExpositionFormat::OpenMetrics);
    assert_eq!(
        om,
        "\
# TYPE temp_celsius histogram
# HELP temp_celsius Temperatures.
temp_celsius_bucket{le=\"-10.0\"} 1
temp_celsius_bucket{le=\"0.0\"} 1
temp_celsius_bucket{le=\"10.0\"} 2
temp_celsius_bucket{le=\"+Inf\"} 2
# EOF
",
        "negative bounds: no _sum (a counter in OpenMetrics) and so no _count"
    );
    let txt = text(&registry, ExpositionFormat::Text);
    assert!(
        txt.contains("temp_celsius_sum -15\ntemp_celsius_count 2\n"),
        "{txt}"
    );
}

/// client_golang writes a counter under the name it was given; exporters that keep a Go
/// exporter's counter names need the same, while OpenMetrics still gets `_total` samples.
#[test]
fn counters_can_keep_their_given_name_in_text_0_0_4() {
    let registry = Registry::builder().namespace("pg").build().unwrap();
    registry
        .register(
            Opts::counter("xact_commit", "Commits.")
                .label_names(&["datname"])
                .text_name_as_given(),
        )
        .unwrap()
        .with(&["app"])
        .inc_by(5);
    // A `_total` that was given stays: the flag never removes a suffix.
    registry
        .register(Opts::counter("blks_total", "Blocks.").text_name_as_given())
        .unwrap()
        .with(NO_LABELS)
        .inc();
    registry.register_collector(|out: &mut Vec<MetricFamily>| {
        let mut f = MetricFamily::builder(MetricKind::Counter, "archived_count", "Archived.")
            .text_name_as_given()
            .build()
            .unwrap();
        f.push_counter(NO_LABELS, 3.0).unwrap();
        out.push(f);
    });
    assert_eq!(
        text(&registry, ExpositionFormat::Text),
        "# HELP pg_archived_count Archived.\n\
         # TYPE pg_archived_count counter\n\
         pg_archived_count 3\n\
         # HELP pg_blks_total Blocks.\n\
         # TYPE pg_blks_total counter\n\
         pg_blks_total 1\n\
         # HELP pg_xact_commit Commits.\n\
         # TYPE pg_xact_commit counter\n\
         pg_xact_commit{datname=\"app\"} 5\n"
    );
    assert_eq!(
        text(&registry, ExpositionFormat::OpenMetrics),
        "# TYPE pg_archived_count counter\n\
         # HELP pg_archived_count Archived.\n\
         pg_archived_count_total 3\n\
         # TYPE pg_blks counter\n\
         # HELP pg_blks Blocks.\n\
         pg_blks_total 1\n\
         # TYPE pg_xact_commit counter\n\
         # HELP pg_xact_commit Commits.\n\
         pg_xact_commit_total{datname=\"app\"} 5\n\
         # EOF\n"
    );
    // The bare name and the `_total` name both stay claimed.
    assert!(registry.counter("xact_commit_total", "again").is_err());
    assert!(registry.gauge("xact_commit", "again").is_err());
}

#[test]
fn text_sorts_counters_by_their_total_name_as_client_golang() {
    let registry = Registry::new();
    registry
        .counter("node_flush_requests_total", "Flushes.")
        .unwrap()
        .inc();
    registry
        .gauge("node_flush_requests_time_seconds", "Time.")
        .unwrap()
        .set(1.0);
    let text = text(&registry, ExpositionFormat::Text);
    let gauge = text
        .find("# TYPE node_flush_requests_time_seconds")
        .unwrap();
    let counter = text.find("# TYPE node_flush_requests_total").unwrap();
    assert!(gauge < counter, "{text}");
    // OpenMetrics names the counter family `node_flush_requests`: first.
    let om = String::from_utf8(registry.encode(ExpositionFormat::OpenMetrics)).unwrap();
    let counter = om.find("# TYPE node_flush_requests counter").unwrap();
    let gauge = om.find("# TYPE node_flush_requests_time_seconds").unwrap();
    assert!(counter < gauge, "{om}");
}
