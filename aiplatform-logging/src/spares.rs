//! Owned events that export outputs are done with, kept for the layer to fill again.
//!
//! An export output (a Datadog, New Relic or OTLP log output, say) encodes on its own thread,
//! so the layer hands it an owned copy of each event. Allocating that copy on the application
//! thread and freeing it on the output's thread would cost every event a few allocations, and
//! glibc's frees of another thread's memory contend with that thread's allocations. Instead the
//! last output to finish with an event gives it back here, and the layer copies the next event
//! into its buffers: once warm, handing an event to an export output allocates nothing.
//!
//! Lines copied for a sink's writer thread are kept the same way: a line allocated on the
//! application thread and freed on the writer's thread makes the two contend for glibc's arena
//! lock, which showed as stalls of tens of microseconds on the application thread while an
//! unreachable intake's queue filled.
//!
//! The pools are one per process ([`EVENTS`], [`LINES`]), bounded in count and in the size of
//! what they keep (a very long event or line is freed, not kept), so they hold at most a few
//! megabytes after a burst.

use std::sync::{Arc, LazyLock};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::encode::EventView;
use crate::event::OwnedEvent;

/// Spares kept at most per pool: about what a busy output's queue drains between two of its
/// sends.
const COUNT: usize = 1024;

/// Bytes of buffers of a kept spare at most.
const MAX_BYTES: usize = 4096;

/// The process's spare events: only events no output still reads, and not too large.
pub(crate) static EVENTS: LazyLock<Spares<Arc<OwnedEvent>>> = LazyLock::new(|| {
    Spares::new(COUNT, |e| {
        Arc::strong_count(e) == 1 && e.capacity_bytes() <= MAX_BYTES
    })
});

/// The process's spare line buffers.
pub(crate) static LINES: LazyLock<Spares<Vec<u8>>> =
    LazyLock::new(|| Spares::new(COUNT, |l| l.capacity() <= MAX_BYTES));

/// A bounded pool, non-blocking both ways: the application thread only ever takes without
/// waiting, sink threads only give back without waiting.
#[derive(Debug)]
pub(crate) struct Spares<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
    keep: fn(&T) -> bool,
}

impl<T> Spares<T> {
    /// A pool keeping up to `count` spares, those for which `keep` holds.
    pub(crate) fn new(count: usize, keep: fn(&T) -> bool) -> Spares<T> {
        let (tx, rx) = bounded(count);
        Spares { tx, rx, keep }
    }

    /// A spare, if one is free.
    pub(crate) fn take(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Keeps `spare` for reuse if the pool wants it and has room; frees it otherwise.
    pub(crate) fn give_back(&self, spare: T) {
        if (self.keep)(&spare) {
            let _ = self.tx.try_send(spare);
        }
    }

    /// Spares kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.rx.len()
    }
}

impl Spares<Arc<OwnedEvent>> {
    /// An owned copy of `view`, in a spare event's buffers when one is free.
    pub(crate) fn owned(&self, view: &EventView<'_>, target: &'static str) -> Arc<OwnedEvent> {
        while let Some(mut spare) = self.take() {
            // Only events no one else held were given back, and no one can clone them since.
            if let Some(event) = Arc::get_mut(&mut spare) {
                event.fill(view, target);
                return spare;
            }
        }
        Arc::new(OwnedEvent::new(view, target))
    }
}

impl Spares<Vec<u8>> {
    /// A copy of `line`, in a spare buffer when one is free.
    pub(crate) fn copy(&self, line: &[u8]) -> Vec<u8> {
        match self.take() {
            Some(mut spare) => {
                spare.clear();
                spare.extend_from_slice(line);
                spare
            }
            None => line.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use std::time::SystemTime;

    fn events(count: usize) -> Spares<Arc<OwnedEvent>> {
        Spares::new(count, |e| {
            Arc::strong_count(e) == 1 && e.capacity_bytes() <= MAX_BYTES
        })
    }

    #[test]
    fn a_line_is_copied_into_a_spare_buffer() {
        let lines = Spares::new(2, |l: &Vec<u8>| l.capacity() <= MAX_BYTES);
        let first = lines.copy(b"a long first line\n");
        let ptr = first.as_ptr();
        lines.give_back(first);
        let second = lines.copy(b"short\n");
        assert_eq!(second, b"short\n");
        assert_eq!(second.as_ptr(), ptr, "the spare's buffer is reused");
        lines.give_back(vec![0; MAX_BYTES * 2]);
        assert_eq!(lines.len(), 0, "a large buffer is freed");
    }

    fn view<'a>(rec: &'a Record, spans: &'a str) -> EventView<'a> {
        EventView {
            time: SystemTime::UNIX_EPOCH,
            rec,
            level: tracing::Level::INFO,
            target: "t",
            file: Some("f.rs"),
            line: Some(7),
            timestamp: "2026-01-02T03:04:05.678Z",
            sequence: 9,
            hash: None,
            spans,
        }
    }

    #[test]
    fn a_recycled_event_reads_as_a_fresh_copy_of_the_new_view() {
        let spares = events(4);
        let mut big = Record::default();
        big.synthetic_message(&"x".repeat(300));
        let first = spares.owned(&view(&big, "outer>inner"), "t");
        let first_ptr = Arc::as_ptr(&first);
        spares.give_back(first);
        assert_eq!(spares.len(), 1);
        let mut small = Record::default();
        small.synthetic_message("short");
        let second = spares.owned(&view(&small, ""), "t2");
        assert_eq!(
            Arc::as_ptr(&second),
            first_ptr,
            "the spare's buffers are reused"
        );
        assert_eq!(spares.len(), 0);
        let v = second.view();
        assert_eq!(v.rec.message.clone().map(|r| v.rec.str(r)), Some("short"));
        assert_eq!(v.rec.arena, small.arena);
        assert_eq!(v.rec.fields.len(), small.fields.len());
        assert_eq!(v.spans, "");
        assert_eq!(v.target, "t2");
        assert_eq!(v.timestamp, "2026-01-02T03:04:05.678Z");
        assert_eq!((v.file, v.line, v.sequence), (Some("f.rs"), Some(7), 9));
    }

    #[test]
    fn a_shared_oversized_or_surplus_event_is_not_kept() {
        let spares = events(1);
        let mut rec = Record::default();
        rec.synthetic_message("m");
        let shared = spares.owned(&view(&rec, ""), "t");
        let other = shared.clone();
        spares.give_back(shared);
        assert_eq!(spares.len(), 0, "another output still reads it");
        spares.give_back(other);
        assert_eq!(spares.len(), 1, "the last holder gives it back");
        spares.give_back(spares.owned(&view(&rec, ""), "t"));
        spares.give_back(Arc::new(OwnedEvent::new(&view(&rec, ""), "t")));
        assert_eq!(spares.len(), 1, "no more than the pool's count");

        let mut huge = Record::default();
        huge.synthetic_message(&"y".repeat(8192));
        let spares = events(4);
        let e = spares.owned(&view(&huge, ""), "t");
        assert!(e.capacity_bytes() > 4096);
        spares.give_back(e);
        assert_eq!(spares.len(), 0, "an oversized event is freed");
    }
}
