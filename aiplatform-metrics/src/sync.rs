//! Atomics used by the concurrent parts, swapped for `loom`'s under `--cfg loom`, and the
//! lazy publication of a boxed value they share.
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

/// The value behind `ptr`, built by `make` and published with a compare-and-swap if there is
/// none yet (a thread that loses the race drops its own and uses the winner's).
///
/// # Safety
///
/// `ptr` must hold null or a pointer published by this function, and what it publishes must
/// stay allocated while `ptr` is borrowed: its owner frees it only when dropped.
pub(crate) unsafe fn install<U>(ptr: &AtomicPtr<U>, make: impl FnOnce() -> U) -> &U {
    let mut p = ptr.load(Ordering::Acquire);
    if p.is_null() {
        let fresh = Box::into_raw(Box::new(make()));
        match ptr.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => p = fresh,
            Err(existing) => {
                // SAFETY: `fresh` came from Box::into_raw above and was never shared.
                drop(unsafe { Box::from_raw(fresh) });
                p = existing;
            }
        }
    }
    // SAFETY: non-null and kept allocated, by the caller's contract.
    unsafe { &*p }
}
