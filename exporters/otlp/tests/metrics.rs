//! Metrics over OTLP/HTTP and OTLP/gRPC, read back by an independent decoder (Python's
//! `opentelemetry-proto`): names, types, attributes and values equal the registry's, and
//! deltas add up to the cumulative values.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::{Buckets, ExpositionFormat, Opts, Registry, Unit};
use aiplatform_otlp::{Otlp, Protocol};
use aiplatform_push::{Compression, FlushError, Pipeline, Temporality};
use aiplatform_testkit::Scrape;
use serde_json::Value;
use support::{Captured, Receiver, Reply, attribute, attributes, decode};

const WAIT: Duration = Duration::from_secs(10);

struct App {
    registry: Registry,
    requests: aiplatform_metrics::Family<aiplatform_metrics::Counter>,
    inflight: aiplatform_metrics::Gauge,
    latency: aiplatform_metrics::Family<aiplatform_metrics::Histogram>,
}

fn app() -> App {
    let registry = Registry::builder()
        .const_label("region", "eu-1")
        .build()
        .unwrap();
    let requests = registry
        .counter_family(
            "http_requests_total",
            "Requests served.",
            &["method", "status"],
        )
        .unwrap();
    let inflight = registry
        .gauge("inflight_requests", "Requests in flight.")
        .unwrap();
    let latency = registry
        .register(
            Opts::histogram(
                "request_duration",
                "Time to serve a request.",
                Buckets::new([0.01, 0.1, 1.0]).unwrap(),
            )
            .unit(Unit::SECONDS)
            .label_names(&["route"]),
        )
        .unwrap();
    App {
        registry,
        requests,
        inflight,
        latency,
    }
}

/// Some traffic, different in each round.
fn traffic(app: &App, round: u64) {
    app.requests.with(&["GET", "200"]).inc_by(3 + round);
    app.requests.with(&["POST", "500"]).inc_by(round % 2);
    if round >= 1 {
        app.requests.with(&["PUT", "201"]).inc();
    }
    app.inflight.set(round as f64 * 1.5);
    for (i, v) in [0.005, 0.05, 0.5, 5.0, 0.05].iter().enumerate() {
        if i as u64 <= round + 1 {
            app.latency.with(&["/predict"]).observe(*v);
        }
    }
}

fn otlp(receiver: &Receiver, protocol: Protocol, extra: &[(&str, &str)]) -> Otlp {
    let mut vars = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), receiver.url()),
        ("OTEL_SERVICE_NAME".to_owned(), "billing".to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES".to_owned(),
            "deployment.environment.name=prod,team=ml%20platform".to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
            "x-api-key=s3cr3t".to_owned(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Otlp::from_vars(vars).protocol(protocol)
}

fn start(app: &App, otlp: &Otlp) -> Pipeline {
    otlp.metrics(&app.registry)
        .unwrap()
        .expect("metrics on")
        .periodic(false)
        .build()
        .unwrap()
}

/// Every data point of the decoded requests, by metric name then attributes (sorted, with
/// the metric's description, unit and data kind alongside).
/// (kind, description, unit, temporality, is_monotonic)
type Meta = (String, String, String, Option<String>, Option<bool>);
/// (metric name, sorted attributes)
type SeriesKey = (String, Vec<(String, String)>);

#[derive(Debug, Default)]
struct Decoded {
    /// name -> (kind, description, unit, temporality, is_monotonic)
    meta: BTreeMap<String, Meta>,
    /// (name, attributes) -> points in arrival order
    points: BTreeMap<SeriesKey, Vec<Value>>,
    resources: Vec<Vec<(String, Value)>>,
    scopes: Vec<String>,
}

fn decoded(requests: &[Captured]) -> Decoded {
    let messages: Vec<Vec<u8>> = requests.iter().map(|r| r.message.clone()).collect();
    let mut d = Decoded::default();
    for req in decode("metrics", &messages) {
        for rm in req["resource_metrics"].as_array().unwrap() {
            d.resources.push(attributes(&rm["resource"]["attributes"]));
            for sm in rm["scope_metrics"].as_array().unwrap() {
                d.scopes
                    .push(sm["scope"]["name"].as_str().unwrap().to_owned());
                for m in sm["metrics"].as_array().unwrap() {
                    let name = m["name"].as_str().unwrap().to_owned();
                    let (kind, data) = ["sum", "gauge", "histogram", "summary"]
                        .iter()
                        .find_map(|k| m.get(*k).map(|v| (k.to_string(), v)))
                        .expect("a data kind");
                    let meta = (
                        kind,
                        m["description"].as_str().unwrap_or("").to_owned(),
                        m["unit"].as_str().unwrap_or("").to_owned(),
                        data["aggregation_temporality"].as_str().map(str::to_owned),
                        data["is_monotonic"].as_bool(),
                    );
                    let old = d.meta.insert(name.clone(), meta.clone());
                    assert!(old.is_none() || old == Some(meta), "{name} changed shape");
                    for p in data["data_points"].as_array().unwrap() {
                        let mut attrs: Vec<(String, String)> = attributes(&p["attributes"])
                            .into_iter()
                            .map(|(k, v)| (k, v.as_str().expect("string attribute").to_owned()))
                            .collect();
                        attrs.sort();
                        d.points
                            .entry((name.clone(), attrs))
                            .or_default()
                            .push(p.clone());
                    }
                }
            }
        }
    }
    d
}

fn key(name: &str, attrs: &[(&str, &str)]) -> SeriesKey {
    let mut a: Vec<(String, String)> = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("region".to_owned(), "eu-1".to_owned())])
        .collect();
    a.sort();
    (name.to_owned(), a)
}

fn int(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        Value::Number(n) => n.as_u64().unwrap(),
        Value::Null => 0,
        _ => panic!("{v}"),
    }
}

fn float(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Checks the requests against the registry as text exposition shows it now.
fn assert_cumulative_equal(app: &App, d: &Decoded) {
    let scrape =
        Scrape::parse(String::from_utf8(app.registry.encode(ExpositionFormat::Text)).unwrap());
    // Counters: monotonic cumulative sums with integer values.
    assert_eq!(
        d.meta["http_requests"],
        (
            "sum".into(),
            "Requests served.".into(),
            String::new(),
            Some("AGGREGATION_TEMPORALITY_CUMULATIVE".into()),
            Some(true)
        )
    );
    let series = scrape.series("http_requests_total");
    assert!(series.len() >= 2);
    for s in series {
        let attrs: Vec<(&str, &str)> = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "region")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let points = &d.points[&key("http_requests", &attrs)];
        let last = points.last().unwrap();
        assert_eq!(
            int(&last["as_int"]) as f64,
            s.scalar().unwrap(),
            "{attrs:?}"
        );
        assert!(int(&last["start_time_unix_nano"]) > 0);
        assert!(int(&last["time_unix_nano"]) >= int(&last["start_time_unix_nano"]));
    }
    // Gauges: doubles, no temporality.
    assert_eq!(d.meta["inflight_requests"].0, "gauge");
    let g = d.points[&key("inflight_requests", &[])].last().unwrap();
    assert_eq!(
        float(&g["as_double"]),
        scrape.value("inflight_requests", &[])
    );
    // Histograms: explicit bounds, per-bucket counts, count and sum; unit in UCUM.
    let (kind, _, unit, temporality, _) = &d.meta["request_duration_seconds"];
    assert_eq!(
        (kind.as_str(), unit.as_str(), temporality.as_deref()),
        ("histogram", "s", Some("AGGREGATION_TEMPORALITY_CUMULATIVE"))
    );
    let h = d.points[&key("request_duration_seconds", &[("route", "/predict")])]
        .last()
        .unwrap();
    let bounds: Vec<f64> = h["explicit_bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(float)
        .collect();
    assert_eq!(bounds, [0.01, 0.1, 1.0]);
    let counts: Vec<u64> = h["bucket_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(int)
        .collect();
    let labels = [("route", "/predict")];
    let mut cumulative = 0;
    for (i, le) in ["0.01", "0.1", "1", "+Inf"].iter().enumerate() {
        cumulative += counts[i];
        let want = scrape.value(
            "request_duration_seconds_bucket",
            &[("route", "/predict"), ("le", le)],
        );
        assert_eq!(cumulative as f64, want, "le={le}");
    }
    assert_eq!(
        int(&h["count"]) as f64,
        scrape.value("request_duration_seconds_count", &labels)
    );
    assert_eq!(
        float(&h["sum"]),
        scrape.value("request_duration_seconds_sum", &labels)
    );
}

fn assert_resource(d: &Decoded) {
    assert!(!d.resources.is_empty());
    for r in &d.resources {
        assert_eq!(attribute(r, "service.name"), Some("billing"));
        assert_eq!(attribute(r, "deployment.environment.name"), Some("prod"));
        assert_eq!(attribute(r, "team"), Some("ml platform"));
        assert_eq!(attribute(r, "telemetry.sdk.language"), Some("rust"));
    }
    assert!(d.scopes.iter().all(|s| s == "aiplatform-metrics"));
}

#[test]
fn cumulative_metrics_over_http_decode_to_the_registry_values() {
    let receiver = Receiver::start();
    let app = app();
    let otlp = otlp(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")],
    );
    let pipeline = start(&app, &otlp);
    for round in 0..3 {
        traffic(&app, round);
        pipeline.flush(WAIT).unwrap();
    }
    let requests = receiver.requests();
    assert!(requests.len() >= 3);
    for r in &requests {
        assert_eq!(r.path, "/v1/metrics");
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("x-api-key"), Some("s3cr3t"));
    }
    let d = decoded(&requests);
    assert_resource(&d);
    assert_cumulative_equal(&app, &d);
    // The pipeline's own health is pushed too, as any other family.
    assert!(d.meta.contains_key("aiplatform_push_samples_sent"));
    pipeline.shutdown(WAIT).unwrap();
}

#[test]
fn deltas_add_up_to_the_cumulative_values() {
    let receiver = Receiver::start();
    let app = app();
    let otlp = otlp(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")],
    );
    let pipeline = start(&app, &otlp);
    for round in 0..5 {
        traffic(&app, round);
        pipeline.flush(WAIT).unwrap();
    }
    let requests = receiver.requests();
    let d = decoded(&requests);
    assert_resource(&d);
    assert_eq!(
        d.meta["http_requests"].3.as_deref(),
        Some("AGGREGATION_TEMPORALITY_DELTA")
    );
    assert_eq!(d.meta["http_requests"].4, Some(true));
    assert_eq!(
        d.meta["request_duration_seconds"].3.as_deref(),
        Some("AGGREGATION_TEMPORALITY_DELTA")
    );
    let scrape =
        Scrape::parse(String::from_utf8(app.registry.encode(ExpositionFormat::Text)).unwrap());
    for s in scrape.series("http_requests_total") {
        let attrs: Vec<(&str, &str)> = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "region")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let points = &d.points[&key("http_requests", &attrs)];
        let total: u64 = points.iter().map(|p| int(&p["as_int"])).sum();
        assert_eq!(total as f64, s.scalar().unwrap(), "{attrs:?}");
        // Deltas cover intervals that do not overlap (a gap is an interval without change,
        // left out).
        for w in points.windows(2) {
            assert!(
                int(&w[1]["start_time_unix_nano"]) >= int(&w[0]["time_unix_nano"]),
                "{attrs:?}"
            );
            assert!(int(&w[1]["time_unix_nano"]) > int(&w[1]["start_time_unix_nano"]));
        }
        if attrs == [("method", "GET"), ("status", "200")] {
            for w in points.windows(2) {
                assert_eq!(w[1]["start_time_unix_nano"], w[0]["time_unix_nano"]);
            }
        }
    }
    // POST 500 appears with 0, then grows by 1 every other round: unchanged series are left
    // out of a delta push (rounds 0, 1 and 3 are sent).
    assert_eq!(
        d.points[&key("http_requests", &[("method", "POST"), ("status", "500")])].len(),
        3
    );
    let labels = [("route", "/predict")];
    let h = &d.points[&key("request_duration_seconds", &labels)];
    let count: u64 = h.iter().map(|p| int(&p["count"])).sum();
    let sum: f64 = h.iter().map(|p| float(&p["sum"])).sum();
    assert_eq!(
        count as f64,
        scrape.value("request_duration_seconds_count", &labels)
    );
    assert!((sum - scrape.value("request_duration_seconds_sum", &labels)).abs() < 1e-9);
    let mut buckets = [0u64; 4];
    for p in h {
        for (i, c) in p["bucket_counts"].as_array().unwrap().iter().enumerate() {
            buckets[i] += int(c);
        }
    }
    assert_eq!(buckets.iter().sum::<u64>(), count);
    assert_eq!(
        buckets[0] + buckets[1],
        scrape.value(
            "request_duration_seconds_bucket",
            &[("route", "/predict"), ("le", "0.1")]
        ) as u64
    );
    // Gauges are sent whole every time.
    assert_eq!(d.points[&key("inflight_requests", &[])].len(), 5);
    pipeline.shutdown(WAIT).unwrap();
}

#[test]
fn metrics_over_grpc_decode_to_the_registry_values() {
    let receiver = Receiver::start_grpc();
    let app = app();
    let otlp = otlp(
        &receiver,
        Protocol::Grpc,
        &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")],
    );
    let pipeline = start(&app, &otlp);
    for round in 0..2 {
        traffic(&app, round);
        pipeline.flush(WAIT).unwrap();
    }
    let requests = receiver.requests();
    assert!(requests.len() >= 2);
    for r in &requests {
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(
            r.path,
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        );
        assert_eq!(r.header("content-type"), Some("application/grpc"));
        assert_eq!(r.header("te"), Some("trailers"));
        assert_eq!(r.header("grpc-encoding"), Some("gzip"));
        assert_eq!(r.header("x-api-key"), Some("s3cr3t"));
        assert!(r.header("grpc-timeout").is_some_and(|t| t.ends_with('m')));
    }
    let d = decoded(&requests);
    assert_resource(&d);
    assert_cumulative_equal(&app, &d);
    assert_eq!(pipeline.samples_dropped(), 0);
    pipeline.shutdown(WAIT).unwrap();
}

#[test]
fn label_values_with_escapes_empty_values_and_many_labels_decode_as_registered() {
    let receiver = Receiver::start();
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    let f = registry
        .counter_family("odd_total", "Odd values.", &["a", "b", "c"])
        .unwrap();
    // Longer than 127 bytes: lengths of two bytes.
    let long = "long ".repeat(60);
    let rows: [[&str; 3]; 7] = [
        ["plain", "x", "y"],
        [&long, "x", &long],
        ["say \"hi\"", "back\\slash", "line\nfeed"],
        ["", "empty first", ""],
        ["ünïcødé ✓", "=\",", "\""],
        ["\\", "a=\"b\",c=\"d\"", "last"],
        ["trailing\\", "\n", "ok"],
    ];
    for (i, row) in rows.iter().enumerate() {
        f.with(row).inc_by(i as u64 + 1);
    }
    // More labels than the encoder reads on the stack.
    let names: Vec<String> = (0..20).map(|i| format!("l{i:02}")).collect();
    let wide = registry
        .gauge_family(
            "wide",
            "Many labels.",
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .unwrap();
    let values: Vec<String> = (0..20).map(|i| format!("v\"{i}")).collect();
    wide.with(&values).set(7.0);
    let otlp = Otlp::from_vars([("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url())]);
    let pipeline = otlp
        .metrics(&registry)
        .unwrap()
        .unwrap()
        .periodic(false)
        .compression(Compression::Gzip)
        .temporality(Temporality::Cumulative)
        .build()
        .unwrap();
    pipeline.flush(WAIT).unwrap();
    let d = decoded(&receiver.requests());
    for (i, row) in rows.iter().enumerate() {
        // Empty values are left out, as Prometheus treats them as absent.
        let mut attrs: Vec<(String, String)> = ["a", "b", "c"]
            .iter()
            .zip(row)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attrs.sort();
        let p = &d.points[&("odd".to_owned(), attrs)];
        assert_eq!(int(&p[0]["as_int"]), i as u64 + 1, "{row:?}");
    }
    let mut attrs: Vec<(String, String)> = names.iter().cloned().zip(values).collect();
    attrs.sort();
    assert_eq!(
        float(&d.points[&("wide".to_owned(), attrs)][0]["as_double"]),
        7.0
    );
    let ours = d.points.keys().filter(|(n, _)| n == "odd" || n == "wide");
    assert_eq!(ours.count(), rows.len() + 1);
    pipeline.shutdown(WAIT).unwrap();
}

#[test]
fn large_registries_are_split_across_requests_without_losing_a_point() {
    let receiver = Receiver::start();
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    let f = registry
        .counter_family("work_total", "Work done.", &["shard"])
        .unwrap();
    for i in 0..10_000u64 {
        f.with(&[format!("s{i:05}")]).inc_by(i + 1);
    }
    let otlp = Otlp::from_vars([("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url())]);
    let pipeline = otlp
        .metrics(&registry)
        .unwrap()
        .unwrap()
        .periodic(false)
        .max_batch_series(1000)
        .compression(Compression::None)
        .temporality(Temporality::Cumulative)
        .build()
        .unwrap();
    pipeline.flush(WAIT).unwrap();
    let requests = receiver.requests();
    assert!(requests.len() >= 10, "{} requests", requests.len());
    let d = decoded(&requests);
    let mut seen = 0;
    for i in 0..10_000u64 {
        let k = (
            "work".to_owned(),
            vec![("shard".to_owned(), format!("s{i:05}"))],
        );
        let p = &d.points[&k];
        assert_eq!(p.len(), 1);
        assert_eq!(int(&p[0]["as_int"]), i + 1);
        seen += 1;
    }
    assert_eq!(seen, 10_000);
    pipeline.shutdown(WAIT).unwrap();
}

#[test]
fn a_partial_success_counts_the_rejected_points_as_dropped() {
    // ExportMetricsServiceResponse { partial_success { rejected_data_points: 2, error_message } }
    let mut ps = Vec::new();
    aiplatform_push::proto::int64(&mut ps, 1, 2);
    aiplatform_push::proto::string(&mut ps, 2, "2 points out of order");
    let mut body = Vec::new();
    aiplatform_push::proto::bytes(&mut body, 1, &ps);
    let receiver = Receiver::start_with(
        None,
        Arc::new(move |_: &Captured, _| Reply::ok().body(body.clone())),
    );
    let app = app();
    let pipeline = start(&app, &otlp(&receiver, Protocol::HttpProtobuf, &[]));
    traffic(&app, 0);
    match pipeline.flush(WAIT) {
        Err(FlushError::Dropped {
            samples,
            last_error,
        }) => {
            assert_eq!(samples, 2);
            assert_eq!(
                last_error.as_deref(),
                Some("partial success: 2 points out of order")
            );
        }
        other => panic!("{other:?}"),
    }
    // Not resent: the receiver took the rest.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(pipeline.samples_dropped(), 2);
    let text = String::from_utf8(app.registry.encode(ExpositionFormat::Text)).unwrap();
    let dropped = Scrape::parse(text);
    assert_eq!(
        dropped.value(
            "aiplatform_push_dropped_samples_total",
            &[("backend", "otlp"), ("reason", "rejected")]
        ),
        2.0
    );
    // The last push at shutdown meets the same answer.
    assert!(matches!(
        pipeline.shutdown(WAIT),
        Err(FlushError::Dropped { samples: 2, .. })
    ));
}
