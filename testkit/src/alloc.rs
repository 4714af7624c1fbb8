//! A global allocator that counts allocations, for tests that hold a code path to "no
//! allocation per item": install it in the test binary with
//! `#[global_allocator] static GLOBAL: Counting = Counting;` and read [`allocations`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting every `alloc` and `realloc`.
#[derive(Debug)]
pub struct Counting;

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

/// Allocations (and reallocations) counted so far in this process, by every thread.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// A registry of `n` series as the push benches and allocation tests use it: counters
/// `requests_total{route, status}`, and every tenth series a histogram
/// `latency_seconds{route}` with the default buckets; constant label `env="bench"`.
pub fn push_registry(n: usize) -> aiplatform_metrics::Registry {
    use aiplatform_metrics::{Buckets, Opts, Registry};
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
