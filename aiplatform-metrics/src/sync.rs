//! Atomics used by the concurrent parts, swapped for `loom`'s under `--cfg loom`.
//!
//! Only the modules whose protocols are model-checked (`cell`, `histogram::shard` and `epoch`)
//! take their atomics from here; everything else uses `std` directly.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering, fence};
#[cfg(loom)]
pub(crate) fn spin_wait() {
    loom::thread::yield_now();
}

/// Back off for a moment while another thread finishes a step of a few instructions.
#[cfg(loom)]
pub(crate) fn spin_hint() {
    loom::thread::yield_now();
}

#[cfg(not(loom))]
#[allow(unused_imports)] // `fence` is only needed where membarrier is unavailable
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering, fence};

/// Back off while waiting for another thread to finish a short critical step.
#[cfg(not(loom))]
pub(crate) fn spin_wait() {
    std::thread::yield_now();
}

/// Back off for a moment while another thread finishes a step of a few instructions: a CPU
/// pause, not a trip through the scheduler.
#[cfg(not(loom))]
pub(crate) fn spin_hint() {
    std::hint::spin_loop();
}
