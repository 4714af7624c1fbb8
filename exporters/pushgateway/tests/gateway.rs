//! End to end against Debian's `prometheus-pushgateway`, and a Prometheus scraping it.

#[path = "../../remote-write/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use aiplatform_metrics::{Buckets, Registry};
use aiplatform_pushgateway::{Method, Pushgateway};
use support::*;

fn job_registry(records: u64) -> Registry {
    let r = Registry::builder()
        .const_label("team", "data")
        .build()
        .unwrap();
    r.counter("pg_records_processed_total", "Records processed.")
        .unwrap()
        .inc_by(records);
    r.gauge("pg_last_success_timestamp_seconds", "Last success.")
        .unwrap()
        .set(1_767_322_800.0);
    let h = r
        .histogram_family(
            "pg_batch_seconds",
            "Batch duration.",
            &["stage"],
            Buckets::new([0.5, 2.0]).unwrap(),
        )
        .unwrap();
    for v in [0.25, 1.0, 4.0] {
        h.with(&["load"]).observe(v);
    }
    r
}

/// Polls the gateway's exposition until `want` is there.
fn wait_gateway(gw: &Server, prefix: &str, want: &Series) {
    let started = Instant::now();
    loop {
        let got = scrape(&gw.url("/metrics"), prefix);
        if &got == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gateway shows {got:#?}\nwanted {want:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn push_once_at_the_end_of_a_job_reaches_prometheus() {
    let gw = pushgateway();
    let prom = prometheus(&format!(
        "  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        gw.port
    ));
    let r = job_registry(1234);
    Pushgateway::new(gw.url(""), "nightly_import")
        .grouping_label("instance", "worker/1")
        .push(&r, Duration::from_secs(10))
        .unwrap();
    let grouping = [("job", "nightly_import"), ("instance", "worker/1")];
    let want = exposition(&r, "pg_", &grouping);
    assert_eq!(want.len(), 2 + 5, "{want:#?}");
    wait_gateway(&gw, "pg_", &want);
    // Prometheus scrapes the gateway and returns exactly the registry's values.
    wait_for(&prom, r#"{__name__=~"pg_.*"}"#, &want);
}

#[test]
fn put_replaces_the_group_post_replaces_families_delete_removes_it() {
    let gw = pushgateway();
    let group = |method| {
        Pushgateway::new(gw.url(""), "etl")
            .grouping_label("shard", "7")
            .method(method)
    };
    let grouping = [("job", "etl"), ("shard", "7")];
    let a = job_registry(10);
    group(Method::Put)
        .push(&a, Duration::from_secs(10))
        .unwrap();
    wait_gateway(&gw, "pg_", &exposition(&a, "pg_", &grouping));

    // POST with one family: that family changes, the others stay.
    let b = Registry::builder()
        .const_label("team", "data")
        .build()
        .unwrap();
    b.counter("pg_records_processed_total", "Records processed.")
        .unwrap()
        .inc_by(99);
    group(Method::Post)
        .gzip(true)
        .push(&b, Duration::from_secs(10))
        .unwrap();
    let mut want = exposition(&a, "pg_", &grouping);
    want.extend(exposition(&b, "pg_", &grouping));
    wait_gateway(&gw, "pg_", &want);
    assert!(want.values().any(|v| *v == 99.0) && want.len() == 7);

    // PUT with one family: the group holds only it.
    group(Method::Put)
        .push(&b, Duration::from_secs(10))
        .unwrap();
    wait_gateway(&gw, "pg_", &exposition(&b, "pg_", &grouping));

    // Delete: nothing left of the group.
    group(Method::Put).delete(Duration::from_secs(10)).unwrap();
    wait_gateway(&gw, "pg_", &Series::new());
}

#[test]
fn periodic_pushes_follow_the_registry() {
    let gw = pushgateway();
    let r = job_registry(1);
    let pipeline = Pushgateway::new(gw.url(""), "trainer")
        .pipeline(&r)
        .unwrap()
        .interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let grouping = [("job", "trainer")];
    wait_gateway(&gw, "pg_", &exposition(&r, "pg_", &grouping));
    let c = r
        .counter_family("pg_epochs_total", "Epochs.", &["model"])
        .unwrap();
    c.with(&["resnet"]).inc_by(3);
    wait_gateway(&gw, "pg_", &exposition(&r, "pg_", &grouping));
    pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(pipeline.samples_dropped(), 0);
}

#[test]
fn a_refused_push_says_why() {
    let gw = pushgateway();
    // The gateway refuses a family whose type differs from the same name in another group.
    let a = Registry::new();
    a.counter("pg_clash_total", "A counter.").unwrap().inc();
    Pushgateway::new(gw.url(""), "one")
        .push(&a, Duration::from_secs(10))
        .unwrap();
    let b = Registry::new();
    b.gauge("pg_clash_total", "Now a gauge.").unwrap().set(1.0);
    let err = Pushgateway::new(gw.url(""), "two")
        .push(&b, Duration::from_secs(10))
        .unwrap_err()
        .to_string();
    assert!(err.contains("dropped") && err.contains("HTTP 400"), "{err}");
}
