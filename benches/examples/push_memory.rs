//! Memory of a remote-write (or OTLP) pipeline whose receiver is down: RSS over a few minutes
//! of failed pushes of many series, beside the queue's bound.
//!
//! `cargo run --release -p aiplatform-benches --example push_memory -- [series] [seconds] [queue MiB] [interval ms] [otlp]`
//! (defaults: 100000 series, 180 s, 64 MiB, 1000 ms, remote write; a fifth argument `1`
//! pushes OTLP/HTTP with gzip instead). Prints one line every 10 s.

use std::time::{Duration, Instant};

use aiplatform_metrics::{Buckets, Opts, Registry, Value};
use aiplatform_push::{Encoder, Pipeline, PipelineBuilder, Transport};
use aiplatform_remote_write::RemoteWrite;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn gauge(r: &Registry, family: &str) -> f64 {
    let s = r.collect();
    let Some(f) = s.family(family) else {
        return 0.0;
    };
    f.samples()
        .map(|s| match s.value {
            Value::Gauge(v) => v,
            Value::Counter(c) => c.as_f64(),
            _ => 0.0,
        })
        .sum()
}

/// Starts a pipeline pushing every `interval`, its queue bounded at `queue_mib`.
fn start_pipeline<E: Encoder, T: Transport>(
    b: PipelineBuilder<E, T>,
    interval: Duration,
    queue_mib: u64,
) -> Pipeline {
    b.interval(interval)
        .jitter(false)
        .queue_max_bytes(queue_mib * 1024 * 1024)
        .build()
        .unwrap()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let series = *args.first().unwrap_or(&100_000) as usize;
    let seconds = *args.get(1).unwrap_or(&180);
    let queue_mib = *args.get(2).unwrap_or(&64);
    let interval = Duration::from_millis(*args.get(3).unwrap_or(&1000));

    let r = Registry::builder()
        .const_label("env", "memory")
        .build()
        .unwrap();
    let c = r
        .register(
            Opts::counter("requests_total", "Requests.")
                .label_names(&["route", "status"])
                .max_series(series),
        )
        .unwrap();
    let h = r
        .register(
            Opts::histogram("latency_seconds", "Latency.", Buckets::default())
                .label_names(&["route"])
                .max_series(series),
        )
        .unwrap();
    for i in 0..series {
        if i % 10 == 0 {
            h.with(&[format!("/r{i}")]).observe(0.1);
        } else {
            c.with(&[format!("/r{i}"), "200".to_owned()]).inc();
        }
    }
    let base = rss_mib();
    // A port nothing listens on: every push fails to connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let otlp = args.get(4) == Some(&1);
    let pipeline = if otlp {
        let otlp = aiplatform_otlp::Otlp::from_vars([
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
        ]);
        start_pipeline(otlp.metrics(&r).unwrap().unwrap(), interval, queue_mib)
    } else {
        let rw = RemoteWrite::new(format!("http://127.0.0.1:{port}/api/v1/write"));
        start_pipeline(rw.pipeline(&r).unwrap(), interval, queue_mib)
    };
    println!(
        "backend={} series={series} queue_bound={queue_mib} MiB interval={interval:?}; RSS with the registry alone: {base:.1} MiB",
        pipeline.backend()
    );
    println!(
        "{:>6} {:>10} {:>12} {:>12} {:>12} {:>16}",
        "t (s)", "RSS MiB", "over base", "queue MiB", "collections", "dropped samples"
    );
    let started = Instant::now();
    let mut peak: f64 = 0.0;
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(10));
        // Keep the values moving, as a live service would.
        c.with(&["/r1", "200"]).inc();
        let rss = rss_mib();
        peak = peak.max(rss);
        println!(
            "{:>6} {:>10.1} {:>12.1} {:>12.1} {:>12} {:>16}",
            started.elapsed().as_secs(),
            rss,
            rss - base,
            gauge(&r, "aiplatform_push_queue_bytes") / 1024.0 / 1024.0,
            pipeline.collections(),
            pipeline.samples_dropped(),
        );
    }
    println!(
        "peak RSS {peak:.1} MiB = base {base:.1} + {:.1} MiB (queue bound {queue_mib} MiB)",
        peak - base
    );
    let _ = pipeline.shutdown(Duration::ZERO);
}
