//! Threads whose own telemetry is not exported: the exporters' I/O threads. A log event or
//! span made while sending telemetry (hyper's and h2's debug events, a retry warning) would
//! otherwise be exported in turn, and could feed itself.

use std::cell::Cell;

thread_local! {
    static SUPPRESSED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread: its events and spans are not exported over OTLP.
pub(crate) fn mark_thread() {
    SUPPRESSED.with(|s| s.set(true));
}

/// Whether the current thread is marked.
pub(crate) fn active() -> bool {
    SUPPRESSED.try_with(Cell::get).unwrap_or(false)
}
