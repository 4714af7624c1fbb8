//! Named collectors behind the real server: time limits, Prometheus' timeout header,
//! failures and panics (success 0, still HTTP 200), concurrency, and node_exporter's
//! `collect[]` / `exclude[]`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS, Registry};
use aiplatform_prometheus::{
    BlockingCollector, CollectError, CollectorSet, DefaultState, ScrapeCollector, ScrapeContext,
    Server,
};
use aiplatform_testkit::Scrape;
use common::{Client, start};

fn gauge(name: &str, value: f64) -> MetricFamily {
    let mut f = MetricFamily::builder(MetricKind::Gauge, name, "Test value.")
        .build()
        .unwrap();
    f.push_gauge(NO_LABELS, value).unwrap();
    f
}

/// Async: reports `<name>_value 1` after `delay`.
struct Sleepy {
    name: &'static str,
    delay: Duration,
}

impl ScrapeCollector for Sleepy {
    async fn collect(
        &self,
        _ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        tokio::time::sleep(self.delay).await;
        out.push(gauge(&format!("{}_value", self.name), 1.0));
        Ok(())
    }
}

/// Blocking: sleeps in steps, giving up when the context is cancelled.
struct BlockingSleepy {
    delay: Duration,
    runs: Arc<AtomicUsize>,
}

impl BlockingCollector for BlockingSleepy {
    fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        while start.elapsed() < self.delay {
            std::thread::sleep(Duration::from_millis(5));
        }
        out.push(gauge("blocking_value", 1.0));
        let _ = ctx;
        Ok(())
    }
}

fn quick(name: &'static str) -> Sleepy {
    Sleepy {
        name,
        delay: Duration::ZERO,
    }
}

fn success(text: &str, collector: &str) -> Option<f64> {
    Scrape::parse(text).get("node_scrape_collector_success", &[("collector", collector)])
}

fn duration(text: &str, collector: &str) -> Option<f64> {
    Scrape::parse(text).get(
        "node_scrape_collector_duration_seconds",
        &[("collector", collector)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_over_its_time_limit_only_sets_success_zero() {
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    set.register("fast", DefaultState::Enabled, quick("fast"))
        .unwrap();
    set.register(
        "slow",
        DefaultState::Enabled,
        Sleepy {
            name: "slow",
            delay: Duration::from_secs(30),
        },
    )
    .unwrap();
    set.set_collector_timeout("slow", Duration::from_millis(200))
        .unwrap();
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;

    let started = Instant::now();
    let r = Client::plain().get(addr, "/metrics").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let text = r.text();
    assert!(
        text.contains(
            "# HELP node_scrape_collector_success node_exporter: Whether a collector succeeded.\n"
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE node_scrape_collector_success gauge\n"));
    assert!(text.contains("# HELP node_scrape_collector_duration_seconds node_exporter: Duration of a collector scrape.\n"));
    assert!(text.contains("# TYPE node_scrape_collector_duration_seconds gauge\n"));
    assert_eq!(success(&text, "fast"), Some(1.0));
    assert_eq!(success(&text, "slow"), Some(0.0));
    let slow = duration(&text, "slow").unwrap();
    assert!((0.19..5.0).contains(&slow), "{slow}");
    assert!(text.contains("fast_value 1\n"));
    assert!(!text.contains("slow_value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrape_timeout_header_shortens_the_limit() {
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    set.register(
        "slow",
        DefaultState::Enabled,
        Sleepy {
            name: "slow",
            delay: Duration::from_secs(5),
        },
    )
    .unwrap();
    // The configured limit (10 s default) would let it finish in 5 s; the header says 1 s
    // (0.5 s for collectors after the offset).
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;
    let started = Instant::now();
    let r = Client::plain()
        .get_with(
            addr,
            "/metrics",
            &[("x-prometheus-scrape-timeout-seconds", "1")],
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(success(&r.text(), "slow"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_panics_are_reported_not_fatal() {
    struct Panics;
    impl ScrapeCollector for Panics {
        async fn collect(
            &self,
            _: &ScrapeContext,
            _: &mut Vec<MetricFamily>,
        ) -> Result<(), CollectError> {
            panic!("collector bug")
        }
    }
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    set.register("ok", DefaultState::Enabled, quick("ok"))
        .unwrap();
    set.register_blocking(
        "fails",
        DefaultState::Enabled,
        |_: &ScrapeContext, out: &mut Vec<MetricFamily>| {
            // What was appended before the error is kept, as node_exporter keeps it.
            out.push(gauge("fails_partial", 1.0));
            Err(CollectError::new("source unreachable"))
        },
    )
    .unwrap();
    set.register_blocking(
        "nodata",
        DefaultState::Enabled,
        |_: &ScrapeContext, _: &mut Vec<MetricFamily>| Err(CollectError::NoData),
    )
    .unwrap();
    set.register("panics", DefaultState::Enabled, Panics)
        .unwrap();
    set.register_blocking(
        "panics_blocking",
        DefaultState::Enabled,
        |_: &ScrapeContext, _: &mut Vec<MetricFamily>| -> Result<(), CollectError> {
            panic!("blocking collector bug")
        },
    )
    .unwrap();
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;
    for _ in 0..2 {
        let r = Client::plain().get(addr, "/metrics").await.unwrap();
        assert_eq!(r.status, 200);
        let text = r.text();
        assert_eq!(success(&text, "ok"), Some(1.0));
        for failed in ["fails", "nodata", "panics", "panics_blocking"] {
            assert_eq!(success(&text, failed), Some(0.0), "{failed}\n{text}");
            assert!(duration(&text, failed).is_some());
        }
        assert!(text.contains("fails_partial 1\n"));
        assert!(text.contains("ok_value 1\n"));
        assert_eq!(
            Scrape::parse(&text).get(
                "promhttp_metric_handler_errors_total",
                &[("cause", "gathering")]
            ),
            Some(0.0)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_run_concurrently() {
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    let delay = Duration::from_millis(700);
    for name in ["a", "b", "c"] {
        set.register(name, DefaultState::Enabled, Sleepy { name, delay })
            .unwrap();
    }
    let runs = Arc::new(AtomicUsize::new(0));
    set.register_blocking("d", DefaultState::Enabled, BlockingSleepy { delay, runs })
        .unwrap();
    let (text, elapsed) = scrape_timed(set).await;
    assert!(
        elapsed < Duration::from_millis(2100),
        "serial would take 2.8 s: {elapsed:?}"
    );
    for name in ["a", "b", "c", "d"] {
        assert_eq!(success(&text, name), Some(1.0), "{name}");
    }
}

/// Blocking collectors share a few workers; slow ones (more than there are cores) must not
/// hold back the others, nor run one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_blocking_collectors_hold_back_nothing_behind_them() {
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let slow = Duration::from_millis(700);
    for name in ["a", "b", "c", "d"] {
        let runs = runs.clone();
        set.register_blocking(
            name,
            DefaultState::Enabled,
            BlockingSleepy { delay: slow, runs },
        )
        .unwrap();
    }
    let quick = BlockingSleepy {
        delay: Duration::ZERO,
        runs: runs.clone(),
    };
    set.register_blocking("z", DefaultState::Enabled, quick)
        .unwrap();
    let (text, elapsed) = scrape_timed(set).await;
    assert!(
        elapsed < Duration::from_millis(1250),
        "two at a time would take 1.4 s, one at a time 2.8 s: {elapsed:?}"
    );
    for name in ["a", "b", "c", "d", "z"] {
        assert_eq!(success(&text, name), Some(1.0), "{name}");
    }
    let waited = duration(&text, "z").unwrap();
    assert!(waited < 0.3, "the quick collector took {waited} s");
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

/// One scrape of `set` behind a real server: the body and how long it took.
async fn scrape_timed(set: CollectorSet) -> (String, Duration) {
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;
    let started = Instant::now();
    let text = Client::plain().get(addr, "/metrics").await.unwrap().text();
    (text, started.elapsed())
}

/// redis_exporter has no `<ns>_scrape_collector_*`; a set reproducing it can leave them out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_collector_report_can_be_turned_off() {
    let mut set = CollectorSet::new("redis", "redis_exporter").unwrap();
    set.register("a", DefaultState::Enabled, quick("a"))
        .unwrap();
    set.set_collector_report(false);
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;
    let text = Client::plain().get(addr, "/metrics").await.unwrap().text();
    assert_eq!(
        Scrape::parse(&text).get("a_value", &[]),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("scrape_collector"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_collector_past_its_limit_is_not_started_twice() {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    set.register_blocking(
        "stuck",
        DefaultState::Enabled,
        BlockingSleepy {
            delay: Duration::from_millis(1500),
            runs: runs.clone(),
        },
    )
    .unwrap();
    set.set_collector_timeout("stuck", Duration::from_millis(100))
        .unwrap();
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;
    let client = Client::plain();
    for _ in 0..3 {
        let text = client.get(addr, "/metrics").await.unwrap().text();
        assert_eq!(success(&text, "stuck"), Some(0.0));
    }
    // The first run is still sleeping: the later scrapes did not start more threads.
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Once it has returned, the next scrape runs it again (once).
    let deadline = Instant::now() + Duration::from_secs(10);
    while runs.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "never ran again");
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.get(addr, "/metrics").await.unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_and_exclude_filters() {
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    set.register("cpu", DefaultState::Enabled, quick("cpu"))
        .unwrap();
    set.register("meminfo", DefaultState::Enabled, quick("meminfo"))
        .unwrap();
    set.register("wifi", DefaultState::Disabled, quick("wifi"))
        .unwrap();
    let (_server, addr) = start(
        Server::builder(Registry::new())
            .collectors(set)
            .collector_filters(true),
    )
    .await;
    let client = Client::plain();

    let text = client
        .get(addr, "/metrics?collect%5B%5D=cpu")
        .await
        .unwrap()
        .text();
    assert!(
        text.contains("cpu_value 1\n") && !text.contains("meminfo_value"),
        "{text}"
    );
    assert_eq!(success(&text, "cpu"), Some(1.0));
    assert_eq!(success(&text, "meminfo"), None);

    let text = client
        .get(addr, "/metrics?collect[]=cpu&collect[]=meminfo")
        .await
        .unwrap()
        .text();
    assert!(text.contains("cpu_value 1\n") && text.contains("meminfo_value 1\n"));

    let text = client
        .get(addr, "/metrics?exclude[]=cpu")
        .await
        .unwrap()
        .text();
    assert!(
        !text.contains("cpu_value") && text.contains("meminfo_value 1\n"),
        "{text}"
    );
    assert_eq!(success(&text, "cpu"), None);

    // Unknown names in exclude[] are ignored, as upstream.
    let r = client.get(addr, "/metrics?exclude[]=nope").await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("cpu_value 1\n"));

    for (query, want) in [
        (
            "collect[]=cpu&exclude[]=meminfo",
            "Combined collect and exclude queries are not allowed.",
        ),
        (
            "collect[]=nope",
            "Couldn't create filtered metrics handler: couldn't create collector: missing collector: nope",
        ),
        (
            "collect[]=wifi",
            "Couldn't create filtered metrics handler: couldn't create collector: disabled collector: wifi",
        ),
    ] {
        let r = client
            .get(addr, &format!("/metrics?{query}"))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.text(), want);
    }
    // 400s are not scrapes in promhttp's count.
    let text = client.get(addr, "/metrics").await.unwrap().text();
    assert_eq!(
        Scrape::parse(&text).get("promhttp_metric_handler_requests_total", &[("code", "400")]),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_are_ignored_unless_enabled_and_query_reaches_collectors() {
    struct EchoTarget;
    impl ScrapeCollector for EchoTarget {
        async fn collect(
            &self,
            ctx: &ScrapeContext,
            out: &mut Vec<MetricFamily>,
        ) -> Result<(), CollectError> {
            let mut f = MetricFamily::builder(MetricKind::Gauge, "echo_target", "Echo.")
                .label_names(&["target", "collector"])
                .build()
                .map_err(CollectError::new)?;
            f.push_gauge(&[ctx.query("target").unwrap_or(""), ctx.collector()], 1.0)
                .map_err(CollectError::new)?;
            out.push(f);
            assert!(!ctx.is_cancelled());
            assert!(ctx.remaining() > Duration::ZERO);
            Ok(())
        }
    }
    let mut set = CollectorSet::new("redis", "redis_exporter").unwrap();
    set.register("echo", DefaultState::Enabled, EchoTarget)
        .unwrap();
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;
    let text = Client::plain()
        .get(addr, "/metrics?collect[]=nope&target=redis%3A%2F%2Fdb")
        .await
        .unwrap()
        .text();
    assert!(
        text.contains("echo_target{target=\"redis://db\",collector=\"echo\"} 1\n"),
        "{text}"
    );
    assert!(text.contains(
        "# HELP redis_scrape_collector_success redis_exporter: Whether a collector succeeded.\n"
    ));
    assert_eq!(
        Scrape::parse(&text).get("redis_scrape_collector_success", &[("collector", "echo")]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_collectors_see_their_deadline_and_stop_early() {
    let stopped_after = Arc::new(std::sync::Mutex::new(None));
    let seen = stopped_after.clone();
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    set.register_blocking(
        "cooperative",
        DefaultState::Enabled,
        move |ctx: &ScrapeContext, _: &mut Vec<MetricFamily>| {
            let start = Instant::now();
            // Work in small steps until told the result is no longer wanted.
            while !ctx.is_cancelled() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            *seen.lock().unwrap() = Some(start.elapsed());
            Err(CollectError::new("gave up"))
        },
    )
    .unwrap();
    set.set_collector_timeout("cooperative", Duration::from_millis(150))
        .unwrap();
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;
    let text = Client::plain().get(addr, "/metrics").await.unwrap().text();
    assert_eq!(success(&text, "cooperative"), Some(0.0));
    let deadline = Instant::now() + Duration::from_secs(5);
    let stopped = loop {
        if let Some(d) = *stopped_after.lock().unwrap() {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "the collector never saw the cancellation"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(stopped < Duration::from_secs(3), "{stopped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_series_are_dropped_counted_and_still_served() {
    let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    set.register_blocking(
        "dups",
        DefaultState::Enabled,
        |_: &ScrapeContext, out: &mut Vec<MetricFamily>| {
            let mut f = MetricFamily::builder(MetricKind::Gauge, "dup_value", "Duplicated.")
                .label_names(&["k"])
                .build()
                .map_err(CollectError::new)?;
            f.push_gauge(&["a"], 1.0).map_err(CollectError::new)?;
            f.push_gauge(&["a"], 2.0).map_err(CollectError::new)?;
            out.push(f);
            Ok(())
        },
    )
    .unwrap();
    let (_server, addr) = start(Server::builder(Registry::new()).collectors(set)).await;
    let client = Client::plain();
    let first = client.get(addr, "/metrics").await.unwrap();
    assert_eq!(first.status, 200);
    let text = first.text();
    assert_eq!(
        Scrape::parse(&text).get("dup_value", &[("k", "a")]),
        Some(1.0),
        "the first one wins"
    );
    assert_eq!(text.matches("dup_value{k=\"a\"}").count(), 1);
    let text = client.get(addr, "/metrics").await.unwrap().text();
    assert_eq!(
        Scrape::parse(&text).get(
            "promhttp_metric_handler_errors_total",
            &[("cause", "gathering")]
        ),
        Some(1.0)
    );
    assert_eq!(
        Scrape::parse(&text).get(
            "aiplatform_metrics_collect_dropped_series_total",
            &[("reason", "duplicate_series")]
        ),
        Some(2.0)
    );
}
