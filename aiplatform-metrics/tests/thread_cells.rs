//! Per-thread cells under real threads: steady writers earning cells of their own, occasional
//! writers sharing one, threads past the per-series limit, threads exiting and their slots (and
//! cells) passing to new threads, and series being dropped (their cells going back to the
//! arenas) while others are created. A collector checks every snapshot on the way; totals are
//! exact at the end.
//!
//! The test runs itself in a child process with the per-series cell limit set to 4, so that on
//! any host some writer threads are past it.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use aiplatform_metrics::{Buckets, Family, Histogram, Opts, Registry, Value};

const CHILD_ENV: &str = "THREAD_CELLS_STRESS_CHILD";
const LIMIT_ENV: &str = "AIPLATFORM_METRICS_MAX_THREAD_CELLS";

const SERIES: usize = 48;
const THREADS: usize = 10;
const ROUNDS: usize = 6;
/// Writes to a series in a row by a steady writer: enough to earn a cell several times over.
const BURST: u64 = 100;
const BOUNDS: [f64; 3] = [1.0, 2.0, 5.0];
/// Observation values, one per bucket: sums are exact in binary floating point.
const VALUES: [f64; 4] = [0.5, 1.5, 3.0, 100.0];

#[test]
fn cells_survive_threads_promotions_and_series_churn() {
    if std::env::var_os(CHILD_ENV).is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "cells_survive_threads_promotions_and_series_churn",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .env(LIMIT_ENV, "4")
            .output()
            .expect("run the test in a child process");
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed:\n{log}");
        assert!(log.contains("1 passed"), "the child ran no test:\n{log}");
        return;
    }
    stress();
}

/// Writes of thread `t` to series `i` in one round: a burst for one series in four, one
/// write for the others.
fn writes(t: usize, i: usize) -> u64 {
    if (i + t).is_multiple_of(4) { BURST } else { 1 }
}

fn bucket_of(t: usize, i: usize) -> usize {
    (i + 3 * t) % VALUES.len()
}

fn stress() {
    let registry = Registry::new();
    let counters = registry
        .register(Opts::counter("stable_total", "Stable.").label_names(&["key"]))
        .unwrap();
    let histograms: Family<Histogram> = registry
        .register(
            Opts::histogram("stable_seconds", "Stable.", Buckets::new(BOUNDS).unwrap())
                .label_names(&["key"]),
        )
        .unwrap();
    let churn: Family<Histogram> = registry
        .register(
            Opts::histogram("churn_seconds", "Churn.", Buckets::new(BOUNDS).unwrap())
                .label_names(&["key"]),
        )
        .unwrap();
    let keys: Vec<String> = (0..SERIES).map(|i| format!("k{i}")).collect();
    let stop = AtomicBool::new(false);

    std::thread::scope(|s| {
        let collector = s.spawn(|| {
            let mut last: Vec<(u64, u64)> = vec![(0, 0); SERIES];
            let mut snapshots = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let snap = registry.collect();
                for family in ["stable_seconds", "churn_seconds"] {
                    let Some(f) = snap.family(family) else {
                        continue;
                    };
                    for sample in f.samples() {
                        let Value::Histogram(h) = sample.value else {
                            panic!()
                        };
                        let per_bucket: Vec<u64> = h.buckets().map(|(_, c)| c).collect();
                        assert_eq!(per_bucket.iter().sum::<u64>(), h.count, "count != buckets");
                        let sum: f64 = per_bucket
                            .iter()
                            .zip(VALUES)
                            .map(|(&n, v)| n as f64 * v)
                            .sum();
                        assert_eq!(h.sum, sum, "sum does not match the counted observations");
                        if family == "stable_seconds" {
                            let i: usize = sample.labels.value(0)[1..].parse().unwrap();
                            assert!(h.count >= last[i].1, "histogram count went back");
                            last[i].1 = h.count;
                        }
                    }
                }
                if let Some(f) = snap.family("stable") {
                    for sample in f.samples() {
                        let Value::Counter(c) = sample.value else {
                            panic!()
                        };
                        let i: usize = sample.labels.value(0)[1..].parse().unwrap();
                        let v = c.as_u64().unwrap();
                        assert!(v >= last[i].0, "counter went back");
                        last[i].0 = v;
                    }
                }
                snapshots += 1;
            }
            snapshots
        });

        for round in 0..ROUNDS {
            // Fresh threads every round: slots (and the cells they hold) pass from the exited
            // threads of the last round to these.
            std::thread::scope(|r| {
                for t in 0..THREADS {
                    let (counters, histograms, churn, keys) =
                        (&counters, &histograms, &churn, &keys);
                    r.spawn(move || {
                        for k in 0..SERIES {
                            let i = (k + t * 5) % SERIES;
                            let n = writes(t, i);
                            let v = VALUES[bucket_of(t, i)];
                            counters.apply(&[&keys[i]], |c| (0..n).for_each(|_| c.inc()));
                            histograms.apply(&[&keys[i]], |h| (0..n).for_each(|_| h.observe(v)));
                            let churned = churn.with(&[&keys[i]]);
                            (0..n).for_each(|_| churned.observe(v));
                            if (i + round + t).is_multiple_of(7) {
                                // Dropped once the handle above goes: its own cells return to
                                // their arenas, to be reused by the next series.
                                churn.remove(&[&keys[i]]);
                            }
                        }
                    });
                }
            });
        }
        stop.store(true, Ordering::Relaxed);
        let snapshots = collector.join().unwrap();
        assert!(snapshots > 5, "the collector ran {snapshots} times");
    });

    let snap = registry.collect();
    for i in 0..SERIES {
        let want: u64 = (0..THREADS).map(|t| writes(t, i)).sum::<u64>() * ROUNDS as u64;
        let counter = snap.family("stable").unwrap().get(&[&keys[i]]).unwrap();
        let Value::Counter(c) = counter.value else {
            panic!()
        };
        assert_eq!(c.as_u64(), Some(want), "series {i} lost increments");
        let hist = snap
            .family("stable_seconds")
            .unwrap()
            .get(&[&keys[i]])
            .unwrap();
        let Value::Histogram(h) = hist.value else {
            panic!()
        };
        assert_eq!(h.count, want, "series {i} lost observations");
        let mut per_bucket = [0u64; 4];
        for t in 0..THREADS {
            per_bucket[bucket_of(t, i)] += writes(t, i) * ROUNDS as u64;
        }
        assert_eq!(h.buckets().map(|(_, c)| c).collect::<Vec<_>>(), per_bucket);
    }
}
