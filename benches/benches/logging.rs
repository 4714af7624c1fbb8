//! aiplatform-logging beside tracing-subscriber's JSON formatter, in the same run.
//!
//! - `logging/json_event/*`: events per second on the application thread, one realistic event
//!   (inside a span with two fields, five event fields) written to `io::sink()`.
//!   `aiplatform/redacted` is our ECS JSON layer with redaction and fingerprints on, writing on
//!   the calling thread (the same work as the peer: format and write);
//!   `aiplatform/redacted_queued` hands lines to a writer thread instead (production setup);
//!   `tracing_subscriber/json` is `tracing_subscriber::fmt().json()` (no redaction).
//!   `*_secret` variants carry a password and a bearer token in the message.
//! - `logging/logstash_down/*`: the cost per event on the application thread while Logstash is
//!   unreachable, and, printed before the criterion output, p50/p99 per event over 200 000
//!   events for: queue filling, queue full (dropping), and with a spool.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aiplatform_benches::net::closed_port;
use aiplatform_logging::{Format, LogstashConfig, Output, SpoolConfig};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn ours(output: Output) -> (Dispatch, aiplatform_logging::LogGuard) {
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("bench")
        .service_version("1.0.0")
        .host_name("bench-host")
        .output(output)
        .build()
        .unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

fn theirs() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::sink)
            .finish(),
    )
}

fn event(i: u64) {
    tracing::info!(
        user.id = i,
        http.response.status_code = 200u64,
        latency_ms = 12.5,
        model = "gpt-4o-mini",
        tenant = "acme",
        "request completed"
    );
}

fn event_secret(i: u64) {
    tracing::info!(
        user.id = i,
        http.response.status_code = 401u64,
        "login failed for postgres://app:hunter2@db/app with Authorization: Bearer abc123def456ghi"
    );
}

fn run(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, d: &Dispatch, f: fn(u64)) {
    tracing::dispatcher::with_default(d, || {
        let span = tracing::info_span!(
            "request",
            http.request.method = "POST",
            url.path = "/v1/chat/completions"
        );
        let _e = span.enter();
        let mut i = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                f(black_box(i));
            })
        });
    });
}

fn json_event(c: &mut Criterion) {
    let mut g = c.benchmark_group("logging/json_event");
    g.throughput(Throughput::Elements(1));
    let (blocking, _g1) = ours(Output::blocking_writer(std::io::sink(), Format::Json));
    let (queued, _g2) = ours(Output::writer(std::io::sink(), Format::Json).queue_capacity(1 << 20));
    let peer = theirs();
    for (variant, f) in [("", event as fn(u64)), ("_secret", event_secret as fn(u64))] {
        run(
            &mut g,
            &format!("aiplatform/redacted{variant}"),
            &blocking,
            f,
        );
        run(
            &mut g,
            &format!("aiplatform/redacted_queued{variant}"),
            &queued,
            f,
        );
        run(
            &mut g,
            &format!("tracing_subscriber/json{variant}"),
            &peer,
            f,
        );
    }
    g.finish();
}

fn percentiles(label: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let p = |q: f64| ns[((ns.len() as f64 - 1.0) * q) as usize];
    println!(
        "logstash down, {label}: n={} p50={}ns p99={}ns p99.9={}ns max={}ns",
        ns.len(),
        p(0.50),
        p(0.99),
        p(0.999),
        ns[ns.len() - 1]
    );
}

/// Times each event on the application thread while nothing listens on the Logstash port.
fn latency_while_down(c: &mut Criterion) {
    const N: usize = 200_000;
    let cfg = || LogstashConfig::new(format!("127.0.0.1:{}", closed_port()));

    // No spool: the first 65 536 events fill the queue, the rest are dropped (counted).
    let (d, guard) = ours(Output::logstash(cfg()));
    let mut times = Vec::with_capacity(N);
    tracing::dispatcher::with_default(&d, || {
        for i in 0..N as u64 {
            let t = Instant::now();
            event(i);
            times.push(t.elapsed().as_nanos() as u64);
        }
    });
    let full = times.split_off(60_000);
    percentiles("no spool, queue filling (events 0..60k)", times);
    percentiles("no spool, queue full, dropping (events 60k..200k)", full);
    drop(guard);

    // With a spool: the shipper moves lines to disk, the queue keeps room.
    let dir = std::env::temp_dir().join(format!("aiplog-bench-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (d, guard) = ours(Output::logstash(
        cfg()
            .spill_after(Duration::from_millis(10))
            .spool(SpoolConfig::new(&dir).max_bytes(1 << 30)),
    ));
    let mut times = Vec::with_capacity(N);
    tracing::dispatcher::with_default(&d, || {
        for i in 0..N as u64 {
            let t = Instant::now();
            event(i);
            times.push(t.elapsed().as_nanos() as u64);
        }
    });
    percentiles("spool on", times);
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);

    let (d, _guard) = ours(Output::logstash(cfg()));
    let mut g = c.benchmark_group("logging/logstash_down");
    g.throughput(Throughput::Elements(1));
    tracing::dispatcher::with_default(&d, || {
        let mut i = 0u64;
        g.bench_function("aiplatform/event", |b| {
            b.iter(|| {
                i += 1;
                event(black_box(i));
            })
        });
    });
    g.finish();
}

criterion_group!(benches, json_event, latency_while_down);
criterion_main!(benches);
