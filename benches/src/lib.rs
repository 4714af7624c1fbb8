//! Helpers shared by the criterion benches in `benches/benches/` and the measuring programs in
//! `benches/examples/`.

pub mod callgrind;
pub mod net;

use std::time::{Duration, Instant};

/// Observations cycle through these, landing in different buckets as real latencies do.
pub const OBS: [f64; 8] = [0.003, 0.02, 0.07, 0.3, 0.004, 1.7, 0.045, 12.0];

/// A registry with a family of `series` counters (`requests_total`) or histograms
/// (`latency_seconds`, default buckets), one label, each series written once by each of
/// `writers` threads: the workers of a pool that each end up serving every route. The threads
/// start at different offsets, so they create the series between them, and have exited when
/// this returns.
pub fn registry_written_by(
    histograms: bool,
    series: usize,
    writers: usize,
) -> aiplatform_metrics::Registry {
    use aiplatform_metrics::{Buckets, Opts, Registry};
    let registry = Registry::new();
    let values: Vec<String> = (0..series).map(|i| format!("series-{i:05}")).collect();
    let values = &values;
    if histograms {
        let family = registry
            .register(
                Opts::histogram("latency_seconds", "Latency.", Buckets::default())
                    .label_names(&["key"])
                    .max_series(series),
            )
            .unwrap();
        each_writer(writers, series, |t, i| {
            family.apply(&[&values[i]], |h| h.observe(OBS[(i + t) & 7]))
        });
    } else {
        let family = registry
            .register(
                Opts::counter("requests_total", "Requests.")
                    .label_names(&["key"])
                    .max_series(series),
            )
            .unwrap();
        each_writer(writers, series, |_, i| {
            family.apply(&[&values[i]], |c| c.inc())
        });
    }
    registry
}

/// Runs `write(t, i)` for every series `i` on each of `writers` threads `t`.
fn each_writer(writers: usize, series: usize, write: impl Fn(usize, usize) + Sync) {
    let write = &write;
    std::thread::scope(|s| {
        for t in 0..writers {
            s.spawn(move || {
                for k in 0..series {
                    write(t, (k + t * series / writers) % series);
                }
            });
        }
    });
}

/// Runs `op` on two threads, `iters` times each, and returns the wall time between a common
/// start and the last thread finishing; criterion divides it by `iters`, giving time per
/// operation per thread.
pub fn two_threads(iters: u64, op: &(dyn Fn(u64) + Sync)) -> Duration {
    let barrier = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..iters {
                    op(i);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}
