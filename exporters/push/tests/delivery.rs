//! The delivery rules, one test each, against a receiver that misbehaves on purpose.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aiplatform_metrics::Registry;
use aiplatform_push::{
    Auth, Backoff, ClientOptions, FlushError, HttpTransport, Pipeline, PipelineBuilder,
    SecretSource,
};
use aiplatform_testkit::{eventually_some as eventually, free_port};
use support::*;

fn transport(url: &str) -> HttpTransport {
    HttpTransport::builder(url)
        .header("Content-Type", "text/plain")
        .client_options(ClientOptions {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(2),
            ..ClientOptions::default()
        })
        .build()
        .unwrap()
}

fn pipeline(
    registry: &Registry,
    backend: &str,
    url: &str,
) -> PipelineBuilder<Lines, HttpTransport> {
    capture_logs();
    Pipeline::builder(registry, backend, Lines::default(), transport(url))
        .interval(Duration::from_millis(100))
        .jitter(false)
        .backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
}

fn responder(f: impl Fn(&Captured, &[Captured]) -> Reply + Send + Sync + 'static) -> Responder {
    Arc::new(f)
}

#[test]
fn flush_delivers_every_series() {
    let rx = Receiver::start();
    let r = registry_with(50);
    let p = pipeline(&r, "flush", &rx.url("/in"))
        .periodic(false)
        .build()
        .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/in");
    assert_eq!(collections_seen(&reqs), [1]);
    let lines = series_lines(&reqs);
    assert_eq!(lines.len(), 50);
    assert_eq!(lines[0], r#"work{shard="s0000"} 1"#);
    assert_eq!(lines[49], r#"work{shard="s0049"} 50"#);
    assert_eq!(
        metric(&r, r#"aiplatform_push_samples_sent_total{backend="flush"}"#),
        50.0
    );
    assert_eq!(
        metric(&r, r#"aiplatform_push_batches_sent_total{backend="flush"}"#),
        1.0
    );
    assert!(
        metric(
            &r,
            r#"aiplatform_push_last_success_timestamp_seconds{backend="flush"}"#
        ) > 1.7e9
    );
}

#[test]
fn receiver_down_at_start_then_up_gets_everything_queued() {
    let port = free_port();
    let r = registry_with(10);
    let p = pipeline(&r, "down_at_start", &format!("http://127.0.0.1:{port}/in"))
        .build()
        .unwrap();
    eventually(Duration::from_secs(10), "failed attempts", || {
        (p.collections() >= 5).then_some(())
    });
    assert!(
        metric(
            &r,
            r#"aiplatform_push_failures_total{backend="down_at_start",reason="connect"}"#
        ) > 0.0
    );
    assert_eq!(p.samples_sent(), 0);
    let rx = Receiver::start_with(Some(port), responder(|_, _| Reply::ok()));
    p.flush(Duration::from_secs(10)).unwrap();
    let made = p.collections();
    let seen = collections_seen(&rx.requests());
    assert_eq!(
        seen,
        (1..=made).collect::<Vec<_>>(),
        "every collection, once, in order"
    );
    assert_eq!(p.samples_dropped(), 0);
}

#[test]
fn receiver_restarted_in_the_middle_leaves_no_gap() {
    let rx = Receiver::start();
    let port = rx.addr.port();
    let log = rx.log();
    let r = registry_with(10);
    let p = pipeline(&r, "restart", &rx.url("/in")).build().unwrap();
    eventually(Duration::from_secs(10), "three deliveries", || {
        (collections_seen(&log.lock().unwrap()).len() >= 3).then_some(())
    });
    rx.stop();
    let down_at = p.collections();
    eventually(Duration::from_secs(10), "collections while down", || {
        (p.collections() >= down_at + 5).then_some(())
    });
    let rx = Receiver::start_sharing(Some(port), responder(|_, _| Reply::ok()), log);
    p.flush(Duration::from_secs(10)).unwrap();
    let mut seen = collections_seen(&rx.requests());
    // A request cut by the restart may have arrived and then been retried.
    seen.dedup();
    assert_eq!(seen, (1..=p.collections()).collect::<Vec<_>>());
    assert_eq!(p.samples_dropped(), 0);
}

#[test]
fn server_errors_are_retried_until_success() {
    let rx = Receiver::start_with(
        None,
        responder(|_, seen| match seen.len() {
            1 => Reply::status(500),
            2 => Reply::status(502),
            3 => Reply::status(503),
            _ => Reply::ok(),
        }),
    );
    let r = registry_with(20);
    let p = pipeline(&r, "retry_5xx", &rx.url("/in"))
        .periodic(false)
        .build()
        .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 4);
    assert!(
        reqs.iter().all(|q| q.body == reqs[0].body),
        "the same batch each time"
    );
    assert_eq!(
        metric(
            &r,
            r#"aiplatform_push_failures_total{backend="retry_5xx",reason="http_5xx"}"#
        ),
        3.0
    );
    assert_eq!(
        metric(&r, r#"aiplatform_push_retries_total{backend="retry_5xx"}"#),
        3.0
    );
    assert_eq!(p.samples_sent(), 20);
}

#[test]
fn client_errors_are_dropped_counted_and_not_retried() {
    let body = format!("bad sample: {}", "x".repeat(2000));
    let rx = Receiver::start_with(
        None,
        responder(move |_, _| Reply::status(400).body(body.clone())),
    );
    let r = registry_with(20);
    let p = pipeline(&r, "reject_400", &rx.url("/in"))
        .periodic(false)
        .build()
        .unwrap();
    let res = p.flush(Duration::from_secs(10));
    assert!(
        matches!(&res, Err(FlushError::Dropped { samples: 20, last_error: Some(e) }) if e.starts_with("HTTP 400: bad sample")),
        "{res:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests().len(), 1, "no retry storm");
    assert_eq!(
        metric(
            &r,
            r#"aiplatform_push_dropped_samples_total{backend="reject_400",reason="rejected"}"#
        ),
        20.0
    );
    assert_eq!(
        metric(&r, r#"aiplatform_push_retries_total{backend="reject_400"}"#),
        0.0
    );
    let logs = logs();
    let line = logs
        .lines()
        .find(|l| l.contains("reject_400") && l.contains("rejected a batch"))
        .expect("logged");
    assert!(line.contains("HTTP 400: bad sample: xxx"), "{line}");
    assert!(
        line.contains("[...]") && !line.contains(&"x".repeat(300)),
        "cut short: {line}"
    );
}

#[test]
fn too_large_splits_in_halves_down_to_one_series() {
    // More than two records (the collection marker counts as one) is too large, and the
    // series s0003 is too large even alone.
    let rx = Receiver::start_with(
        None,
        responder(|q, _| {
            if q.lines().len() > 2 || q.text().contains("s0003") {
                Reply::status(413)
            } else {
                Reply::ok()
            }
        }),
    );
    let r = registry_with(8);
    let p = pipeline(&r, "split_413", &rx.url("/in"))
        .periodic(false)
        .build()
        .unwrap();
    let res = p.flush(Duration::from_secs(10));
    assert!(
        matches!(res, Err(FlushError::Dropped { samples: 1, .. })),
        "{res:?}"
    );
    let accepted: Vec<Captured> = rx
        .requests()
        .into_iter()
        .filter(|q| q.lines().len() <= 2 && !q.text().contains("s0003"))
        .collect();
    let lines = series_lines(&accepted);
    let tally = tally(&lines);
    assert_eq!(tally.len(), 7, "{lines:?}");
    assert!(
        tally.values().all(|&n| n == 1),
        "each delivered once: {tally:?}"
    );
    assert!(!tally.contains_key(r#"work{shard="s0003"} 4"#));
    assert_eq!(
        metric(
            &r,
            r#"aiplatform_push_dropped_samples_total{backend="split_413",reason="too_large"}"#
        ),
        1.0
    );
    assert!(
        metric(
            &r,
            r#"aiplatform_push_failures_total{backend="split_413",reason="http_413"}"#
        ) >= 4.0
    );
}

#[test]
fn retry_after_in_seconds_is_honoured() {
    let rx = Receiver::start_with(
        None,
        responder(|_, seen| {
            if seen.len() == 1 {
                Reply::status(429).header("Retry-After", "2")
            } else {
                Reply::ok()
            }
        }),
    );
    let r = registry_with(5);
    let p = pipeline(&r, "retry_after_secs", &rx.url("/in"))
        .periodic(false)
        .build()
        .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].at - reqs[0].at;
    assert!(waited >= Duration::from_millis(1950), "waited {waited:?}");
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    assert_eq!(
        metric(
            &r,
            r#"aiplatform_push_failures_total{backend="retry_after_secs",reason="http_429"}"#
        ),
        1.0
    );
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let rx = Receiver::start_with(
        None,
        responder(|_, seen| {
            if seen.len() == 1 {
                let at = std::time::SystemTime::now() + Duration::from_secs(3);
                Reply::status(503).header("Retry-After", &httpdate::fmt_http_date(at))
            } else {
                Reply::ok()
            }
        }),
    );
    let r = registry_with(5);
    let p = pipeline(&r, "retry_after_date", &rx.url("/in"))
        .periodic(false)
        .build()
        .unwrap();
    p.flush(Duration::from_secs(10)).unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    // An HTTP date has whole seconds: the wait is between 2 and 3 s.
    let waited = reqs[1].at - reqs[0].at;
    assert!(waited >= Duration::from_millis(1900), "waited {waited:?}");
}

#[test]
fn request_timeout_is_a_retryable_failure() {
    let rx = Receiver::start_with(
        None,
        responder(|_, seen| {
            if seen.len() == 1 {
                Reply::ok().delay(Duration::from_secs(5))
            } else {
                Reply::ok()
            }
        }),
    );
    let r = registry_with(5);
    let t = HttpTransport::builder(rx.url("/in"))
        .client_options(ClientOptions {
            request_timeout: Duration::from_millis(300),
            ..ClientOptions::default()
        })
        .build()
        .unwrap();
    capture_logs();
    let p = Pipeline::builder(&r, "request_timeout", Lines::default(), t)
        .periodic(false)
        .backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
        .build()
        .unwrap();
    let started = Instant::now();
    p.flush(Duration::from_secs(10)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        metric(
            &r,
            r#"aiplatform_push_failures_total{backend="request_timeout",reason="timeout"}"#
        ),
        1.0
    );
}

#[test]
fn connect_timeout_is_a_retryable_failure() {
    // A listener that never accepts, its backlog filled: further connects hang in SYN_SENT.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(s);
        }
    }
    let r = registry_with(5);
    let t = HttpTransport::builder(format!("http://{addr}/in"))
        .client_options(ClientOptions {
            connect_timeout: Duration::from_millis(200),
            request_timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        })
        .build()
        .unwrap();
    capture_logs();
    let p = Pipeline::builder(&r, "connect_timeout", Lines::default(), t)
        .periodic(false)
        .build()
        .unwrap();
    let started = Instant::now();
    let res = p.flush(Duration::from_millis(1500));
    assert!(matches!(res, Err(FlushError::Timeout { .. })), "{res:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        metric(
            &r,
            r#"aiplatform_push_failures_total{backend="connect_timeout",reason="timeout"}"#
        ) >= 2.0,
        "each attempt gave up after the connect timeout: {}\n{}",
        String::from_utf8(r.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap(),
        logs()
    );
    drop(fillers);
}

#[test]
fn a_slow_receiver_never_blocks_the_application() {
    let rx = Receiver::start_with(
        None,
        responder(|_, _| Reply::ok().delay(Duration::from_secs(30))),
    );
    let r = registry_with(1000);
    let c = r.counter("hot_total", "Hot path.").unwrap();
    let time_incs = || {
        let t = Instant::now();
        for _ in 0..2_000_000 {
            c.inc();
        }
        t.elapsed()
    };
    let before = time_incs();
    let p = pipeline(&r, "slow", &rx.url("/in"))
        .interval(Duration::from_millis(10))
        .queue_max_bytes(64 * 1024)
        .build()
        .unwrap();
    eventually(Duration::from_secs(10), "a request in flight", || {
        (!rx.requests().is_empty()).then_some(())
    });
    let during = time_incs();
    assert!(
        during < before * 10 + Duration::from_millis(50),
        "{before:?} vs {during:?}"
    );
    let started = Instant::now();
    let res = p.flush(Duration::from_millis(200));
    assert!(matches!(res, Err(FlushError::Timeout { .. })), "{res:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The queue stays within its bound while the receiver is stuck.
    assert!(metric(&r, r#"aiplatform_push_queue_bytes{backend="slow"}"#) <= 64.0 * 1024.0);
    let started = Instant::now();
    let _ = p.shutdown(Duration::from_millis(200));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown keeps its deadline"
    );
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_every_sample() {
    let port = free_port();
    let r = registry_with(10);
    // About three collections fit.
    let p = pipeline(&r, "queue_full", &format!("http://127.0.0.1:{port}/in"))
        .interval(Duration::from_millis(30))
        .queue_max_bytes(3 * 500)
        .build()
        .unwrap();
    eventually(Duration::from_secs(10), "collections", || {
        (p.collections() >= 15).then_some(())
    });
    let rx = Receiver::start_with(Some(port), responder(|_, _| Reply::ok()));
    p.flush(Duration::from_secs(10))
        .unwrap_or_else(|e| assert!(matches!(e, FlushError::Dropped { .. })));
    let _ = p.shutdown(Duration::from_secs(5));
    let seen = collections_seen(&rx.requests());
    let produced = {
        // Every collection carried 10 samples.
        let last = *seen.last().unwrap();
        last * 10
    };
    let sent = metric(
        &r,
        r#"aiplatform_push_samples_sent_total{backend="queue_full"}"#,
    );
    let dropped = metric(
        &r,
        r#"aiplatform_push_dropped_samples_total{backend="queue_full",reason="queue_full"}"#,
    );
    assert!(dropped > 0.0);
    assert_eq!(sent + dropped, produced as f64, "nothing unaccounted");
    assert_eq!(seen[0], 1, "the batch being sent is kept");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
    assert!(
        seen.windows(2).any(|w| w[1] > w[0] + 1),
        "a gap where the oldest were dropped"
    );
}

#[test]
fn shutdown_pushes_the_final_values_of_a_batch_job() {
    let rx = Receiver::start();
    let r = registry_with(0);
    let done = r.counter("records_processed_total", "Records.").unwrap();
    let p = pipeline(&r, "batch_job", &rx.url("/in"))
        .periodic(false)
        .build()
        .unwrap();
    done.inc_by(1234);
    p.shutdown(Duration::from_secs(5)).unwrap();
    let reqs = rx.requests();
    assert_eq!(collections_seen(&reqs), [1]);
    assert_eq!(series_lines(&reqs), ["records_processed{} 1234"]);
}

#[test]
fn shutdown_keeps_its_deadline_and_counts_what_is_lost() {
    let rx = Receiver::start_with(
        None,
        responder(|_, _| Reply::ok().delay(Duration::from_secs(30))),
    );
    let r = registry_with(7);
    let p = pipeline(&r, "shutdown_deadline", &rx.url("/in"))
        .periodic(false)
        .build()
        .unwrap();
    let started = Instant::now();
    let res = p.shutdown(Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            res,
            Err(FlushError::Dropped { samples: 7, .. }) | Err(FlushError::Timeout { .. })
        ),
        "{res:?}"
    );
    assert_eq!(
        metric(
            &r,
            r#"aiplatform_push_dropped_samples_total{backend="shutdown_deadline",reason="shutdown"}"#
        ),
        7.0
    );
}

#[test]
fn credentials_never_show() {
    const TOKEN: &str = "tok-SECRET-4b9f";
    const KEY: &str = "key-SECRET-77aa";
    const PASSWORD: &str = "pw-SECRET-91c3";
    // A receiver that echoes the credentials it got back in its error page.
    let rx = Receiver::start_with(
        None,
        responder(|q, _| {
            let echo = format!("{:?}", q.headers);
            Reply::status(401).body(format!("denied: {echo}"))
        }),
    );
    let r = registry_with(3);
    capture_logs();
    let auth = Auth::bearer(SecretSource::value(TOKEN))
        .with_header("X-Api-Key", SecretSource::value(KEY))
        .unwrap();
    let t = HttpTransport::builder(rx.url("/in"))
        .auth(auth)
        .build()
        .unwrap();
    let debug_transport = format!("{t:?}");
    let p = Pipeline::builder(&r, "secrets", Lines::default(), t)
        .periodic(false)
        .build()
        .unwrap();
    let err = p.flush(Duration::from_secs(5)).unwrap_err().to_string();
    let debug_pipeline = format!("{p:?}");
    // Basic auth too, and a credential file that is missing.
    let basic = Auth::basic("user", SecretSource::value(PASSWORD));
    let debug_basic = format!("{basic:?} {:?}", basic.headers().unwrap());
    let missing = HttpTransport::builder(rx.url("/in"))
        .auth(Auth::bearer(SecretSource::file("/nonexistent/token")))
        .build()
        .unwrap_err()
        .to_string();
    drop(p);
    let metrics =
        String::from_utf8(r.encode(aiplatform_metrics::ExpositionFormat::OpenMetrics)).unwrap();
    let received = rx.requests();
    assert!(
        received[0].headers["authorization"] == format!("Bearer {TOKEN}").as_str()
            && received[0].headers["x-api-key"] == KEY,
        "the receiver got them"
    );
    let logs = logs();
    assert!(
        logs.contains("secrets") && logs.contains("HTTP 401: denied"),
        "{logs}"
    );
    for shown in [
        &logs,
        &err,
        &debug_pipeline,
        &debug_transport,
        &debug_basic,
        &missing,
        &metrics,
    ] {
        for secret in [TOKEN, KEY, PASSWORD] {
            assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
        }
    }
    assert!(missing.contains("/nonexistent/token"), "{missing}");
}

#[test]
fn a_receiver_that_refuses_the_sender_stops_the_backend_once() {
    let rx = Receiver::start_with(
        None,
        responder(|_, _| Reply::status(403).body("key revoked")),
    );
    let r = registry_with(4);
    capture_logs();
    let t = HttpTransport::builder(rx.url("/in"))
        .classifier(Arc::new(
            |resp: &http::Response<bytes::Bytes>, detail: &str| {
                (resp.status() == 403).then(|| aiplatform_push::Outcome::Stop {
                    failure: aiplatform_push::Failure::Status(403),
                    detail: detail.to_owned(),
                })
            },
        ))
        .build()
        .unwrap();
    let p = Pipeline::builder(&r, "stop_403", Lines::default(), t)
        .periodic(false)
        .build()
        .unwrap();
    assert_eq!(p.flush(Duration::from_secs(5)), Err(FlushError::Stopped));
    assert_eq!(p.flush(Duration::from_secs(5)), Err(FlushError::Stopped));
    assert_eq!(rx.requests().len(), 1, "nothing more is sent");
    assert_eq!(
        metric(
            &r,
            r#"aiplatform_push_dropped_samples_total{backend="stop_403",reason="stopped"}"#
        ),
        4.0
    );
    let said = logs()
        .lines()
        .filter(|l| l.contains("stop_403") && l.contains("refuses this sender"))
        .count();
    assert_eq!(said, 1, "said once");
}
