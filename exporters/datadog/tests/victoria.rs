//! Agentless metrics, v1, end to end: the registry to Debian's VictoriaMetrics
//! (`/datadog/api/v1/series`), values read back through its query API.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aiplatform_datadog::{Datadog, SeriesApi};
use aiplatform_metrics::{Buckets, Registry};
use aiplatform_testkit::eventually_some as eventually;
use support::Victoria;

#[test]
fn v1_series_read_back_from_victoria_metrics() {
    let vm = Victoria::start();
    let vars = [
        ("DD_API_KEY", "not-checked-by-victoria".to_owned()),
        ("DD_DD_URL", vm.url("/datadog")),
        ("DD_HOSTNAME", "web-1".to_owned()),
        ("DD_ENV", "e2e".to_owned()),
        ("DD_SERVICE", "api".to_owned()),
    ];
    let dd = Datadog::from_vars(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .unwrap()
        .series_api(SeriesApi::V1)
        .namespace("ddv1");
    let r = Registry::builder().without_self_metrics().build().unwrap();
    let jobs = r.counter_family("jobs_total", "Jobs.", &["queue"]).unwrap();
    let depth = r.gauge_family("queue_depth", "Depth.", &["queue"]).unwrap();
    let latency = r
        .histogram("latency_seconds", "Latency.", Buckets::new([0.25]).unwrap())
        .unwrap();
    jobs.with(&["fast"]).inc_by(17);
    jobs.with(&["slow"]).inc_by(3);
    depth.with(&["fast"]).set(4.0);
    // A series without the label: VictoriaMetrics 1.79 carried labels over between series of
    // one request; each series here names its own host and tags.
    depth.with(&[""]).set(9.0);
    latency.observe(0.1);
    latency.observe(0.5);
    let p = dd
        .series_pipeline(&r)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();

    let tags = "env=e2e,host=web-1,service=api";
    let want: BTreeMap<String, f64> = [
        (
            "ddv1.jobs.count{env=e2e,host=web-1,queue=fast,service=api}".to_owned(),
            17.0,
        ),
        (
            "ddv1.jobs.count{env=e2e,host=web-1,queue=slow,service=api}".to_owned(),
            3.0,
        ),
        (
            "ddv1.queue_depth{env=e2e,host=web-1,queue=fast,service=api}".to_owned(),
            4.0,
        ),
        (format!("ddv1.queue_depth{{{tags}}}"), 9.0),
        (format!("ddv1.latency_seconds.count{{{tags}}}"), 2.0),
        (format!("ddv1.latency_seconds.sum{{{tags}}}"), 0.6),
        (
            format!("ddv1.latency_seconds.bucket{{{tags},upper_bound=0.25}}"),
            1.0,
        ),
    ]
    .into_iter()
    .collect();
    let query = r#"{__name__=~"ddv1\\..*", __name__!~"ddv1\\.aiplatform_.*"}"#;
    let start = std::time::Instant::now();
    loop {
        let got = vm.query(query);
        if got == want {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "got {got:#?}\nwant {want:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The next flush sends the increase, stored as the newest point.
    jobs.with(&["fast"]).inc_by(5);
    depth.with(&["fast"]).set(1.0);
    p.flush(Duration::from_secs(10)).unwrap();
    eventually(Duration::from_secs(30), "the second flush", || {
        let got = vm.query(query);
        let fast = got.get("ddv1.jobs.count{env=e2e,host=web-1,queue=fast,service=api}")?;
        let depth = got.get("ddv1.queue_depth{env=e2e,host=web-1,queue=fast,service=api}")?;
        (*fast == 5.0 && *depth == 1.0).then_some(())
    });
    p.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(p.samples_dropped(), 0);
}
