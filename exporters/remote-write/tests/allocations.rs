//! A warm push cycle (collect + points + encode + compress) allocates per batch, never per
//! series: counted with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use aiplatform_metrics::{Buckets, Opts, Registry};
use aiplatform_push::{Batch, Compression, Cycle, Temporality};
use aiplatform_remote_write::RemoteWrite;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A registry of `n` series: counters with two labels, and every tenth a histogram.
fn registry(n: usize) -> Registry {
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
            h.with(&[format!("/r{i}")]).observe(0.1);
        } else {
            c.with(&[format!("/r{i}"), "200".to_owned()]).inc();
        }
    }
    r
}

/// Allocations and batches of one warm cycle.
fn warm_cycle(n: usize, temporality: Temporality) -> (u64, u64) {
    let r = registry(n);
    let mut cycle = Cycle::new(
        &r,
        RemoteWrite::new("http://127.0.0.1:1/").encoder(),
        temporality,
        SystemTime::now(),
    )
    .compression(Compression::Snappy)
    .limits(1 << 20, 2000);
    let mut batches: Vec<Batch> = Vec::with_capacity(1000);
    for _ in 0..3 {
        cycle.run(&mut |b| batches.push(b));
        batches.clear();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    cycle.run(&mut |b| batches.push(b));
    let allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;
    (allocs, batches.len() as u64)
}

#[test]
fn a_warm_cycle_allocates_per_batch_not_per_series() {
    for temporality in [Temporality::Cumulative, Temporality::Delta] {
        let (small, small_batches) = warm_cycle(10_000, temporality);
        let (large, large_batches) = warm_cycle(50_000, temporality);
        eprintln!(
            "{temporality:?}: 10k series: {small} allocations, {small_batches} batches; 50k series: {large} allocations, {large_batches} batches"
        );
        // A sealed batch owns its body and record table: a few allocations each.
        let per_batch = 4;
        assert!(
            small <= 16 + per_batch * small_batches,
            "{temporality:?}: 10k series, {small_batches} batches: {small} allocations"
        );
        assert!(
            large <= 16 + per_batch * large_batches,
            "{temporality:?}: 50k series, {large_batches} batches: {large} allocations"
        );
        assert!(large < 50_000 / 100, "{large} allocations for 50k series");
    }
}
