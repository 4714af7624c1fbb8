//! Agentless metrics, v2: a contract test. The stand-in intake decompresses each request,
//! checks every field and limit `POST /api/v2/series` documents, and the values are compared
//! with what the registry recorded. v1 against a real receiver is in `victoria.rs`.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aiplatform_datadog::{CounterType, Datadog, SeriesApi};
use aiplatform_metrics::{Buckets, Registry};
use aiplatform_push::{Compression, Pipeline};
use support::{Intake, Request};

const KEY: &str = "0123456789abcdef0123456789abcdef";
const FLUSH: Duration = Duration::from_secs(10);

fn config(intake: &Intake) -> Datadog {
    let vars = [
        ("DD_API_KEY", KEY.to_owned()),
        ("DD_DD_URL", intake.url()),
        ("DD_HOSTNAME", "web-1".to_owned()),
        ("DD_ENV", "test".to_owned()),
        ("DD_SERVICE", "api".to_owned()),
        ("DD_VERSION", "1.2.3".to_owned()),
    ];
    Datadog::from_vars(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
}

fn start(dd: &Datadog, registry: &Registry) -> Pipeline {
    dd.series_pipeline(registry)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap()
}

fn registry() -> Registry {
    Registry::builder().without_self_metrics().build().unwrap()
}

/// One point as the intake received it: `metric{sorted tags}` → (type, interval, value).
type Points = BTreeMap<String, (u64, Option<u64>, f64)>;

/// Checks one v2 request against the documented contract and returns its points.
fn check_v2(req: &Request) -> Points {
    assert_eq!(req.path, "/api/v2/series");
    assert_eq!(req.header("dd-api-key"), Some(KEY));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert!(req.raw.len() <= 512_000, "body of {} bytes", req.raw.len());
    assert!(
        req.body.len() < 5_242_880,
        "{} bytes decompressed",
        req.body.len()
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let payload = req.json();
    let obj = payload.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["series"], "{payload}");
    let series = obj["series"].as_array().unwrap();
    assert!(!series.is_empty());
    let mut out = Points::new();
    for s in series {
        let s = s.as_object().unwrap();
        for k in s.keys() {
            assert!(
                [
                    "metric",
                    "type",
                    "interval",
                    "points",
                    "tags",
                    "resources",
                    "unit"
                ]
                .contains(&k.as_str()),
                "undocumented field {k}"
            );
        }
        let metric = s["metric"].as_str().unwrap();
        assert!(metric.len() <= 200 && metric.starts_with(|c: char| c.is_ascii_alphabetic()));
        assert!(
            metric
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'),
            "{metric}"
        );
        let ty = s["type"].as_u64().expect("type is an integer");
        assert!(matches!(ty, 1..=3), "type {ty}");
        let interval = s
            .get("interval")
            .map(|v| v.as_u64().expect("interval is an integer"));
        assert_eq!(
            interval.is_some(),
            ty != 3,
            "interval with count/rate only: {s:?}"
        );
        assert!(interval.is_none_or(|i| i >= 1));
        let points = s["points"].as_array().unwrap();
        assert_eq!(points.len(), 1);
        let p = points[0].as_object().unwrap();
        assert_eq!(p.len(), 2);
        let ts = p["timestamp"].as_i64().expect("seconds as an integer");
        assert!(
            ts > now - 3600 && ts <= now + 600,
            "timestamp {ts} vs now {now}"
        );
        let value = p["value"].as_f64().unwrap();
        assert!(value.is_finite());
        let resources = s["resources"].as_array().unwrap();
        assert_eq!(
            resources,
            &[serde_json::json!({"name": "web-1", "type": "host"})]
        );
        if let Some(u) = s.get("unit") {
            assert!(u.is_string());
        }
        let mut tags: Vec<&str> = s["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        for t in &tags {
            assert!(
                !t.ends_with(':') && t.len() <= 200 && !t.contains(','),
                "tag {t}"
            );
        }
        for unified in ["env:test", "service:api", "version:1.2.3"] {
            assert!(tags.contains(&unified), "{unified} missing in {tags:?}");
        }
        tags.retain(|t| !["env:test", "service:api", "version:1.2.3"].contains(t));
        tags.sort_unstable();
        let key = format!("{metric}{{{}}}", tags.join(","));
        assert!(
            out.insert(key.clone(), (ty, interval, value)).is_none(),
            "{key} twice"
        );
    }
    out
}

fn app_points(requests: &[Request]) -> Points {
    let mut all = Points::new();
    for r in requests {
        for (k, v) in check_v2(r) {
            if !k.starts_with("aiplatform_") {
                assert!(all.insert(k.clone(), v).is_none(), "{k} in two requests");
            }
        }
    }
    all
}

fn value(points: &Points, key: &str) -> (u64, f64) {
    let (t, _, v) = points
        .get(key)
        .unwrap_or_else(|| panic!("{key} not in {:#?}", points.keys()));
    (*t, *v)
}

#[test]
fn v2_every_field_as_documented_and_the_registry_values() {
    let intake = Intake::accepting();
    let r = registry();
    let jobs = r
        .counter_family("jobs_total", "Jobs.", &["queue", "empty"])
        .unwrap();
    let depth = r.gauge("queue_depth", "Depth.").unwrap();
    let latency = r
        .histogram(
            "request_latency_seconds",
            "Latency.",
            Buckets::new([0.1, 1.0]).unwrap(),
        )
        .unwrap();
    let p = start(&config(&intake), &r);
    jobs.with(&["fast", ""]).inc_by(42);
    jobs.with(&["a,b|c", ""]).inc();
    depth.set(7.5);
    latency.observe(0.05);
    latency.observe(0.5);
    latency.observe(3.0);
    p.flush(FLUSH).unwrap();
    let first = app_points(&intake.requests());
    assert_eq!(value(&first, "jobs.count{queue:fast}"), (1, 42.0));
    // `,` and `|` cannot be in a tag: replaced, as Datadog would.
    assert_eq!(value(&first, "jobs.count{queue:a_b_c}"), (1, 1.0));
    assert_eq!(value(&first, "queue_depth{}"), (3, 7.5));
    assert_eq!(value(&first, "request_latency_seconds.count{}"), (1, 3.0));
    assert_eq!(value(&first, "request_latency_seconds.sum{}"), (1, 3.55));
    assert_eq!(
        value(&first, "request_latency_seconds.bucket{upper_bound:0.1}"),
        (1, 1.0)
    );
    assert_eq!(
        value(&first, "request_latency_seconds.bucket{upper_bound:1.0}"),
        (1, 2.0)
    );
    assert_eq!(first.len(), 7, "{first:#?}");
    let sent = intake.requests();
    assert_eq!(sent[0].header("content-encoding"), Some("gzip"));

    // Counts are the increase since the previous flush, over `interval` seconds.
    std::thread::sleep(Duration::from_millis(1100));
    jobs.with(&["fast", ""]).inc_by(8);
    depth.set(1.0);
    let n = intake.requests().len();
    p.flush(FLUSH).unwrap();
    let second = app_points(&intake.requests()[n..]);
    let (ty, interval, v) = second["jobs.count{queue:fast}"];
    assert_eq!((ty, v), (1, 8.0));
    assert!(interval.unwrap() >= 1);
    assert_eq!(value(&second, "queue_depth{}"), (3, 1.0));
    assert!(
        !second.contains_key("jobs.count{queue:a_b_c}"),
        "unchanged counts are left out"
    );
    p.shutdown(FLUSH).unwrap();
    assert_eq!(p.samples_dropped(), 0);
}

#[test]
fn v2_rates_are_per_second_over_the_interval() {
    let intake = Intake::accepting();
    let r = registry();
    let c = r.counter("bytes_total", "Bytes.").unwrap();
    let p = config(&intake)
        .counters_as(CounterType::Rate)
        .series_pipeline(&r)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    p.flush(FLUSH).unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    c.inc_by(100);
    let n = intake.requests().len();
    p.flush(FLUSH).unwrap();
    let pts = app_points(&intake.requests()[n..]);
    let (ty, interval, v) = pts["bytes.count{}"];
    assert_eq!(ty, 2);
    let interval = interval.unwrap();
    assert!((2..=5).contains(&interval), "{interval}");
    assert!(
        (v - 100.0 / interval as f64).abs() < 1e-9,
        "{v} over {interval}s"
    );
    p.shutdown(FLUSH).unwrap();
}

/// Many series uncompressed: cut into bodies of at most 512000 bytes, every series once.
#[test]
fn v2_bodies_stay_under_the_intake_limit() {
    let intake = Intake::accepting();
    let r = registry();
    let fam = r
        .gauge_family("shard_load", "Load.", &["shard", "region"])
        .unwrap();
    for i in 0..9_000 {
        fam.with(&[
            format!("shard-{i:05}-{}", "x".repeat(64)),
            "eu-west-1".into(),
        ])
        .set(f64::from(i));
    }
    let p = config(&intake)
        .compression(Compression::None)
        .series_pipeline(&r)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    p.flush(FLUSH).unwrap();
    let reqs = intake.requests();
    assert!(reqs.len() >= 4, "{} requests", reqs.len());
    for r in &reqs {
        assert_eq!(r.header("content-encoding"), None);
    }
    let pts = app_points(&reqs);
    assert_eq!(pts.len(), 9_000);
    let last = format!(
        "shard_load{{region:eu-west-1,shard:shard-08999-{}}}",
        "x".repeat(64)
    );
    assert_eq!(value(&pts, &last), (3, 8999.0));
    p.shutdown(FLUSH).unwrap();
}

#[test]
fn v2_deflate_is_zlib() {
    let intake = Intake::accepting();
    let r = registry();
    r.gauge("up", "Up.").unwrap().set(1.0);
    let p = config(&intake)
        .compression(Compression::Deflate)
        .series_pipeline(&r)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    p.flush(FLUSH).unwrap();
    let reqs = intake.requests();
    assert_eq!(reqs[0].header("content-encoding"), Some("deflate"));
    assert_eq!(value(&app_points(&reqs), "up{}"), (3, 1.0));
    p.shutdown(FLUSH).unwrap();
}

#[cfg(feature = "zstd")]
#[test]
fn v2_zstd_is_named_zstd1() {
    let intake = Intake::accepting();
    let r = registry();
    r.gauge("up", "Up.").unwrap().set(1.0);
    let p = config(&intake)
        .compression(Compression::Zstd)
        .series_pipeline(&r)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    p.flush(FLUSH).unwrap();
    let reqs = intake.requests();
    assert_eq!(reqs[0].header("content-encoding"), Some("zstd1"));
    assert_eq!(value(&app_points(&reqs), "up{}"), (3, 1.0));
    p.shutdown(FLUSH).unwrap();
}

/// 413 cuts the batch in two; 429 waits for `Retry-After`; everything arrives once.
#[test]
fn v2_too_large_is_split_and_rate_limits_are_waited_out() {
    let intake = Intake::scripted(Arc::new(|req, n| {
        if n == 1 {
            return (
                429,
                vec![("retry-after", "1".into())],
                r#"{"errors":["Too many requests"]}"#.into(),
            );
        }
        if req.body.len() > 20_000 {
            return (
                413,
                Vec::new(),
                r#"{"errors":["Payload too large"]}"#.into(),
            );
        }
        (202, Vec::new(), r#"{"errors":[]}"#.into())
    }));
    let r = registry();
    let fam = r.gauge_family("load", "Load.", &["i"]).unwrap();
    for i in 0..400 {
        fam.with(&[format!("{i:03}")]).set(f64::from(i));
    }
    let p = start(&config(&intake), &r);
    let t = std::time::Instant::now();
    p.flush(Duration::from_secs(30)).unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "Retry-After not honoured"
    );
    let accepted: Vec<Request> = intake
        .requests()
        .into_iter()
        .skip(1)
        .filter(|r| r.body.len() <= 20_000)
        .collect();
    let pts = app_points(&accepted);
    assert_eq!(pts.keys().filter(|k| k.starts_with("load{")).count(), 400);
    p.shutdown(FLUSH).unwrap();
}

/// A refused key stops the backend with one clear message; the key appears nowhere.
#[test]
fn v2_a_refused_key_stops_and_is_never_shown() {
    let intake = Intake::scripted(Arc::new(|_, _| {
        (403, Vec::new(), r#"{"errors":["Forbidden"]}"#.into())
    }));
    let r = Registry::new();
    r.gauge("up", "Up.").unwrap().set(1.0);
    let dd = config(&intake);
    assert!(!format!("{dd:?}").contains(KEY));
    let builder = dd.series_pipeline(&r).unwrap();
    assert!(!format!("{builder:?}").contains(KEY));
    let p = builder.periodic(false).build().unwrap();
    let logs = capture_logs();
    let err = p.flush(FLUSH).unwrap_err().to_string();
    assert!(!err.contains(KEY), "{err}");
    let n = intake.requests().len();
    assert!(p.flush(FLUSH).is_err());
    assert_eq!(intake.requests().len(), n, "a stopped backend sent again");
    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert_eq!(
        logged.matches("Datadog refused the API key").count(),
        1,
        "{logged}"
    );
    assert!(logged.contains("DD_SITE"), "{logged}");
    assert!(!logged.contains(KEY), "{logged}");
    let text = String::from_utf8(r.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap();
    assert!(!text.contains(KEY));
    assert!(text.contains("backend=\"datadog_series\""));
    assert!(!format!("{p:?}").contains(KEY));
}

#[test]
fn an_agentless_pipeline_needs_a_key() {
    let err = Datadog::new()
        .metrics_mode_override(aiplatform_datadog::MetricsMode::Agentless)
        .series_api(SeriesApi::V2)
        .series_pipeline(&registry())
        .unwrap_err()
        .to_string();
    assert!(err.contains("DD_API_KEY"), "{err}");
}

/// Records every log line of this test binary (info and up) in memory.
fn capture_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static BUF: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    BUF.get_or_init(|| {
        let buf: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
    .clone()
}

struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
