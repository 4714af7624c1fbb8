//! Owned events that export outputs are done with, kept for the layer to fill again.
//!
//! An export output (a Datadog, New Relic or OTLP log output, say) encodes on its own thread,
//! so the layer hands it an owned copy of each event. Allocating that copy on the application
//! thread and freeing it on the output's thread would cost every event a few allocations, and
//! glibc's frees of another thread's memory contend with that thread's allocations. Instead the
//! last output to finish with an event gives it back here, and the layer copies the next event
//! into its buffers: once warm, handing an event to an export output allocates nothing.
//!
//! The pool is one per process ([`SPARES`]), bounded in count and in the size of what it keeps
//! (an event with a very long message is freed, not kept), so it holds at most a few megabytes
//! after a burst.

use std::sync::{Arc, LazyLock};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::encode::EventView;
use crate::event::OwnedEvent;

/// The process's spare events: up to 1024 (about what a busy output's queue drains between
/// two of its sends) of at most 4 KiB of buffers each.
pub(crate) static SPARES: LazyLock<Spares> = LazyLock::new(|| Spares::new(1024, 4096));

/// A bounded pool of owned events, non-blocking both ways: the layer only ever takes without
/// waiting, outputs only give back without waiting.
#[derive(Debug)]
pub(crate) struct Spares {
    tx: Sender<Arc<OwnedEvent>>,
    rx: Receiver<Arc<OwnedEvent>>,
    max_bytes: usize,
}

impl Spares {
    /// A pool keeping up to `count` events of at most `max_bytes` of buffers each.
    pub(crate) fn new(count: usize, max_bytes: usize) -> Spares {
        let (tx, rx) = bounded(count);
        Spares { tx, rx, max_bytes }
    }

    /// An owned copy of `view`, in a spare event's buffers when one is free.
    pub(crate) fn owned(&self, view: &EventView<'_>, target: &'static str) -> Arc<OwnedEvent> {
        while let Ok(mut spare) = self.rx.try_recv() {
            // Only events no one else held were given back, and no one can clone them since.
            if let Some(event) = Arc::get_mut(&mut spare) {
                event.fill(view, target);
                return spare;
            }
        }
        Arc::new(OwnedEvent::new(view, target))
    }

    /// Keeps `event` for reuse when the caller holds the last reference to it (outputs still
    /// reading it give it back themselves) and it is not too large; frees it otherwise.
    pub(crate) fn give_back(&self, event: Arc<OwnedEvent>) {
        if Arc::strong_count(&event) == 1 && event.capacity_bytes() <= self.max_bytes {
            let _ = self.tx.try_send(event);
        }
    }

    /// Events kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.rx.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use std::time::SystemTime;

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
        let spares = Spares::new(4, 4096);
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
        let spares = Spares::new(1, 4096);
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
        let spares = Spares::new(4, 4096);
        let e = spares.owned(&view(&huge, ""), "t");
        assert!(e.capacity_bytes() > 4096);
        spares.give_back(e);
        assert_eq!(spares.len(), 0, "an oversized event is freed");
    }
}
