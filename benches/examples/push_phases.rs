//! Where a push cycle's time goes: collect, points (tracker), and the whole cycle (encode and
//! compress included), for one registry size. Median of 15 runs each.
//!
//! `cargo run --release -p aiplatform-benches --example push_phases -- [series]`

use std::time::{Duration, Instant, SystemTime};

use aiplatform_metrics::Snapshot;
use aiplatform_push::{Batch, Compression, Cycle, Temporality, Tracker};
use aiplatform_remote_write::RemoteWrite;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().expect("a number"));
    // The registry the remote-write and OTLP allocation tests use.
    let r = aiplatform_testkit::alloc::push_registry(n);
    let mut snapshot = Snapshot::new();
    let collect = median(
        (0..15)
            .map(|_| {
                let t = Instant::now();
                r.collect_into(&mut snapshot);
                t.elapsed()
            })
            .collect(),
    );
    let mut tracker = Tracker::new(Temporality::Delta, SystemTime::now());
    tracker.update(&snapshot, SystemTime::now());
    let points = median(
        (0..15)
            .map(|_| {
                let t = Instant::now();
                let c = tracker.update(&snapshot, SystemTime::now());
                std::hint::black_box(c.len());
                t.elapsed()
            })
            .collect(),
    );
    let mut batches: Vec<Batch> = Vec::new();
    let mut time_cycle = |compression| {
        let mut cycle = Cycle::new(
            &r,
            RemoteWrite::new("http://127.0.0.1:1/").encoder(),
            Temporality::Cumulative,
            SystemTime::now(),
        )
        .compression(compression);
        cycle.run(&mut |b| batches.push(b));
        median(
            (0..15)
                .map(|_| {
                    batches.clear();
                    cycle.run_timed(&mut |b| batches.push(b))
                })
                .collect(),
        )
    };
    let plain = time_cycle(Compression::None);
    let snappy = time_cycle(Compression::Snappy);
    let bytes: usize = batches.iter().map(|b| b.body().len()).sum();
    println!(
        "{n} series: collect {collect:?}, points {points:?}, cycle uncompressed {plain:?} (encode ≈ {:?}), cycle snappy {snappy:?} ({} batches, {:.1} MiB compressed)",
        plain.saturating_sub(collect + points),
        batches.len(),
        bytes as f64 / 1048576.0
    );
}
