//! The `WriteRequest` bytes, decoded by an independent decoder (prost, from the messages of
//! Prometheus' `remote.proto` and `types.proto`).

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use aiplatform_metrics::{Buckets, MetricFamily, MetricKind, NO_LABELS, Registry};
use aiplatform_push::{Compression, Cycle, Temporality};
use aiplatform_remote_write::RemoteWrite;
use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
struct MetricMetadata {
    #[prost(int32, tag = "1")]
    r#type: i32,
    #[prost(string, tag = "2")]
    metric_family_name: String,
    #[prost(string, tag = "4")]
    help: String,
    #[prost(string, tag = "5")]
    unit: String,
}

fn registry() -> Registry {
    let r = Registry::builder()
        .const_label("env", "test")
        .without_self_metrics()
        .build()
        .unwrap();
    let c = r
        .counter_family(
            "rw_requests_total",
            "Requests.",
            &["Zone", "method", "path"],
        )
        .unwrap();
    c.with(&["z1", "GET", "/a\"b\\c\nü"]).inc_by(7);
    c.with(&["z1", "POST", ""]).inc_by(2);
    r.gauge("rw_temperature_celsius", "Temp.")
        .unwrap()
        .set(-3.25);
    let h = r
        .histogram(
            "rw_latency_seconds",
            "Latency.",
            Buckets::new([0.005, 1.0, 1e6]).unwrap(),
        )
        .unwrap();
    for v in [0.001, 0.5, 0.7, 2.0, 5e6] {
        h.observe(v);
    }
    r.counter("rw_cpu_seconds_total", "CPU.")
        .unwrap()
        .inc_by_f64(1.5);
    r.register_collector(|out: &mut Vec<MetricFamily>| {
        let mut s = MetricFamily::builder(MetricKind::Summary, "rw_rpc_seconds", "RPC.")
            .build()
            .unwrap();
        s.push_summary(NO_LABELS, &[(0.5, 0.1), (0.99, 0.9)], 10, 2.0)
            .unwrap();
        out.push(s);
        let mut x = MetricFamily::builder(MetricKind::Counter, "rw_xact_commit", "Commits.")
            .text_name_as_given()
            .build()
            .unwrap();
        x.push_counter(NO_LABELS, 11.0).unwrap();
        out.push(x);
    });
    r
}

fn decode(r: &Registry, rw: RemoteWrite, series_per_batch: u64) -> Vec<WriteRequest> {
    let mut cycle = Cycle::new(r, rw.encoder(), Temporality::Cumulative, UNIX_EPOCH)
        .compression(Compression::Snappy)
        .limits(1 << 20, series_per_batch);
    let mut out = Vec::new();
    cycle.run_at(
        UNIX_EPOCH + Duration::from_millis(1_767_322_800_123),
        &mut |b| out.push(WriteRequest::decode(&b.uncompressed().unwrap()[..]).unwrap()),
    );
    out
}

fn key(ts: &TimeSeries) -> String {
    ts.labels
        .iter()
        .map(|l| format!("{}={}", l.name, l.value))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn series_labels_values_and_metadata() {
    let r = registry();
    let rw = RemoteWrite::new("http://127.0.0.1:1/api/v1/write")
        .external_label("cluster", "c1")
        .external_label("env", "ignored: the registry's constant label wins");
    let reqs = decode(&r, rw, 2000);
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    let mut got = BTreeMap::new();
    for ts in &req.timeseries {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "labels sorted by name");
        assert!(names.contains(&"__name__"));
        assert!(
            ts.labels.iter().all(|l| !l.value.is_empty()),
            "no empty values"
        );
        assert_eq!(ts.samples.len(), 1);
        assert_eq!(ts.samples[0].timestamp, 1_767_322_800_123);
        got.insert(key(ts), ts.samples[0].value);
    }
    let want: BTreeMap<String, f64> = [
        (
            "Zone=z1,__name__=rw_requests_total,cluster=c1,env=test,method=GET,path=/a\"b\\c\nü",
            7.0,
        ),
        (
            "Zone=z1,__name__=rw_requests_total,cluster=c1,env=test,method=POST",
            2.0,
        ),
        ("__name__=rw_temperature_celsius,cluster=c1,env=test", -3.25),
        (
            "__name__=rw_latency_seconds_bucket,cluster=c1,env=test,le=0.005",
            1.0,
        ),
        (
            "__name__=rw_latency_seconds_bucket,cluster=c1,env=test,le=1",
            3.0,
        ),
        (
            "__name__=rw_latency_seconds_bucket,cluster=c1,env=test,le=1e+06",
            4.0,
        ),
        (
            "__name__=rw_latency_seconds_bucket,cluster=c1,env=test,le=+Inf",
            5.0,
        ),
        (
            "__name__=rw_latency_seconds_sum,cluster=c1,env=test",
            0.001 + 0.5 + 0.7 + 2.0 + 5e6,
        ),
        ("__name__=rw_latency_seconds_count,cluster=c1,env=test", 5.0),
        ("__name__=rw_cpu_seconds_total,cluster=c1,env=test", 1.5),
        (
            "__name__=rw_rpc_seconds,cluster=c1,env=test,quantile=0.5",
            0.1,
        ),
        (
            "__name__=rw_rpc_seconds,cluster=c1,env=test,quantile=0.99",
            0.9,
        ),
        ("__name__=rw_rpc_seconds_sum,cluster=c1,env=test", 2.0),
        ("__name__=rw_rpc_seconds_count,cluster=c1,env=test", 10.0),
        ("__name__=rw_xact_commit,cluster=c1,env=test", 11.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, want);
    let meta: BTreeMap<&str, (i32, &str, &str)> = req
        .metadata
        .iter()
        .map(|m| {
            (
                m.metric_family_name.as_str(),
                (m.r#type, m.help.as_str(), m.unit.as_str()),
            )
        })
        .collect();
    assert_eq!(meta["rw_requests_total"], (1, "Requests.", ""));
    assert_eq!(meta["rw_temperature_celsius"], (2, "Temp.", ""));
    assert_eq!(meta["rw_latency_seconds"], (3, "Latency.", ""));
    assert_eq!(meta["rw_rpc_seconds"], (5, "RPC.", ""));
    assert_eq!(meta["rw_xact_commit"], (1, "Commits.", ""));
}

#[test]
fn batches_keep_a_histogram_together_and_metadata_can_be_off() {
    let r = registry();
    let reqs = decode(
        &r,
        RemoteWrite::new("http://127.0.0.1:1/").metadata(false),
        1,
    );
    assert!(reqs.iter().all(|q| q.metadata.is_empty()));
    // One series per request: the histogram's six series travel in one request.
    let hist = reqs
        .iter()
        .find(|q| {
            q.timeseries
                .iter()
                .any(|t| key(t).contains("rw_latency_seconds_bucket"))
        })
        .unwrap();
    assert_eq!(hist.timeseries.len(), 6);
    assert_eq!(reqs.iter().map(|q| q.timeseries.len()).sum::<usize>(), 15);
}

#[test]
fn external_label_names_are_checked() {
    let r = registry();
    for bad in ["", "1x", "a-b", "__reserved"] {
        let err = RemoteWrite::new("http://127.0.0.1:1/")
            .external_label(bad, "v")
            .pipeline(&r)
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(err.to_string().contains("external label"), "{err}");
    }
}
