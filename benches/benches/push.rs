//! The push pipeline: one push cycle (collect + points + encode + compress) per backend
//! encoder at 10k and 100k series, and what recording costs while a pipeline runs.
//!
//! `cargo bench -p aiplatform-benches --bench push -- --warm-up-time 1 --measurement-time 5`
//!
//! `push_cycle/<encoder>/<series>` times one warm cycle; a peer exporting the same registry
//! (the OpenTelemetry SDK, say) goes in the same group as another `<encoder>`, built from
//! [`series_registry`]'s description. `record_while_pushing/<op>/<idle|pushing>` times hot-path
//! operations with no pipeline, with the registry scraped every 50 ms (a thread encoding it),
//! and with a pipeline pushing its 10k series every 50 ms on its own thread.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aiplatform_metrics::{Buckets, Opts, Registry};
use aiplatform_push::{
    Batch, Compression, Cycle, Encoder, Outcome, Pipeline, Temporality, Transport,
};
use aiplatform_pushgateway::MetricFamilyEncoder;
use aiplatform_remote_write::RemoteWrite;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// `n` series: nine in ten counters with two labels (route, status), one in ten histograms
/// with the 11 default buckets and one label; every series has a value.
fn series_registry(n: usize) -> Registry {
    let r = Registry::builder()
        .const_label("env", "bench")
        .without_self_metrics()
        .build()
        .unwrap();
    let c = r
        .register(
            Opts::counter("requests_total", "Requests.")
                .label_names(&["route", "status"])
                .max_series(n),
        )
        .unwrap();
    let h = r
        .register(
            Opts::histogram("latency_seconds", "Latency.", Buckets::default())
                .label_names(&["route"])
                .max_series(n),
        )
        .unwrap();
    for i in 0..n {
        if i % 10 == 0 {
            h.with(&[format!("/r{i}")]).observe((i % 100) as f64 / 50.0);
        } else {
            c.with(&[format!("/r{i}"), "200".to_owned()])
                .inc_by(i as u64);
        }
    }
    r
}

fn run_cycles<E: Encoder>(
    c: &mut Criterion,
    name: &str,
    encoder: impl Fn() -> E,
    temporality: Temporality,
    compression: Compression,
) {
    let mut group = c.benchmark_group("push_cycle");
    group.sample_size(10);
    for n in [10_000usize, 100_000] {
        let r = series_registry(n);
        let mut cycle = Cycle::new(&r, encoder(), temporality, SystemTime::now())
            .compression(compression)
            .limits(1 << 20, 2000);
        let mut batches: Vec<Batch> = Vec::with_capacity(1024);
        // Warm: the tracker knows every series, buffers have their size.
        for _ in 0..2 {
            cycle.run(&mut |b| batches.push(b));
            batches.clear();
        }
        cycle.run(&mut |b| batches.push(b));
        let series: u64 = batches.iter().map(Batch::series).sum();
        assert_eq!(series, n as u64, "every series encoded once");
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter(|| {
                batches.clear();
                cycle.run(&mut |batch| batches.push(batch));
                black_box(batches.len())
            })
        });
    }
    group.finish();
}

fn push_cycle(c: &mut Criterion) {
    let rw = || RemoteWrite::new("http://127.0.0.1:1/").encoder();
    run_cycles(
        c,
        "remote_write_snappy",
        rw,
        Temporality::Cumulative,
        Compression::Snappy,
    );
    run_cycles(
        c,
        "remote_write_snappy_delta",
        rw,
        Temporality::Delta,
        Compression::Snappy,
    );
    run_cycles(
        c,
        "pushgateway_protobuf",
        || MetricFamilyEncoder::new(vec!["job".into()]),
        Temporality::Cumulative,
        Compression::None,
    );
}

/// Takes every batch and answers at once: the pipeline's own cost, no network.
struct Discard;

impl Transport for Discard {
    async fn send(&mut self, batch: &Batch) -> Outcome {
        black_box(batch.body().len());
        Outcome::Delivered
    }
}

fn record_while_pushing(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_while_pushing");
    let r = series_registry(10_000);
    let counter = r.counter("hot_total", "Hot path.").unwrap();
    let family = r
        .counter_family(
            "hot_labeled_total",
            "Hot path, labeled.",
            &["method", "route", "status"],
        )
        .unwrap();
    let hist = r
        .histogram("hot_seconds", "Hot path.", Buckets::default())
        .unwrap();
    let labels = ["GET", "/api/v1/predict", "200"];
    family.with(&labels).inc();
    let cases = |group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
                 state: &str| {
        group.bench_function(BenchmarkId::new("counter_inc", state), |b| {
            b.iter(|| counter.inc())
        });
        group.bench_function(BenchmarkId::new("labeled_lookup_inc", state), |b| {
            b.iter(|| family.apply(black_box(&labels), |c| c.inc()))
        });
        group.bench_function(BenchmarkId::new("histogram_observe", state), |b| {
            b.iter(|| hist.observe(black_box(0.042)))
        });
    };
    cases(&mut group, "idle");
    {
        // What a scrape every 50 ms costs the hot path, for comparison: encoding the same
        // registry on another thread.
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut out = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    out.clear();
                    r.encode_into(aiplatform_metrics::ExpositionFormat::Text, &mut out);
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            cases(&mut group, "scraped");
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    {
        // A remote-write pipeline every 50 ms (a cycle of 10k series takes a few ms), on its
        // own thread, sending to a transport that takes everything at once.
        let rw = RemoteWrite::new("http://127.0.0.1:1/").encoder();
        let _pushing = Pipeline::builder(&r, "bench_rw", rw, Discard)
            .interval(Duration::from_millis(50))
            .jitter(false)
            .compression(Compression::Snappy)
            .build()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        cases(&mut group, "pushing");
    }
    group.finish();
}

criterion_group!(benches, push_cycle, record_while_pushing);
criterion_main!(benches);
