//! The application thread's cost while New Relic is unreachable, beside the same program with
//! New Relic reachable and with no New Relic backend: p50/p99 per counter increment and per
//! log event, in the same run.
//!
//! "down": both APIs point at a closed local port; the metrics pipeline collects every second
//! and fails to send, the log output's queue fills (65 536 events) and then drops, counted.
//! "up": a local receiver answers every request with 202. Every setup also writes JSON lines
//! to a sink, as an application logging to stdout does. Rounds alternate between the setups
//! so that all see the same machine.
//!
//! `cargo run --release -p aiplatform-benches --example newrelic_down`

use std::hint::black_box;
use std::time::{Duration, Instant};

use aiplatform_logging::{Format, LogGuard, Output};
use aiplatform_metrics::{Counter, Registry};
use aiplatform_newrelic::NewRelic;
use aiplatform_push::{Pipeline, SecretSource};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const EVENTS: usize = 100_000;
const INCREMENTS: usize = 1_000_000;
const ROUNDS: usize = 3;

struct Setup {
    dispatch: Dispatch,
    counter: Counter,
    _guard: LogGuard,
    _pipeline: Option<Pipeline>,
}

/// A port where a thread answers every HTTP request with `202 Accepted`.
fn accepting() -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply =
                        "HTTP/1.1 202 Accepted\r\ncontent-length: 19\r\n\r\n{\"requestId\":\"b\"}";
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A port nothing listens on.
fn closed() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn setup(newrelic: Option<u16>) -> Setup {
    let registry = Registry::new();
    let counter = registry.counter("requests_total", "Requests.").unwrap();
    let mut logs = aiplatform_logging::builder()
        .service_name("bench")
        .host_name("bench-host")
        .registry(registry.clone())
        .output(Output::writer(std::io::sink(), Format::Json).queue_capacity(1 << 20));
    let mut pipeline = None;
    if let Some(port) = newrelic {
        let nr = NewRelic::license_key(SecretSource::value(
            "0123456789abcdef0123456789abcdef0123NRAL",
        ))
        .metric_url(format!("http://127.0.0.1:{port}/metric/v1"))
        .log_url(format!("http://127.0.0.1:{port}/log/v1"));
        logs = logs.output(nr.log_output().unwrap());
        pipeline = Some(
            nr.metrics(&registry)
                .unwrap()
                .interval(Duration::from_secs(1))
                .build()
                .unwrap(),
        );
    }
    let (layer, guard) = logs.build().unwrap();
    Setup {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        counter,
        _guard: guard,
        _pipeline: pipeline,
    }
}

fn event(i: u64) {
    tracing::info!(
        user.id = i,
        http.response.status_code = 200u64,
        latency_ms = 12.5,
        model = "gpt-4o-mini",
        "request completed"
    );
}

fn quantiles(mut ns: Vec<u64>) -> (u64, u64) {
    ns.sort_unstable();
    let p = |q: f64| ns[((ns.len() as f64 - 1.0) * q) as usize];
    (p(0.50), p(0.99))
}

fn measure(s: &Setup) -> ((u64, u64), (u64, u64)) {
    let mut inc = Vec::with_capacity(INCREMENTS);
    for _ in 0..INCREMENTS {
        let t = Instant::now();
        black_box(&s.counter).inc();
        inc.push(t.elapsed().as_nanos() as u64);
    }
    let mut ev = Vec::with_capacity(EVENTS);
    tracing::dispatcher::with_default(&s.dispatch, || {
        for i in 0..EVENTS as u64 {
            let t = Instant::now();
            event(black_box(i));
            ev.push(t.elapsed().as_nanos() as u64);
        }
    });
    (quantiles(inc), quantiles(ev))
}

fn main() {
    let setups = [
        ("no backend", setup(None)),
        ("New Relic up", setup(Some(accepting()))),
        ("New Relic down", setup(Some(closed()))),
    ];
    std::thread::sleep(Duration::from_millis(200));
    for round in 1..=ROUNDS {
        for (name, s) in &setups {
            let ((i50, i99), (e50, e99)) = measure(s);
            println!(
                "round {round} {name:>15}: counter inc p50={i50}ns p99={i99}ns | log event p50={e50}ns p99={e99}ns"
            );
        }
    }
}
