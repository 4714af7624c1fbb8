//! Many threads update counters and histograms while another collects; totals are exact at the
//! end and every snapshot taken on the way is consistent.

use std::sync::atomic::{AtomicBool, Ordering};

use aiplatform_metrics::{Buckets, Registry, Value};

const WRITERS: usize = 8;
const OPS: u64 = 200_000;
/// Every observation is one of these; each lands in a different bucket of BOUNDS.
const VALUES: [f64; 4] = [0.5, 1.5, 3.0, 100.0];
const BOUNDS: [f64; 3] = [1.0, 2.0, 5.0];

#[test]
fn writers_and_a_collector_agree_on_every_snapshot() {
    let registry = Registry::new();
    let hits = registry
        .counter_family("hits_total", "Hits.", &["shard"])
        .unwrap();
    let shared = registry
        .counter("shared_total", "One series, all threads.")
        .unwrap();
    let latency = registry
        .histogram("latency_seconds", "Latency.", Buckets::new(BOUNDS).unwrap())
        .unwrap();
    let stop = AtomicBool::new(false);
    let mut snapshots = 0u64;

    std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (hits, shared, latency) = (hits.clone(), shared.clone(), latency.clone());
                s.spawn(move || {
                    let mine = hits.with(&[w.to_string()]);
                    for i in 0..OPS {
                        mine.inc();
                        shared.inc();
                        latency.observe(VALUES[(i % 4) as usize]);
                        if i.is_multiple_of(1024) {
                            // Exercise the lookup path too, under concurrent collection.
                            hits.apply(&[(w % 3).to_string()], |c| c.inc_by(0));
                        }
                    }
                })
            })
            .collect();
        let collector = s.spawn(|| {
            let mut last_count = 0;
            while !stop.load(Ordering::Relaxed) {
                let snap = registry.collect();
                let family = snap.family("latency_seconds").unwrap();
                let Value::Histogram(h) = family.samples().next().unwrap().value else {
                    panic!()
                };
                let cumulative: Vec<u64> = h.cumulative().map(|(_, c)| c).collect();
                assert!(
                    cumulative.windows(2).all(|w| w[0] <= w[1]),
                    "buckets not cumulative: {cumulative:?}"
                );
                assert_eq!(*cumulative.last().unwrap(), h.count, "+Inf bucket != count");
                assert_eq!(
                    h.buckets().map(|(_, c)| c).sum::<u64>(),
                    h.count,
                    "count != sum of buckets"
                );
                // The sum must be exactly that of the observations counted: each bucket holds one value.
                let per_bucket: Vec<u64> = h.buckets().map(|(_, c)| c).collect();
                let expected_sum: f64 = per_bucket
                    .iter()
                    .zip(VALUES)
                    .map(|(&n, v)| n as f64 * v)
                    .sum();
                assert_eq!(
                    h.sum, expected_sum,
                    "sum does not match the counted observations"
                );
                assert!(h.count >= last_count, "count went backwards");
                last_count = h.count;
                snapshots += 1;
            }
        });
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        collector.join().unwrap();
    });

    let snap = registry.collect();
    let total = WRITERS as u64 * OPS;
    let shared_value = match snap
        .family("shared")
        .unwrap()
        .samples()
        .next()
        .unwrap()
        .value
    {
        Value::Counter(c) => c.as_u64().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(shared_value, total);
    let hits_sum: u64 = snap
        .family("hits")
        .unwrap()
        .samples()
        .map(|s| match s.value {
            Value::Counter(c) => c.as_u64().unwrap(),
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(hits_sum, total);
    let Value::Histogram(h) = snap
        .family("latency_seconds")
        .unwrap()
        .samples()
        .next()
        .unwrap()
        .value
    else {
        panic!()
    };
    assert_eq!(h.count, total);
    assert_eq!(
        h.buckets().map(|(_, c)| c).collect::<Vec<_>>(),
        vec![total / 4; 4]
    );
    assert!(
        snapshots > 10,
        "the collector should have run many times, ran {snapshots}"
    );
}

#[test]
fn lookups_race_removal_growth_and_collection() {
    let registry = Registry::new();
    let f = registry
        .counter_family("churn_total", "Churn.", &["key"])
        .unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..4 {
            let f = f.clone();
            let stop = &stop;
            s.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("k{}", (i * 7 + t) % 500);
                    f.apply(&[&key], |c| c.inc());
                    if i.is_multiple_of(17) {
                        f.remove(&[&key]);
                    }
                    i += 1;
                }
            });
        }
        s.spawn(|| {
            for _ in 0..300 {
                let snap = registry.collect();
                if let Some(fam) = snap.family("churn") {
                    for sample in fam.samples() {
                        // Touch the label text and value of every series: freed memory would show
                        // up here (and under sanitizers) as garbage or a crash.
                        assert!(sample.labels.value(0).starts_with('k'));
                        assert!(matches!(sample.value, Value::Counter(_)));
                    }
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
    });
    assert!(f.len() <= 500);
}

/// Threads creating the same label sets of a family that ends exactly at its series limit:
/// the lookup that loses the race to create the last set must find it, not overflow.
#[test]
fn racing_to_create_the_last_series_does_not_overflow() {
    const SERIES: usize = 16;
    const THREADS: usize = 4;
    let keys: Vec<String> = (0..SERIES).map(|i| format!("k{i}")).collect();
    for round in 0..2_000 {
        let registry = Registry::new();
        let family = registry
            .register(
                aiplatform_metrics::Opts::counter("full_total", "Full.")
                    .label_names(&["key"])
                    .max_series(SERIES),
            )
            .unwrap();
        let barrier = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (family, keys, barrier) = (&family, &keys, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    for k in 0..SERIES {
                        family.apply(&[&keys[(k + t * 3) % SERIES]], |c| c.inc());
                    }
                });
            }
        });
        let snap = registry.collect();
        assert!(
            snap.family("aiplatform_metrics_series_overflow").is_none(),
            "round {round}: a lookup overflowed a family that holds exactly its limit"
        );
        assert_eq!(family.len(), SERIES);
    }
}
