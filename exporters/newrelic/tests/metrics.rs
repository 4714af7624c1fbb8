//! The Metric API backend against a receiver that records what it gets and answers as New
//! Relic does: every payload decoded, checked against the documented contract, and compared
//! with the registry it came from.

#[path = "../../push/tests/support/mod.rs"]
mod support;

mod contract;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiplatform_metrics::{Buckets, MetricFamily, MetricKind, Registry, Value};
use aiplatform_newrelic::NewRelic;
use aiplatform_push::{Backoff, FlushError, SecretSource};
use contract::{Metric, metric_payload};
use support::*;

const KEY: &str = "0123456789abcdef0123456789abcdef0123NRAL";

fn accepted() -> Reply {
    Reply::status(202).body(r#"{"requestId":"3f6a2c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"}"#)
}

fn newrelic(rx: &Receiver) -> NewRelic {
    NewRelic::license_key(SecretSource::value(KEY))
        .metric_url(rx.url("/metric/v1"))
        .service_name("billing")
        .host_name("web-1")
        .attribute("team", "payments")
}

/// Whether a metric is the application's (the pipeline sends its own `aiplatform_push_*` too).
fn ours(m: &Metric) -> bool {
    !m.name.starts_with("aiplatform_push")
}

fn decoded(rx: &Receiver) -> Vec<Vec<Metric>> {
    rx.requests()
        .iter()
        .map(|r| metric_payload(r, "api-key", KEY))
        .collect()
}

/// The attribute a label becomes (New Relic reserves some names).
fn attr(label: &str) -> String {
    match label {
        "count" | "eventType" => format!("label.{label}"),
        l => l.to_owned(),
    }
}

fn key(name: &str, attrs: &[(String, String)]) -> String {
    let sorted: BTreeMap<_, _> = attrs.iter().cloned().collect();
    let parts: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{name}{{{}}}", parts.join(","))
}

fn bound_text(b: f64) -> String {
    serde_json::Number::from_f64(b).unwrap().to_string()
}

/// What New Relic should hold after every push so far, from the registry's own totals:
/// counts summed over pushes, gauges' last values, per-bucket counts summed over pushes.
#[derive(Debug, Default)]
struct Truth {
    /// count and summary metrics: series → total over all pushes.
    sums: BTreeMap<String, f64>,
    /// gauges: series → value.
    last: BTreeMap<String, f64>,
}

fn truth(registry: &Registry) -> Truth {
    let snapshot = registry.collect();
    let mut t = Truth::default();
    for f in snapshot.families() {
        if f.name().starts_with("aiplatform_push") {
            continue;
        }
        let labels: Vec<&str> = f.label_names().collect();
        for s in f.samples() {
            let attrs: Vec<(String, String)> = labels
                .iter()
                .zip(s.labels.values())
                .map(|(l, v)| (attr(l), v.chars().take(4096).collect()))
                .collect();
            match s.value {
                Value::Counter(c) => {
                    let name = format!("{}{}", f.name(), f.text_suffix());
                    t.sums.insert(key(&name, &attrs), c.as_f64());
                }
                Value::Gauge(v) | Value::Unknown(v) => {
                    if v.is_finite() {
                        t.last.insert(key(f.name(), &attrs), v);
                    }
                }
                Value::Histogram(h) => {
                    t.sums
                        .insert(key(&format!("{}#count", f.name()), &attrs), h.count as f64);
                    t.sums
                        .insert(key(&format!("{}#sum", f.name()), &attrs), h.sum);
                    for (bound, c) in h.cumulative() {
                        if bound.is_finite() {
                            let mut a = attrs.clone();
                            a.push(("histogram.bucket.upperBound".into(), bound_text(bound)));
                            t.sums
                                .insert(key(&format!("{}.buckets", f.name()), &a), c as f64);
                        }
                    }
                }
                Value::Summary(sv) => {
                    t.sums
                        .insert(key(&format!("{}#count", f.name()), &attrs), sv.count as f64);
                    t.sums
                        .insert(key(&format!("{}#sum", f.name()), &attrs), sv.sum);
                    for (q, v) in sv.quantiles() {
                        let mut a = attrs.clone();
                        a.push(("percentile".into(), bound_text(q * 100.0)));
                        t.last
                            .insert(key(&format!("{}.percentiles", f.name()), &a), v);
                    }
                }
            }
        }
    }
    t
}

/// What the receiver holds after `pushes`, folded the way New Relic aggregates.
fn received(pushes: &[Vec<Metric>]) -> Truth {
    let mut t = Truth::default();
    for m in pushes.iter().flatten() {
        if m.name.starts_with("aiplatform_push") {
            continue;
        }
        let attrs: Vec<(String, String)> = m.attributes.clone().into_iter().collect();
        match m.kind.as_str() {
            "count" => *t.sums.entry(m.key()).or_default() += m.number(),
            "gauge" => {
                t.last.insert(m.key(), m.number());
            }
            "summary" => {
                assert!(m.summary("min").is_null() && m.summary("max").is_null());
                *t.sums
                    .entry(key(&format!("{}#count", m.name), &attrs))
                    .or_default() += m.summary("count").as_f64().unwrap();
                *t.sums
                    .entry(key(&format!("{}#sum", m.name), &attrs))
                    .or_default() += m.summary("sum").as_f64().unwrap();
            }
            other => panic!("{other}"),
        }
    }
    t
}

fn assert_same(want: &Truth, got: &Truth) {
    assert_eq!(
        want.sums.keys().collect::<Vec<_>>(),
        got.sums.keys().collect::<Vec<_>>(),
        "count and summary series"
    );
    for (k, w) in &want.sums {
        let g = got.sums[k];
        assert!(
            (w - g).abs() <= 1e-9 * w.abs().max(1.0),
            "{k}: want {w}, got {g}"
        );
    }
    assert_eq!(want.last, got.last, "gauges");
}

#[test]
fn payloads_follow_the_contract_and_add_up_to_the_registry() {
    capture_logs();
    let rx = Receiver::start_with(None, Arc::new(|_: &Captured, _: &[Captured]| accepted()));
    let registry = Registry::builder()
        .const_label("env", "prod")
        .build()
        .unwrap();
    let requests = registry
        .counter_family("http_requests_total", "Requests.", &["method", "code"])
        .unwrap();
    let reserved = registry
        .counter_family("jobs_total", "Jobs.", &["count", "eventType"])
        .unwrap();
    let cpu = registry.counter("cpu_seconds_total", "CPU time.").unwrap();
    let temperature = registry
        .gauge_family("room_temperature_celsius", "Temperature.", &["room"])
        .unwrap();
    let nan = registry.gauge("not_a_number", "Never sent.").unwrap();
    let latency = registry
        .histogram_family(
            "latency_seconds",
            "Latency.",
            &["route"],
            Buckets::new([0.005, 0.01, 0.1, 1.0]).unwrap(),
        )
        .unwrap();
    // A collector's summary, its count growing from one push to the next.
    let phase = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let c = phase.clone();
    registry.register_collector(move |out: &mut Vec<MetricFamily>| {
        let n = c.load(std::sync::atomic::Ordering::Relaxed);
        let mut f = MetricFamily::builder(MetricKind::Summary, "rpc_seconds", "RPC time.")
            .label_names(&["service"])
            .build()
            .unwrap();
        f.push_summary(
            &["auth"],
            &[(0.5, 0.01 * n as f64), (0.99, 0.2)],
            10 * n,
            0.5 * n as f64,
        )
        .unwrap();
        out.push(f);
    });
    let long = "x".repeat(5000);

    requests.with(&["GET", "200"]).inc_by(7);
    requests.with(&["POST", "500"]).inc();
    reserved.with(&["3", "deploy"]).inc_by(2);
    cpu.inc_by_f64(0.25);
    temperature.with(&["kitchen \"main\""]).set(21.5);
    temperature.with(&["Zürich ☃"]).set(-3.0);
    temperature.with(&[long.as_str()]).set(1.0);
    nan.set(f64::NAN);
    for v in [0.001, 0.007, 0.05, 0.05, 3.0] {
        latency.with(&["/pay"]).observe(v);
    }

    let pipeline = newrelic(&rx)
        .metrics(&registry)
        .unwrap()
        .periodic(false)
        .jitter(false)
        .build()
        .unwrap();
    // (An interval shorter than a millisecond is sent as 1 ms: New Relic wants it positive.)
    std::thread::sleep(Duration::from_millis(5));
    pipeline.flush(Duration::from_secs(10)).unwrap();
    let after_first = truth(&registry);

    requests.with(&["GET", "200"]).inc_by(5);
    requests.with(&["PUT", "201"]).inc_by(4); // new between pushes
    phase.store(3, std::sync::atomic::Ordering::Relaxed);
    cpu.inc_by_f64(1.5);
    temperature.with(&["kitchen \"main\""]).set(22.0);
    latency.with(&["/pay"]).observe(0.2);
    latency.with(&["/refund"]).observe(0.009);
    std::thread::sleep(Duration::from_millis(20));
    pipeline.flush(Duration::from_secs(10)).unwrap();

    requests.with(&["GET", "200"]).inc();
    std::thread::sleep(Duration::from_millis(20));
    pipeline.flush(Duration::from_secs(10)).unwrap();

    let pushes = decoded(&rx);
    assert_eq!(pushes.len(), 3, "one request per push");
    assert_same(&after_first, &received(&pushes[..1]));
    assert_same(&truth(&registry), &received(&pushes));

    // The common block: once per request, with the registry's constant labels.
    for m in pushes.iter().flatten() {
        let common: Vec<(&str, &str)> = m
            .common
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            common,
            [
                ("collector.name", "aiplatform-newrelic"),
                ("collector.version", env!("CARGO_PKG_VERSION")),
                ("env", "prod"),
                ("host.name", "web-1"),
                ("instrumentation.provider", "aiplatform"),
                ("service.name", "billing"),
                ("team", "payments"),
            ]
        );
    }
    let text: Vec<String> = rx.requests().iter().map(Captured::text).collect();
    assert_eq!(text[0].matches("\"common\"").count(), 1);

    // Counts are deltas over back-to-back intervals: each starts where the previous ended.
    let series = |k: &str| -> Vec<Metric> {
        pushes
            .iter()
            .flatten()
            .filter(|m| m.key() == k)
            .cloned()
            .collect()
    };
    let get = series("http_requests_total{code=200,method=GET}");
    assert_eq!(
        get.iter().map(Metric::number).collect::<Vec<_>>(),
        [7.0, 5.0, 1.0]
    );
    for w in get.windows(2) {
        assert_eq!(w[1].timestamp, w[0].timestamp + w[0].interval_ms.unwrap());
    }
    assert!(get.iter().all(|m| m.kind == "count"));
    assert_eq!(
        series("http_requests_total{code=201,method=PUT}")
            .iter()
            .map(Metric::number)
            .collect::<Vec<_>>(),
        [4.0, 0.0],
        "a new series sends its whole total, then zero increases"
    );
    // Gauges carry their own time, no interval.
    let kitchen = series("room_temperature_celsius{room=kitchen \"main\"}");
    assert!(
        kitchen
            .iter()
            .all(|m| m.kind == "gauge" && m.interval_ms.is_none())
    );
    // Renamed, cut and left-out things.
    assert_eq!(
        series("jobs_total{label.count=3,label.eventType=deploy}")
            .iter()
            .map(Metric::number)
            .sum::<f64>(),
        2.0
    );
    assert!(
        pushes.iter().flatten().all(|m| m.name != "not_a_number"),
        "NaN is not sent"
    );
    // Histograms: a summary plus one cumulative count per finite bound.
    let first: Vec<&Metric> = pushes[0]
        .iter()
        .filter(|m| m.name.starts_with("latency_seconds"))
        .collect();
    assert_eq!(first.len(), 5, "summary + 4 finite buckets: {first:?}");
    let buckets: Vec<(String, f64)> = first
        .iter()
        .filter(|m| m.name == "latency_seconds.buckets")
        .map(|m| {
            (
                m.attributes["histogram.bucket.upperBound"].clone(),
                m.number(),
            )
        })
        .collect();
    assert_eq!(
        buckets,
        [
            ("0.005".to_owned(), 1.0),
            ("0.01".to_owned(), 2.0),
            ("0.1".to_owned(), 4.0),
            ("1.0".to_owned(), 4.0)
        ],
        "bounds keep their float form"
    );
    let summary = first.iter().find(|m| m.kind == "summary").unwrap();
    assert_eq!(summary.summary("count").as_u64(), Some(5));
    // The pipeline's own metrics travel too, labelled with the backend.
    assert!(
        pushes[2]
            .iter()
            .any(|m| m.name == "aiplatform_push_samples_sent_total"
                && m.attributes.get("backend").map(String::as_str) == Some("newrelic"))
    );
    pipeline.shutdown(Duration::from_secs(5)).unwrap();
}

/// Label values of `len` pseudo-random characters: compresses about as badly as real
/// high-cardinality data.
fn noisy(i: usize, len: usize) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'!' + (x % 90) as u8) as char
        })
        .collect()
}

#[test]
fn bodies_are_cut_below_the_compressed_limit_before_they_are_sent() {
    capture_logs();
    let rx = Receiver::start_with(None, Arc::new(|_: &Captured, _: &[Captured]| accepted()));
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    let family = registry
        .counter_family("uploads_total", "Uploads.", &["object"])
        .unwrap();
    let n = 9_000;
    for i in 0..n {
        family.with(&[noisy(i, 400)]).inc_by(i as u64 + 1);
    }
    let started = Instant::now();
    let pipeline = newrelic(&rx)
        .metrics(&registry)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    pipeline.flush(Duration::from_secs(60)).unwrap();
    let took = started.elapsed();
    let reqs = rx.requests();
    let sizes: Vec<usize> = reqs
        .iter()
        .map(|r| {
            r.headers["content-length"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(reqs.len() >= 3, "{sizes:?}");
    assert!(
        sizes.iter().all(|&s| s <= contract::MAX_PAYLOAD),
        "{sizes:?}"
    );
    assert!(
        sizes.iter().any(|&s| s > contract::MAX_PAYLOAD / 4),
        "the limit is used, not undercut: {sizes:?}"
    );
    let raw: usize = reqs.iter().map(|r| r.body.len()).sum();
    assert!(
        reqs.len() > raw.div_ceil(4 << 20),
        "batches of 4 MiB were cut after compression: {sizes:?}"
    );
    let mut seen: HashMap<String, f64> = HashMap::new();
    for m in reqs
        .iter()
        .flat_map(|r| metric_payload(r, "api-key", KEY))
        .filter(ours)
    {
        assert!(
            seen.insert(m.key(), m.number()).is_none(),
            "sent twice: {}",
            m.name
        );
    }
    assert_eq!(seen.len(), n, "every series exactly once");
    assert_eq!(pipeline.samples_dropped(), 0);
    eprintln!(
        "{n} series of 400 random characters: {} requests, compressed sizes {sizes:?}, {took:?}",
        reqs.len()
    );
}

#[test]
fn a_413_is_answered_by_sending_halves() {
    capture_logs();
    // A receiver that takes at most 40 metrics per request.
    let rx = Receiver::start_with(
        None,
        Arc::new(|q: &Captured, _: &[Captured]| {
            if q.text().matches("\"name\"").count() > 40 {
                Reply::status(413).body("Payload Too Large")
            } else {
                accepted()
            }
        }),
    );
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    let family = registry
        .counter_family("orders_total", "Orders.", &["shop"])
        .unwrap();
    for i in 0..150 {
        family.with(&[format!("shop-{i:03}")]).inc_by(i + 1);
    }
    let pipeline = newrelic(&rx)
        .metrics(&registry)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    pipeline.flush(Duration::from_secs(10)).unwrap();
    let delivered: Vec<Metric> = rx
        .requests()
        .iter()
        .filter(|r| r.text().matches("\"name\"").count() <= 40)
        .flat_map(|r| metric_payload(r, "api-key", KEY))
        .filter(ours)
        .collect();
    let mut names: Vec<String> = delivered.iter().map(Metric::key).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 150, "every series once");
    assert_eq!(delivered.len(), 150, "and only once");
    assert_eq!(
        delivered.iter().map(Metric::number).sum::<f64>(),
        (1..=150).sum::<u64>() as f64
    );
}

#[test]
fn a_400_is_dropped_counted_and_not_retried() {
    capture_logs();
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, _: &[Captured]| {
            Reply::status(400).body(r#"{"error":"invalid payload"}"#)
        }),
    );
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    let family = registry
        .counter_family("refunds_total", "Refunds.", &["reason"])
        .unwrap();
    for r in ["fraud", "late", "damaged"] {
        family.with(&[r]).inc();
    }
    let pipeline = newrelic(&rx)
        .metrics(&registry)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    let err = pipeline.flush(Duration::from_secs(10)).unwrap_err();
    let reqs = rx.requests();
    let sent = metric_payload(&reqs[0], "api-key", KEY);
    assert_eq!(sent.iter().filter(|m| ours(m)).count(), 3);
    match &err {
        FlushError::Dropped {
            samples,
            last_error,
        } => {
            assert_eq!(*samples, sent.len() as u64, "every metric of the request");
            assert!(last_error.as_deref().unwrap().contains("HTTP 400"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests().len(), 1, "no retry");
    assert_eq!(
        metric(
            &registry,
            r#"aiplatform_push_dropped_samples_total{backend="newrelic",reason="rejected"}"#
        ),
        sent.len() as f64
    );
    assert!(logs().contains("invalid payload"), "the answer is logged");
}

#[test]
fn a_403_stops_the_backend_and_says_once_that_the_key_was_refused() {
    capture_logs();
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, _: &[Captured]| Reply::status(403).body("Forbidden")),
    );
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    let family = registry
        .counter_family("logins_total", "Logins.", &["result"])
        .unwrap();
    family.with(&["ok"]).inc();
    family.with(&["denied"]).inc();
    let pipeline = newrelic(&rx)
        .metrics(&registry)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    assert_eq!(
        pipeline.flush(Duration::from_secs(10)),
        Err(FlushError::Stopped)
    );
    family.with(&["ok"]).inc();
    assert_eq!(
        pipeline.flush(Duration::from_secs(10)),
        Err(FlushError::Stopped)
    );
    assert_eq!(rx.requests().len(), 1, "nothing is sent after the refusal");
    assert_eq!(
        metric(
            &registry,
            r#"aiplatform_push_dropped_samples_total{backend="newrelic",reason="stopped"}"#
        ),
        metric_payload(&rx.requests()[0], "api-key", KEY).len() as f64,
        "what the refused request held is dropped"
    );
    let logs = logs();
    let said: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("refused the license key"))
        .collect();
    assert_eq!(said.len(), 1, "said once:\n{logs}");
    assert!(
        said[0].contains("ERROR") && said[0].contains("Api-Key"),
        "{}",
        said[0]
    );
    assert!(!logs.contains(KEY), "the key is never logged");
}

#[test]
fn a_429_waits_for_retry_after_and_a_503_is_retried() {
    capture_logs();
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, seen: &[Captured]| match seen.len() {
            1 => Reply::status(429).header("Retry-After", "1"),
            2 => Reply::status(503),
            _ => accepted(),
        }),
    );
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    registry
        .counter("payments_total", "Payments.")
        .unwrap()
        .inc_by(9);
    let pipeline = newrelic(&rx)
        .metrics(&registry)
        .unwrap()
        .periodic(false)
        .backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
        .build()
        .unwrap();
    pipeline.flush(Duration::from_secs(10)).unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs[1].at - reqs[0].at >= Duration::from_millis(950),
        "waited {:?}",
        reqs[1].at - reqs[0].at
    );
    assert!(
        reqs.windows(2).all(|w| w[0].body == w[1].body),
        "the same payload"
    );
    let m = metric_payload(&reqs[2], "api-key", KEY);
    let payments: Vec<&Metric> = m.iter().filter(|m| ours(m)).collect();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].number(), 9.0);
}
