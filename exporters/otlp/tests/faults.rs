//! The delivery rules with OTLP's status rules on top, one receiver misbehaviour per test,
//! nothing lost within the queue bound. OTLP/HTTP retries 429, 502, 503 and 504 only (the
//! specification: 500 is not retryable); OTLP/gRPC retries `UNAVAILABLE` and friends.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiplatform_metrics::{Counter, ExpositionFormat, Registry};
use aiplatform_otlp::{Otlp, Protocol};
use aiplatform_push::{Backoff, FlushError, PipelineBuilder, SpoolOptions};
use aiplatform_testkit::{Scrape, eventually_some as eventually, free_port};
use support::{Captured, Receiver, Reply, decode};

const WAIT: Duration = Duration::from_secs(10);

fn registry() -> (Registry, Counter) {
    let r = Registry::builder().without_self_metrics().build().unwrap();
    let rounds = r.counter("rounds_total", "Rounds done.").unwrap();
    (r, rounds)
}

fn builder(
    registry: &Registry,
    port: u16,
    protocol: Protocol,
) -> PipelineBuilder<aiplatform_otlp::MetricsEncoder, aiplatform_otlp::OtlpTransport> {
    Otlp::from_vars([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".into()),
    ])
    .protocol(protocol)
    .metrics(registry)
    .unwrap()
    .unwrap()
    .periodic(false)
    .collect_on_shutdown(false)
    .backoff(Backoff::new(
        Duration::from_millis(20),
        Duration::from_millis(200),
    ))
}

/// The `rounds` value of every metrics request that carried it, in order of arrival.
fn rounds_seen(requests: &[Captured]) -> Vec<u64> {
    let messages: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| r.message.clone())
        .filter(|m| !m.is_empty())
        .collect();
    let mut out = Vec::new();
    for req in decode("metrics", &messages) {
        for rm in req["resource_metrics"].as_array().unwrap() {
            for sm in rm["scope_metrics"].as_array().unwrap() {
                for m in sm["metrics"].as_array().unwrap() {
                    if m["name"] == "rounds" {
                        for p in m["sum"]["data_points"].as_array().unwrap() {
                            out.push(p["as_int"].as_str().unwrap().parse().unwrap());
                        }
                    }
                }
            }
        }
    }
    out
}

fn self_metric(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    Scrape::parse(String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap())
        .get(name, labels)
        .unwrap_or(0.0)
}

#[test]
fn receiver_down_at_start_then_up_gets_everything_queued() {
    let port = free_port();
    let (r, rounds) = registry();
    let p = builder(&r, port, Protocol::HttpProtobuf).build().unwrap();
    for _ in 0..3 {
        rounds.inc();
        assert!(p.flush(Duration::from_millis(200)).is_err());
    }
    let rx = Receiver::start_with(Some(port), Arc::new(|_: &Captured, _| Reply::ok()));
    rounds.inc();
    p.flush(WAIT).unwrap();
    assert_eq!(rounds_seen(&rx.requests()), [1, 2, 3, 4]);
    p.shutdown(WAIT).unwrap();
}

#[test]
fn receiver_restarted_in_the_middle_leaves_no_gap() {
    let port = free_port();
    let grpc_ok: support::Responder = Arc::new(|_: &Captured, _| Reply::grpc(0, ""));
    let rx = Receiver::start_with(Some(port), grpc_ok.clone());
    let log = rx.log();
    let (r, rounds) = registry();
    let p = builder(&r, port, Protocol::Grpc).build().unwrap();
    rounds.inc();
    p.flush(WAIT).unwrap();
    rx.stop();
    for _ in 0..3 {
        rounds.inc();
        assert!(p.flush(Duration::from_millis(200)).is_err());
    }
    let rx = Receiver::start_sharing(Some(port), grpc_ok, log);
    rounds.inc();
    p.flush(WAIT).unwrap();
    assert_eq!(rounds_seen(&rx.requests()), [1, 2, 3, 4, 5]);
    p.shutdown(WAIT).unwrap();
}

#[test]
fn unavailable_is_retried_until_it_passes() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, n| match n {
            0 => Reply::status(503),
            1 => Reply::status(502),
            _ => Reply::ok(),
        }),
    );
    let (r, rounds) = registry();
    let p = builder(&r, rx.addr.port(), Protocol::HttpProtobuf)
        .build()
        .unwrap();
    rounds.inc();
    p.flush(WAIT).unwrap();
    assert_eq!(rounds_seen(&rx.requests()), [1, 1, 1]);
    assert_eq!(
        self_metric(&r, "aiplatform_push_retries_total", &[("backend", "otlp")]),
        2.0
    );
    p.shutdown(WAIT).unwrap();
}

#[test]
fn grpc_unavailable_is_retried_and_invalid_argument_is_not() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, n| match n {
            0 => Reply::grpc(14, "try later"),
            1 => Reply::grpc(0, ""),
            _ => Reply::grpc(3, "bad data"),
        }),
    );
    let (r, rounds) = registry();
    let p = builder(&r, rx.addr.port(), Protocol::Grpc).build().unwrap();
    rounds.inc();
    p.flush(WAIT).unwrap();
    rounds.inc();
    match p.flush(WAIT) {
        Err(FlushError::Dropped {
            samples,
            last_error,
        }) => {
            // `rounds` and the pipeline's own families.
            assert!(samples > 1, "{samples}");
            assert_eq!(
                last_error.as_deref(),
                Some("gRPC INVALID_ARGUMENT: bad data")
            );
        }
        other => panic!("{other:?}"),
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rounds_seen(&rx.requests()), [1, 1, 2]);
    p.shutdown(WAIT).unwrap();
}

#[test]
fn bad_request_and_500_are_dropped_and_counted_without_retries() {
    for status in [400, 500] {
        let rx = Receiver::start_with(None, Arc::new(move |_: &Captured, _| Reply::status(status)));
        let (r, rounds) = registry();
        let p = builder(&r, rx.addr.port(), Protocol::HttpProtobuf)
            .build()
            .unwrap();
        for _ in 0..3 {
            rounds.inc();
            assert!(matches!(p.flush(WAIT), Err(FlushError::Dropped { .. })));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            rx.requests().len(),
            3,
            "HTTP {status}: one request per push"
        );
        let dropped = self_metric(
            &r,
            "aiplatform_push_dropped_samples_total",
            &[("backend", "otlp"), ("reason", "rejected")],
        );
        assert!(dropped >= 3.0, "{dropped}");
        assert_eq!(dropped, p.samples_dropped() as f64);
        assert_eq!(
            self_metric(&r, "aiplatform_push_retries_total", &[("backend", "otlp")]),
            0.0
        );
        p.shutdown(WAIT).unwrap();
    }
}

#[test]
fn too_large_is_split_until_it_fits() {
    // Refuses bodies over 16 KiB (a record holds up to 256 points: about 13 KiB here).
    let rx = Receiver::start_with(
        None,
        Arc::new(|c: &Captured, _| {
            if c.raw.len() > 16 * 1024 {
                Reply::status(413)
            } else {
                Reply::ok()
            }
        }),
    );
    let r = Registry::builder().without_self_metrics().build().unwrap();
    let f = r
        .counter_family("work_total", "Work done.", &["shard"])
        .unwrap();
    for i in 0..1000u64 {
        f.with(&[format!("shard-{i:04}")]).inc_by(i + 1);
    }
    let p = builder(&r, rx.addr.port(), Protocol::HttpProtobuf)
        .build()
        .unwrap();
    p.flush(WAIT).unwrap();
    let accepted: Vec<Vec<u8>> = rx
        .requests()
        .iter()
        .filter(|c| c.raw.len() <= 16 * 1024)
        .map(|c| c.message.clone())
        .collect();
    let mut values = Vec::new();
    for req in decode("metrics", &accepted) {
        for rm in req["resource_metrics"].as_array().unwrap() {
            for sm in rm["scope_metrics"].as_array().unwrap() {
                for m in sm["metrics"].as_array().unwrap() {
                    if m["name"] == "work" {
                        for p in m["sum"]["data_points"].as_array().unwrap() {
                            values.push(p["as_int"].as_str().unwrap().parse::<u64>().unwrap());
                        }
                    }
                }
            }
        }
    }
    values.sort_unstable();
    assert_eq!(values, (1..=1000).collect::<Vec<u64>>());
    assert!(
        rx.requests().len() > accepted.len(),
        "some were refused first"
    );
    p.shutdown(WAIT).unwrap();
}

#[test]
fn too_many_requests_with_retry_after_waits() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, n| {
            if n == 0 {
                Reply::status(429).header("retry-after", "2")
            } else {
                Reply::ok()
            }
        }),
    );
    let (r, rounds) = registry();
    let p = builder(&r, rx.addr.port(), Protocol::HttpProtobuf)
        .build()
        .unwrap();
    rounds.inc();
    p.flush(WAIT).unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].at - reqs[0].at;
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    p.shutdown(WAIT).unwrap();
}

#[test]
fn a_slow_receiver_never_holds_the_application_thread() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, _| Reply::ok().delay(Duration::from_millis(1500))),
    );
    let (r, rounds) = registry();
    let p = Arc::new(
        builder(&r, rx.addr.port(), Protocol::HttpProtobuf)
            .build()
            .unwrap(),
    );
    let flusher = {
        let p = p.clone();
        std::thread::spawn(move || p.flush(WAIT))
    };
    eventually(WAIT, "the request in flight", || {
        (!rx.requests().is_empty()).then_some(())
    });
    // The receiver sits on the request for 1.5 s; recording does not wait for it.
    let start = Instant::now();
    for _ in 0..1_000_000 {
        rounds.inc();
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(!flusher.is_finished(), "the push was still in flight");
    flusher.join().unwrap().unwrap();
    assert_eq!(rounds.get(), 1_000_000.0);
    p.shutdown(WAIT).unwrap();
}

const CHILD_DIR: &str = "AIPLATFORM_OTLP_SPOOL_CHILD_DIR";
const CHILD_PORT: &str = "AIPLATFORM_OTLP_SPOOL_CHILD_PORT";

/// The child's part: push to a receiver that is down, through the spool, until killed.
fn child(dir: &str, port: &str) -> ! {
    let (r, rounds) = registry();
    let p = builder(&r, port.parse().unwrap(), Protocol::HttpProtobuf)
        .spool(SpoolOptions::new(dir))
        .build()
        .unwrap();
    for n in 1.. {
        rounds.inc();
        let _ = p.flush(Duration::from_millis(50));
        // Every round reported here has been written to the spool.
        println!("SPOOLED {n}");
    }
    unreachable!()
}

#[test]
fn a_process_killed_while_the_receiver_is_down_delivers_its_spool_after_restart() {
    if let (Ok(dir), Ok(port)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_PORT)) {
        child(&dir, &port);
    }
    let dir = aiplatform_testkit::TempDir::new("otlp-spool");
    let port = free_port();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_process_killed_while_the_receiver_is_down_delivers_its_spool_after_restart",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_PORT, port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let spooled = loop {
        let line = lines.next().expect("the child runs").unwrap();
        if let Some(n) = line.strip_prefix("SPOOLED ") {
            let n: u64 = n.parse().unwrap();
            if n >= 5 {
                break n;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the child is stuck"
        );
    };
    // SIGKILL: no shutdown, no flush, no destructor.
    child.kill().unwrap();
    child.wait().unwrap();

    let rx = Receiver::start_with(Some(port), Arc::new(|_: &Captured, _| Reply::ok()));
    let (r, _) = registry();
    let p = builder(&r, port, Protocol::HttpProtobuf)
        .spool(SpoolOptions::new(dir.path()))
        .build()
        .unwrap();
    eventually(Duration::from_secs(20), "the spooled pushes", || {
        (rx.requests().len() as u64 >= spooled).then_some(())
    });
    p.shutdown(WAIT).unwrap();
    let seen = rounds_seen(&rx.requests());
    // In order, from the first; the child may have spooled more after its last report.
    assert_eq!(
        seen[..spooled as usize],
        (1..=spooled).collect::<Vec<_>>()[..]
    );
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap: {seen:?}"
    );
}

#[test]
fn credentials_never_show_in_errors_or_debug_output() {
    // A receiver that echoes the request's key in its error body and gRPC message.
    let rx = Receiver::start_with(
        None,
        Arc::new(|c: &Captured, _| {
            let key = c.header("x-api-key").unwrap_or("").to_owned();
            Reply::status(400).body(format!("bad key {key}"))
        }),
    );
    let (r, rounds) = registry();
    let otlp = Otlp::from_vars([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", rx.url()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr3t-k3y".into()),
    ]);
    let debug = format!(
        "{otlp:?} {:?}",
        otlp.signal(aiplatform_otlp::Signal::Metrics).unwrap()
    );
    assert!(!debug.contains("s3cr3t-k3y"), "{debug}");
    let p = otlp
        .metrics(&r)
        .unwrap()
        .unwrap()
        .periodic(false)
        .collect_on_shutdown(false)
        .build()
        .unwrap();
    rounds.inc();
    match p.flush(WAIT) {
        Err(FlushError::Dropped { last_error, .. }) => {
            let e = last_error.unwrap();
            assert!(e.contains("bad key [redacted]"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.requests()[0].header("x-api-key"), Some("s3cr3t-k3y"));
    let text = String::from_utf8(r.encode(ExpositionFormat::Text)).unwrap();
    assert!(!text.contains("s3cr3t-k3y"));
    p.shutdown(WAIT).unwrap();
}
