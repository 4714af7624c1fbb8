//! Scrape concurrency: the `--web.max-requests` cap (client_golang's 503), scrapes held open
//! by a slow collector not blocking health checks or the next scrape.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS, Registry};
use aiplatform_prometheus::{RouteRequest, Server, http};
use aiplatform_testkit::Scrape;
use common::{Client, start};

/// A registry whose collector blocks (on the blocking pool) until `release` is set, for the
/// first `hold` collections; later collections pass straight through.
struct Gate {
    release: Arc<AtomicBool>,
    entered: Arc<AtomicUsize>,
}

impl Gate {
    fn registry(hold: usize) -> (Registry, Gate) {
        let release = Arc::new(AtomicBool::new(false));
        let entered = Arc::new(AtomicUsize::new(0));
        let registry = Registry::new();
        let (r, e) = (release.clone(), entered.clone());
        registry.register_collector(move |out: &mut Vec<MetricFamily>| {
            let n = e.fetch_add(1, Ordering::SeqCst);
            if n < hold {
                let start = Instant::now();
                while !r.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(20) {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            let mut f = MetricFamily::builder(MetricKind::Gauge, "gate_open", "Gate.")
                .build()
                .unwrap();
            f.push_gauge(NO_LABELS, 1.0).unwrap();
            out.push(f);
        });
        (registry, Gate { release, entered })
    }

    async fn wait_entered(&self, n: usize) {
        let start = Instant::now();
        while self.entered.load(Ordering::SeqCst) < n {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "collectors never entered"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn open(&self) {
        self.release.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_scrapes_get_503() {
    let (registry, gate) = Gate::registry(2);
    let (_server, addr) = start(Server::builder(registry).max_requests(2)).await;
    let client = Client::plain();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get(addr, "/metrics").await.unwrap() })
        })
        .collect();
    gate.wait_entered(2).await;

    let refused = client.get(addr, "/metrics").await.unwrap();
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.text(),
        "Limit of concurrent requests reached (2), try again later.\n"
    );
    // Health is not a scrape: it answers while both slots are taken.
    let started = Instant::now();
    assert_eq!(client.get(addr, "/health").await.unwrap().status, 200);
    assert!(started.elapsed() < Duration::from_secs(3));

    gate.open();
    for h in held {
        let r = h.await.unwrap();
        assert_eq!(r.status, 200);
        assert!(r.text().contains("gate_open 1\n"));
    }
    let text = client.get(addr, "/metrics").await.unwrap().text();
    assert_eq!(
        Scrape::parse(&text).get("promhttp_metric_handler_requests_total", &[("code", "503")]),
        Some(1.0)
    );
    assert_eq!(
        Scrape::parse(&text).get("promhttp_metric_handler_requests_total", &[("code", "200")]),
        Some(2.0)
    );
}

// One runtime thread: if rendering ran on it, nothing else could be served.
#[tokio::test(flavor = "current_thread")]
async fn a_stuck_scrape_blocks_neither_health_nor_the_next_scrape() {
    // Only the first collection blocks: the second scrape must complete while it is stuck
    // (scrapes run concurrently, not behind one lock).
    let (registry, gate) = Gate::registry(1);
    let (_server, addr) = start(Server::builder(registry)).await;
    let client = Client::plain();
    let stuck = {
        let client = client.clone();
        tokio::spawn(async move { client.get(addr, "/metrics").await.unwrap() })
    };
    gate.wait_entered(1).await;

    let started = Instant::now();
    assert_eq!(client.get(addr, "/health").await.unwrap().text(), "ok");
    assert_eq!(client.get(addr, "/").await.unwrap().status, 200);
    let next = client.get(addr, "/metrics").await.unwrap();
    assert_eq!(next.status, 200);
    assert!(next.text().contains("gate_open 1\n"));
    assert_eq!(
        Scrape::parse(next.text()).get("promhttp_metric_handler_requests_in_flight", &[]),
        Some(2.0),
        "the stuck scrape and this one"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!stuck.is_finished());

    gate.open();
    assert_eq!(stuck.await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_means_unlimited() {
    let (registry, gate) = Gate::registry(5);
    let (_server, addr) = start(Server::builder(registry).max_requests(0)).await;
    let client = Client::plain();
    let held: Vec<_> = (0..5)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get(addr, "/metrics").await.unwrap() })
        })
        .collect();
    gate.wait_entered(5).await;
    gate.open();
    for h in held {
        assert_eq!(h.await.unwrap().status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_routes_share_the_cap_unless_exempt() {
    let release = Arc::new(AtomicBool::new(false));
    let entered = Arc::new(AtomicUsize::new(0));
    let (r, e) = (release.clone(), entered.clone());
    let slow = move |_req: RouteRequest| {
        let (r, e) = (r.clone(), e.clone());
        async move {
            e.fetch_add(1, Ordering::SeqCst);
            while !r.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            aiplatform_prometheus::text_response(http::StatusCode::OK, "probed\n")
        }
    };
    let cheap = |_req: RouteRequest| async {
        aiplatform_prometheus::text_response(http::StatusCode::OK, "cheap\n")
    };
    let (_server, addr) = start(
        Server::builder(Registry::new())
            .max_requests(1)
            .route("/probe", slow)
            .route_with(
                "/cheap",
                aiplatform_prometheus::RouteOptions::unlimited(),
                cheap,
            ),
    )
    .await;
    let client = Client::plain();
    let held = {
        let client = client.clone();
        tokio::spawn(async move { client.get(addr, "/probe").await.unwrap() })
    };
    while entered.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(client.get(addr, "/metrics").await.unwrap().status, 503);
    assert_eq!(client.get(addr, "/probe").await.unwrap().status, 503);
    assert_eq!(client.get(addr, "/cheap").await.unwrap().text(), "cheap\n");
    release.store(true, Ordering::SeqCst);
    assert_eq!(held.await.unwrap().text(), "probed\n");
    assert_eq!(client.get(addr, "/metrics").await.unwrap().status, 200);
}
