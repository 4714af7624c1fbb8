//! Helpers shared by the criterion benches in `benches/benches/`.

use std::time::{Duration, Instant};

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
