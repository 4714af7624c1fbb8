//! Encoding a warm registry allocates nothing per series (counted with a wrapping allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use aiplatform_metrics::{Buckets, Encoder, ExpositionFormat, Opts, Registry, Snapshot};

struct Counting;

thread_local! {
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: forwards to the system allocator; only counts (per thread, when enabled).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap()
}

fn registry_with(series: usize) -> Registry {
    let registry = Registry::builder()
        .const_label("service", "api")
        .build()
        .unwrap();
    let requests = registry
        .register(
            Opts::counter("requests_total", "Requests.")
                .label_names(&["route", "code"])
                .max_series(series),
        )
        .unwrap();
    let latency = registry
        .register(
            Opts::histogram("latency_seconds", "Latency.", Buckets::default())
                .label_names(&["route"])
                .max_series(series),
        )
        .unwrap();
    let gauge = registry
        .register(
            Opts::gauge("depth", "Depth.")
                .label_names(&["queue"])
                .max_series(series),
        )
        .unwrap();
    for i in 0..series {
        requests
            .with(&[format!("/r{i}"), "200".into()])
            .inc_by(i as u64);
        latency.with(&[format!("/r{i}")]).observe(i as f64 / 100.0);
        gauge.with(&[format!("q{i}")]).set(i as f64 + 0.5);
    }
    registry
}

fn warm_encode_allocations(series: usize, format: ExpositionFormat) -> u64 {
    let registry = registry_with(series);
    let mut snapshot = Snapshot::new();
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    for _ in 0..2 {
        out.clear();
        registry.collect_into(&mut snapshot);
        encoder.encode(&snapshot, format, &mut out);
    }
    allocations(|| {
        out.clear();
        registry.collect_into(&mut snapshot);
        encoder.encode(&snapshot, format, &mut out);
    })
}

#[test]
fn warm_collect_and_encode_allocate_nothing() {
    for format in [ExpositionFormat::Text, ExpositionFormat::OpenMetrics] {
        assert_eq!(warm_encode_allocations(10, format), 0, "{format:?}");
        assert_eq!(warm_encode_allocations(2_000, format), 0, "{format:?}");
    }
}

#[test]
fn registry_encode_into_reuses_pooled_buffers() {
    let registry = registry_with(1_000);
    let mut out = Vec::new();
    registry.encode_into(ExpositionFormat::Text, &mut out);
    out.clear();
    registry.encode_into(ExpositionFormat::Text, &mut out);
    let n = allocations(|| {
        out.clear();
        registry.encode_into(ExpositionFormat::Text, &mut out);
    });
    assert_eq!(n, 0);
}

#[test]
fn handle_updates_and_repeat_lookups_allocate_nothing() {
    let registry = registry_with(100);
    let requests = registry
        .counter_family("lookups_total", "Lookups.", &["a", "b"])
        .unwrap();
    let h = registry
        .histogram("h_seconds", "H.", Buckets::default())
        .unwrap();
    requests.with(&["x", "y"]).inc();
    h.observe(1.0);
    let n = allocations(|| {
        for _ in 0..1000 {
            requests.apply(&["x", "y"], |c| c.inc());
            requests.with(&["x", "y"]).inc();
            h.observe(0.3);
        }
    });
    assert_eq!(n, 0);
}
