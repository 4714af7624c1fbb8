//! Hostile clients against the scrape server's basic auth, on loopback, with bounded loops:
//! user names must not be found by timing, a flood of wrong passwords must not delay
//! authenticated scrapes, and an ambiguous user list is refused at start.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aiplatform_metrics::{MetricFamily, MetricKind, Registry};
use aiplatform_prometheus::{CollectorSet, DefaultState, ScrapeContext, Server};
use common::{Client, TempDir, basic, start};

fn registry() -> Registry {
    let r = Registry::new();
    r.gauge("hostile_up", "Up.").unwrap().set(1.0);
    r
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn timed(addr: SocketAddr, auth: &str) -> (u16, Duration) {
    let start = Instant::now();
    let r = Client::plain()
        .get_with(addr, "/metrics", &[("authorization", auth)])
        .await
        .unwrap();
    (r.status.as_u16(), start.elapsed())
}

/// A wrong user name costs what a wrong password costs. With the toolkit's fixed cost-10 decoy
/// and a cost-7 hash, a wrong user took about eight times as long as a wrong password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_cannot_be_told_apart_by_timing() {
    let dir = TempDir::new("decoy");
    let hash = bcrypt::hash("s3cret", 7).unwrap();
    let config = dir.write("web.yml", format!("basic_auth_users:\n  alice: {hash}\n"));
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let (mut wrong_user, mut wrong_password) = (Vec::new(), Vec::new());
    // Interleaved, so that load on the machine affects both series alike.
    for i in 0..9 {
        let (s, t) = timed(addr, &basic(&format!("mallory{i}"), "s3cret")).await;
        assert_eq!(s, 401);
        wrong_user.push(t);
        let (s, t) = timed(addr, &basic("alice", &format!("guess{i}"))).await;
        assert_eq!(s, 401);
        wrong_password.push(t);
    }
    let (user, password) = (median(wrong_user), median(wrong_password));
    eprintln!("median: wrong user {user:?}, wrong password {password:?}");
    assert!(
        user < password * 3 + Duration::from_millis(15)
            && password < user * 3 + Duration::from_millis(15),
        "wrong user {user:?} vs wrong password {password:?}: the user name shows in the timing"
    );
}

/// 100 clients sending wrong passwords, each keeping one request pending, while an
/// authenticated scraper scrapes a server whose collector runs on the blocking pool (node's
/// limits: one async worker, four blocking threads). The scraper's credentials were checked
/// once before the flood, so every scrape is answered from the cache.
#[test]
fn wrong_password_flood_does_not_delay_authenticated_scrapes() {
    let dir = TempDir::new("flood");
    let hash = bcrypt::hash("s3cret", 10).unwrap();
    let config = dir.write(
        "web.yml",
        format!("basic_auth_users:\n  prometheus: {hash}\n"),
    );
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let (_server, addr) = server_rt.block_on(async {
        let mut set = CollectorSet::new("node", "node_exporter").unwrap();
        set.register_blocking(
            "files",
            DefaultState::Enabled,
            |_: &ScrapeContext, out: &mut Vec<MetricFamily>| {
                let mut f = MetricFamily::builder(MetricKind::Gauge, "files_read", "Read.")
                    .build()
                    .unwrap();
                f.push_gauge(&[] as &[&str], 1.0).unwrap();
                out.push(f);
                Ok(())
            },
        )
        .unwrap();
        start(
            Server::builder(registry())
                .collectors(set)
                .web_config_file(Some(config)),
        )
        .await
    });
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let good = basic("prometheus", "s3cret");
    let (latencies, refused) = client_rt.block_on(async move {
        let (status, _) = timed(addr, &good).await;
        assert_eq!(status, 200, "the scraper's own first check");
        let stop = Arc::new(AtomicBool::new(false));
        let mut flood = Vec::new();
        for i in 0..100 {
            let stop = stop.clone();
            flood.push(tokio::spawn(async move {
                let bad = basic("prometheus", &format!("guess{i}"));
                let mut refused = 0u32;
                // Bounded: at most 200 requests per client.
                for _ in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match Client::plain()
                        .get_with(addr, "/metrics", &[("authorization", &bad)])
                        .await
                    {
                        Ok(r) if r.status == 429 => refused += 1,
                        Ok(r) => assert_eq!(r.status, 401),
                        Err(_) => {}
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                refused
            }));
        }
        // Let the flood fill the queue first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut latencies = Vec::new();
        for _ in 0..100 {
            let took = tokio::time::timeout(Duration::from_secs(5), timed(addr, &good)).await;
            match took {
                Ok((status, t)) => {
                    assert_eq!(status, 200);
                    latencies.push(t);
                }
                Err(_) => {
                    latencies.push(Duration::from_secs(5));
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let mut refused = 0;
        for f in flood {
            refused += f.await.unwrap();
        }
        (latencies, refused)
    });
    let mut sorted = latencies.clone();
    sorted.sort();
    // The 99th of 100 samples.
    let p99 = sorted[(sorted.len() * 99).div_ceil(100).saturating_sub(1)];
    eprintln!(
        "authenticated scrapes during the flood: n={} median {:?} p99 {p99:?} max {:?}; {refused} wrong-password requests refused with 429",
        sorted.len(),
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );
    assert_eq!(sorted.len(), 100, "a scrape took 5 s or more");
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
    assert!(refused > 0, "the queue of password checks is bounded");
}

/// A user listed twice is refused at start, naming the user (a map kept the last one).
#[tokio::test]
async fn duplicate_users_are_refused_at_start() {
    let dir = TempDir::new("dup");
    let (a, b) = (
        bcrypt::hash("one", 4).unwrap(),
        bcrypt::hash("two", 4).unwrap(),
    );
    let config = dir.write(
        "web.yml",
        format!("basic_auth_users:\n  alice: {a}\n  bob: {a}\n  alice: {b}\n"),
    );
    let err = Server::builder(registry())
        .listen_address("127.0.0.1:0")
        .web_config_file(Some(config))
        .bind()
        .await
        .expect_err("a duplicate user is refused");
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    assert!(text.contains("alice"), "{text}");
    assert!(text.contains("more than once"), "{text}");
}

/// Invented methods, paths and query parameters: `promhttp_metric_handler_requests_total`
/// counts only the status codes the server itself answers, and nothing from the request
/// reaches `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_data_never_becomes_a_label() {
    let (_server, addr) = start(Server::builder(registry())).await;
    let client = Client::plain();
    for i in 0..50 {
        let method =
            http::Method::from_bytes(format!("EVIL{i}{}", "M".repeat(2_000)).as_bytes()).unwrap();
        let _ = client.request(addr, method, "/metrics", &[]).await;
        let _ = client
            .get(addr, &format!("/metrics?collect[]=evil{i}&evil{i}=1"))
            .await;
        let _ = client.get(addr, &format!("/evil{i}")).await;
    }
    let text = client.get(addr, "/metrics").await.unwrap().text();
    assert!(!text.contains("evil") && !text.contains("EVIL"), "{text}");
    let codes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("promhttp_metric_handler_requests_total{"))
        .collect();
    assert!(codes.len() <= 5, "{codes:?}");
}
