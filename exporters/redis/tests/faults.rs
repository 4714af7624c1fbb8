//! Redis down, unresponsive or restarted: the scrape still answers 200 in time with
//! `redis_up 0`, and the exporter recovers by itself.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn redis_down_then_back() {
    let mut server = RedisServer::start("restart", &[], None);
    let addr = format!("-redis.addr={}", server.url());
    let e = exporter(&[&addr], &[]);
    assert_eq!(e.scrape().value("redis_up", &[]), 1.0);

    server.stop();
    let started = Instant::now();
    let m = e.scrape();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(m.value("redis_up", &[]), 0.0);
    let err = &m.series("redis_exporter_last_scrape_error")[0];
    assert_eq!(err.scalar(), Some(1.0));
    assert!(!err.labels["err"].is_empty());
    // A second scrape while down: still 0, no reconnect storm in between.
    assert_eq!(e.scrape().value("redis_up", &[]), 0.0);

    server.restart();
    eventually(Duration::from_secs(10), "redis_up back to 1", || {
        e.scrape().value("redis_up", &[]) == 1.0
    });
    assert_eq!(
        e.scrape()
            .value("redis_exporter_last_scrape_error", &[("err", "")]),
        0.0
    );
}

#[test]
fn kept_connection_survives_a_restart_between_scrapes() {
    let mut server = RedisServer::start("restart-idle", &[], None);
    let addr = format!("-redis.addr={}", server.url());
    let e = exporter(&[&addr], &[]);
    assert_eq!(e.scrape().value("redis_up", &[]), 1.0);
    server.restart();
    // The kept connection is dead; the very next scrape reconnects instead of reporting down.
    let m = e.scrape();
    assert_eq!(
        m.value("redis_up", &[]),
        1.0,
        "{:?}",
        m.series("redis_exporter_last_scrape_error")
    );
    assert!(
        m.value("redis_uptime_in_seconds", &[]) < 5.0,
        "scraped the restarted server"
    );
}

#[test]
fn a_scrape_waiting_behind_a_stuck_one_still_answers() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let addr = format!("-redis.addr=redis://127.0.0.1:{port}");
    let e = exporter(&[&addr, "-connection-timeout=30s"], &[]);
    let first = {
        let port = e.port;
        std::thread::spawn(move || {
            http_get(
                port,
                "/metrics",
                &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
            )
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let r = http_get(
        e.port,
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1")],
    );
    // Its own budget is 0.5 s; waiting for the stuck scrape would take over 2 s.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r.status, 200);
    let m = Scrape::parse(r.body);
    assert_eq!(m.value("redis_up", &[]), 0.0);
    assert!(
        m.series("redis_exporter_last_scrape_error")[0].labels["err"].contains("still running")
    );
    let first = first.join().unwrap();
    assert_eq!(Scrape::parse(first.body).value("redis_up", &[]), 0.0);
    drop(silent);
}

#[test]
fn unresponsive_redis_answers_within_the_scrape_timeout() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let addr = format!("-redis.addr=redis://127.0.0.1:{port}");
    let e = exporter(&[&addr, "-connection-timeout=30s"], &[]);
    let started = Instant::now();
    let r = http_get(
        e.port,
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    );
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let m = Scrape::parse(r.body);
    assert_eq!(m.value("redis_up", &[]), 0.0);
    assert!(m.series("redis_exporter_last_scrape_error")[0].labels["err"].contains("timed out"));
    drop(silent);
}

#[test]
fn connection_timeout_bounds_a_scrape_without_header() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let addr = format!("-redis.addr=redis://127.0.0.1:{port}");
    let e = exporter(&[&addr, "-connection-timeout=1s"], &[]);
    let started = Instant::now();
    let m = e.scrape();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(m.value("redis_up", &[]), 0.0);
}

/// A TCP relay to `target` that holds every chunk the server sends for `delay` before passing
/// it on: a network with latency. Each request/reply round trip through it takes at least
/// `delay`, whatever the speed of the machine.
fn slow_link(target: String, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&target) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let pump =
                |mut from: std::net::TcpStream, mut to: std::net::TcpStream, hold: Duration| {
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            std::thread::sleep(hold);
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    })
                };
            pump(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                Duration::ZERO,
            );
            pump(server, client, delay);
        }
    });
    port
}

#[test]
fn key_checks_stop_at_the_budget() {
    let server = RedisServer::start("bigscan", &[], None);
    // 200k keys: a SCAN COUNT 10 pass over them is about 19k round trips. Through a link that
    // adds 1 ms to each, it needs 19 s or more, far beyond the 1.25 s budget on any machine
    // (directly on loopback a fast machine finishes it in a third of a second, within the
    // budget, and nothing would be cut short).
    let script = "for i=1,200000 do redis.call('SET', 'k:'..i, i) end return 1";
    server.cmd(&["EVAL", script, "0"]);
    let link = slow_link(server.addr(), Duration::from_millis(1));
    let addr = format!("-redis.addr=redis://127.0.0.1:{link}");
    let e = exporter(
        &[&addr, "-count-keys=db0=k:*", "-check-keys-batch-size=10"],
        &[],
    );
    let started = Instant::now();
    let r = http_get(
        e.port,
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    );
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let m = Scrape::parse(r.body);
    assert_eq!(m.value("redis_up", &[]), 1.0);
    let counted = m.value("redis_keys_count", &[("key", "k:*")]);
    assert!(
        counted > 0.0 && counted < 200_000.0,
        "partial count expected, got {counted}"
    );
    assert!(
        e.log()
            .contains("key checks stopped at the scrape's time budget")
    );
}
