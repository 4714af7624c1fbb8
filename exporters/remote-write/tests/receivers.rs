//! End to end: the registry pushed to Debian's Prometheus (remote-write receiver) and
//! VictoriaMetrics, read back through their query APIs, equal to what a scrape of the registry
//! shows.

mod support;

use std::time::Duration;

use aiplatform_metrics::{Buckets, MetricFamily, MetricKind, NO_LABELS, Registry};
use aiplatform_remote_write::RemoteWrite;
use support::*;

const SELECTOR: &str = r#"{__name__=~"e2e_.*"}"#;

fn registry() -> (Registry, aiplatform_metrics::Counter) {
    let r = Registry::builder()
        .const_label("env", "e2e")
        .build()
        .unwrap();
    let requests = r
        .counter_family("e2e_requests_total", "Requests.", &["method", "path"])
        .unwrap();
    requests.with(&["GET", "/a\"b\\c ü"]).inc_by(7);
    requests.with(&["POST", ""]).inc_by(2);
    let hot = requests.with(&["PUT", "/hot"]);
    hot.inc();
    r.gauge("e2e_temperature_celsius", "Temp.")
        .unwrap()
        .set(-3.25);
    let h = r
        .histogram_family(
            "e2e_latency_seconds",
            "Latency.",
            &["route"],
            Buckets::new([0.005, 0.25, 1.0, 1e6]).unwrap(),
        )
        .unwrap();
    // Sums exact in binary and in a dozen decimal digits: VictoriaMetrics stores values as
    // decimals of limited precision (0.1 + 0.2 would come back rounded).
    for v in [0.00390625, 0.125, 0.1875, 0.75, 3.0] {
        h.with(&["/x"]).observe(v);
    }
    h.with(&["/y"]).observe(2e6);
    r.counter("e2e_cpu_seconds_total", "CPU.")
        .unwrap()
        .inc_by_f64(1.5);
    r.register_collector(|out: &mut Vec<MetricFamily>| {
        let mut s = MetricFamily::builder(MetricKind::Summary, "e2e_rpc_seconds", "RPC.")
            .build()
            .unwrap();
        s.push_summary(NO_LABELS, &[(0.5, 0.125), (0.99, 0.75)], 10, 2.5)
            .unwrap();
        out.push(s);
    });
    (r, hot)
}

fn round_trip(server: &Server, path: &str) {
    let (r, hot) = registry();
    let p = RemoteWrite::new(server.url(path))
        .external_label("cluster", "c1")
        .external_label("env", "not-used: the constant label wins")
        .pipeline(&r)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    let want = exposition(&r, "e2e_", &[("cluster", "c1")]);
    assert_eq!(want.len(), 23, "{want:#?}");
    wait_for(server, SELECTOR, &want);
    // Values move on; the next push is what the receiver returns.
    hot.inc_by(40);
    p.flush(Duration::from_secs(10)).unwrap();
    let want = exposition(&r, "e2e_", &[("cluster", "c1")]);
    wait_for(server, SELECTOR, &want);
    // The pipeline's own health arrived too.
    let sent = query(
        server,
        r#"aiplatform_push_samples_sent_total{backend="remote_write",cluster="c1"}"#,
    );
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(*sent.values().next().unwrap() > 0.0);
    p.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(p.samples_dropped(), 0);
}

#[test]
fn prometheus_remote_write_receiver_returns_the_registry_values() {
    let prom = prometheus("");
    round_trip(&prom, "/api/v1/write");
}

#[test]
fn victoria_metrics_returns_the_registry_values() {
    let vm = victoria_metrics();
    round_trip(&vm, "/api/v1/write");
}

#[test]
fn prometheus_rejects_a_malformed_series_and_the_pipeline_counts_it() {
    // Prometheus refuses samples older than its head block allows: a 4xx, dropped and counted,
    // never retried.
    let prom = prometheus("");
    let (r, _) = registry();
    let mut old = MetricFamily::builder(MetricKind::Gauge, "e2e_ancient", "Too old.")
        .build()
        .unwrap();
    old.push_gauge(NO_LABELS, 1.0).unwrap();
    old.set_last_timestamp_ms(1_000);
    let old = std::sync::Mutex::new(Some(old));
    r.register_collector(move |out: &mut Vec<MetricFamily>| {
        if let Some(f) = old.lock().unwrap().take() {
            out.push(f);
        }
    });
    let p = RemoteWrite::new(prom.url("/api/v1/write"))
        .pipeline(&r)
        .unwrap()
        .periodic(false)
        .max_batch_series(1)
        .build()
        .unwrap();
    let res = p.flush(Duration::from_secs(10));
    assert!(
        matches!(
            res,
            Err(aiplatform_push::FlushError::Dropped { samples: 1, .. })
        ),
        "{res:?}"
    );
    // Everything else arrived.
    let want = exposition(&r, "e2e_", &[]);
    wait_for(&prom, SELECTOR, &want);
}
