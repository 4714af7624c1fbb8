//! Instructions per operation on the hot paths, counted by callgrind: a figure that does not
//! move with the load of a shared machine, for before/after comparisons.
//!
//! ```sh
//! cargo build --release -p aiplatform-benches --example hot_path_instructions
//! target/release/examples/hot_path_instructions            # needs valgrind
//! ```
//!
//! Each case runs twice under `valgrind --tool=callgrind`, with N and 2N operations; the
//! difference of the two totals divided by N is the cost of one operation, without the setup.
//! `--case NAME --ops N` runs one case once (what the driver runs under valgrind).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use aiplatform_benches::OBS;
use aiplatform_benches::callgrind::{Args, Threads, per_op};

const BUCKETS: [f64; 11] = aiplatform_metrics::DEFAULT_BUCKETS;
const SERIES: usize = 10_000;

/// `(name, operations at the base run, what one operation is)`.
const CASES: &[(&str, u64, &str)] = &[
    (
        "bare_fetch_add",
        1_000_000,
        "AtomicU64::fetch_add, the floor",
    ),
    (
        "counter_inc",
        1_000_000,
        "counter inc, the thread owning the series",
    ),
    (
        "counter_inc_second_thread",
        1_000_000,
        "counter inc from a second thread that keeps writing the series",
    ),
    (
        "counter_inc_prometheus",
        1_000_000,
        "prometheus IntCounter inc",
    ),
    (
        "histogram_observe",
        1_000_000,
        "histogram observe (11 buckets), owner thread",
    ),
    (
        "histogram_observe_second_thread",
        1_000_000,
        "histogram observe from a second thread that keeps writing",
    ),
    (
        "histogram_observe_prometheus",
        1_000_000,
        "prometheus Histogram observe",
    ),
    (
        "histogram_observe_prometheus_client",
        1_000_000,
        "prometheus-client Histogram observe",
    ),
    (
        "encode_counters_1_writer",
        20,
        "text encode of 10k counters, each written by 1 thread",
    ),
    (
        "encode_counters_16_writers",
        20,
        "text encode of 10k counters, each written by 16 threads",
    ),
    (
        "encode_histograms_1_writer",
        5,
        "text encode of 10k histograms, each written by 1 thread",
    ),
    (
        "encode_histograms_16_writers",
        5,
        "text encode of 10k histograms, each written by 16 threads",
    ),
];

fn main() {
    let args = Args::parse();
    if let Some(name) = &args.case {
        return run(name, args.ops);
    }
    println!("| case | instructions / op | what |\n|---|---:|---|");
    for &(name, n, what) in CASES {
        if args.selects(name) {
            let per_op = per_op(name, n, Threads::All);
            println!("| {name} | {per_op:.1} | {what} |");
        }
    }
}

fn run(case: &str, ops: u64) {
    match case {
        "bare_fetch_add" => {
            let a = AtomicU64::new(0);
            for _ in 0..ops {
                black_box(&a).fetch_add(1, Ordering::Relaxed);
            }
        }
        "counter_inc" => {
            let registry = aiplatform_metrics::Registry::new();
            let c = registry.counter("c_total", "help").unwrap();
            for _ in 0..ops {
                black_box(&c).inc();
            }
        }
        "counter_inc_second_thread" => {
            let registry = aiplatform_metrics::Registry::new();
            let c = registry.counter("c_total", "help").unwrap();
            c.inc(); // the main thread owns the series
            std::thread::scope(|s| {
                s.spawn(|| {
                    for _ in 0..ops {
                        black_box(&c).inc();
                    }
                });
            });
            assert_eq!(c.get(), (ops + 1) as f64);
        }
        "counter_inc_prometheus" => {
            let c = prometheus::IntCounter::new("c_total", "help").unwrap();
            for _ in 0..ops {
                black_box(&c).inc();
            }
        }
        "histogram_observe" => {
            let registry = aiplatform_metrics::Registry::new();
            let h = registry
                .histogram("h_seconds", "help", aiplatform_metrics::Buckets::default())
                .unwrap();
            for i in 0..ops {
                black_box(&h).observe(OBS[i as usize & 7]);
            }
        }
        "histogram_observe_second_thread" => {
            let registry = aiplatform_metrics::Registry::new();
            let h = registry
                .histogram("h_seconds", "help", aiplatform_metrics::Buckets::default())
                .unwrap();
            h.observe(1.0);
            std::thread::scope(|s| {
                s.spawn(|| {
                    for i in 0..ops {
                        black_box(&h).observe(OBS[i as usize & 7]);
                    }
                });
            });
            assert_eq!(h.count(), ops + 1);
        }
        "histogram_observe_prometheus" => {
            let h = prometheus::Histogram::with_opts(
                prometheus::HistogramOpts::new("h_seconds", "help").buckets(BUCKETS.to_vec()),
            )
            .unwrap();
            for i in 0..ops {
                black_box(&h).observe(OBS[i as usize & 7]);
            }
        }
        "histogram_observe_prometheus_client" => {
            let h = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
            for i in 0..ops {
                black_box(&h).observe(OBS[i as usize & 7]);
            }
        }
        "encode_counters_1_writer" => encode(false, 1, ops),
        "encode_counters_16_writers" => encode(false, 16, ops),
        "encode_histograms_1_writer" => encode(true, 1, ops),
        "encode_histograms_16_writers" => encode(true, 16, ops),
        other => panic!("unknown case {other:?}"),
    }
}

/// A family of [`SERIES`] series, each written once by each of `writers` threads, encoded
/// `ops` times.
fn encode(histogram: bool, writers: usize, ops: u64) {
    let registry = aiplatform_benches::registry_written_by(histogram, SERIES, writers);
    let mut buf = Vec::new();
    for _ in 0..ops {
        buf.clear();
        registry.encode_into(aiplatform_metrics::ExpositionFormat::Text, &mut buf);
        black_box(buf.len());
    }
}
