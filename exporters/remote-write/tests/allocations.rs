//! A warm push cycle (collect + points + encode + compress) allocates per batch, never per
//! series: counted with a counting global allocator.

use std::time::SystemTime;

use aiplatform_push::{Batch, Compression, Cycle, Temporality};
use aiplatform_remote_write::RemoteWrite;
use aiplatform_testkit::alloc::{Counting, allocations, push_registry};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations and batches of one warm cycle.
fn warm_cycle(n: usize, temporality: Temporality) -> (u64, u64) {
    let r = push_registry(n);
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
    let before = allocations();
    cycle.run(&mut |b| batches.push(b));
    let allocs = allocations() - before;
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
