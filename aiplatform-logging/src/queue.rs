//! The bounded memory queue between the application thread and a sink's writer thread.
//!
//! The application thread only ever does a non-blocking `try_send` (or, under
//! [`FullPolicy::Block`], waits at most the configured time). What happens when the queue is
//! full is an explicit choice, and every line given up is counted in
//! `aiplatform_log_events_dropped_total{reason}`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::metrics::{DropReason, SinkMetrics};

/// What a sink does with a new line when its memory queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FullPolicy {
    /// Drop the new line (counted as `queue_full`). Keeps what is queued contiguous.
    DropNewest,
    /// Drop the oldest queued line to make room (counted as `queue_full`). Keeps the newest.
    DropOldest,
    /// Wait up to this long for room, then drop the new line (counted as `queue_timeout`).
    /// The only policy under which the application thread can wait.
    Block(Duration),
}

/// A bounded multi-producer queue of encoded lines (or, for an export output, of events its
/// thread encodes), with delivery accounting for flushes.
#[derive(Debug)]
pub(crate) struct Queue<T = Vec<u8>> {
    tx: Sender<T>,
    rx: Receiver<T>,
    policy: FullPolicy,
    pub(crate) metrics: SinkMetrics,
    /// Lines accepted into the queue.
    enqueued: AtomicU64,
    /// Lines the writer finished with: delivered, spooled, or dropped after being queued.
    done: AtomicU64,
    closed: AtomicBool,
    /// Callers waiting in [`Queue::wait_done`] (a batching writer sends at once for them).
    flushing: AtomicUsize,
}

impl<T> Queue<T> {
    pub(crate) fn new(capacity: usize, policy: FullPolicy, metrics: SinkMetrics) -> Queue<T> {
        let (tx, rx) = bounded(capacity.max(1));
        Queue {
            tx,
            rx,
            policy,
            metrics,
            enqueued: AtomicU64::new(0),
            done: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            flushing: AtomicUsize::new(0),
        }
    }

    /// Hands a line to the writer thread according to the full-queue policy.
    pub(crate) fn push(&self, line: T) {
        if self.closed.load(Ordering::Relaxed) {
            self.metrics.dropped(DropReason::Closed, 1);
            return;
        }
        let line = match self.tx.try_send(line) {
            Ok(()) => return self.accepted(),
            Err(TrySendError::Full(l)) => l,
            Err(TrySendError::Disconnected(_)) => {
                return self.metrics.dropped(DropReason::Closed, 1);
            }
        };
        match self.policy {
            FullPolicy::DropNewest => self.metrics.dropped(DropReason::QueueFull, 1),
            FullPolicy::DropOldest => {
                let mut line = line;
                for _ in 0..8 {
                    if self.rx.try_recv().is_ok() {
                        self.metrics.dropped(DropReason::QueueFull, 1);
                        self.done.fetch_add(1, Ordering::Relaxed);
                    }
                    match self.tx.try_send(line) {
                        Ok(()) => return self.accepted(),
                        Err(TrySendError::Full(l)) => line = l,
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
                self.metrics.dropped(DropReason::QueueFull, 1);
            }
            FullPolicy::Block(timeout) => match self.tx.send_timeout(line, timeout) {
                Ok(()) => self.accepted(),
                Err(_) => self.metrics.dropped(DropReason::QueueTimeout, 1),
            },
        }
    }

    /// Hands over the line `make` builds, but builds it only if the queue can take it: when
    /// it is closed, or full under [`FullPolicy::DropNewest`], the drop is counted without
    /// building anything (an unreachable backend then costs the application thread nothing).
    pub(crate) fn push_with(&self, make: impl FnOnce() -> T) {
        if self.closed.load(Ordering::Relaxed) {
            return self.metrics.dropped(DropReason::Closed, 1);
        }
        if self.policy == FullPolicy::DropNewest && self.tx.is_full() {
            return self.metrics.dropped(DropReason::QueueFull, 1);
        }
        self.push(make());
    }

    fn accepted(&self) {
        self.enqueued.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rx(&self) -> &Receiver<T> {
        &self.rx
    }

    /// Records that the writer finished with `n` queued lines.
    pub(crate) fn done(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Release);
    }

    /// Stops accepting lines (after shutdown).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Waits until every line accepted so far is finished with, or the deadline passes.
    pub(crate) fn wait_done(&self, deadline: Instant) -> bool {
        let target = self.enqueued.load(Ordering::Relaxed);
        self.flushing.fetch_add(1, Ordering::Relaxed);
        let done = loop {
            if self.done.load(Ordering::Acquire) >= target {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        self.flushing.fetch_sub(1, Ordering::Relaxed);
        done
    }

    /// Whether someone waits for the queued lines to be delivered (so a writer that holds
    /// lines back to fill a batch should send now).
    pub(crate) fn flush_wanted(&self) -> bool {
        self.flushing.load(Ordering::Relaxed) > 0
    }

    /// Takes every line still queued and counts it as dropped for `reason`.
    pub(crate) fn drain_dropped(&self, reason: DropReason) {
        let n = self.rx.try_iter().count() as u64;
        if n > 0 {
            self.metrics.dropped(reason, n);
            self.done(n);
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.tx.capacity().unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiplatform_metrics::Registry;

    fn queue(policy: FullPolicy) -> Queue {
        let m = crate::metrics::SelfMetrics::register(&Registry::new()).unwrap();
        Queue::new(2, policy, m.sink("test"))
    }

    #[test]
    fn drop_newest_keeps_the_first_lines() {
        let q = queue(FullPolicy::DropNewest);
        for i in 0..5u8 {
            q.push(vec![i]);
        }
        assert_eq!(
            q.rx().try_iter().collect::<Vec<_>>(),
            vec![vec![0], vec![1]]
        );
        assert_eq!(q.metrics.dropped_count(DropReason::QueueFull), 3.0);
    }

    #[test]
    fn a_line_the_queue_would_drop_is_not_built() {
        let built = std::cell::Cell::new(0);
        let make = |i: u8| {
            built.set(built.get() + 1);
            vec![i]
        };
        let q = queue(FullPolicy::DropNewest);
        for i in 0..5u8 {
            q.push_with(|| make(i));
        }
        assert_eq!(built.get(), 2, "only what fits is built");
        assert_eq!(q.metrics.dropped_count(DropReason::QueueFull), 3.0);
        assert_eq!(
            q.rx().try_iter().collect::<Vec<_>>(),
            vec![vec![0], vec![1]]
        );
        q.close();
        q.push_with(|| make(9));
        assert_eq!(built.get(), 2);
        assert_eq!(q.metrics.dropped_count(DropReason::Closed), 1.0);

        // Under the other policies a full queue still takes the new line.
        let q = queue(FullPolicy::DropOldest);
        for i in 0..5u8 {
            q.push_with(|| vec![i]);
        }
        assert_eq!(
            q.rx().try_iter().collect::<Vec<_>>(),
            vec![vec![3], vec![4]]
        );
    }

    #[test]
    fn drop_oldest_keeps_the_last_lines() {
        let q = queue(FullPolicy::DropOldest);
        for i in 0..5u8 {
            q.push(vec![i]);
        }
        assert_eq!(
            q.rx().try_iter().collect::<Vec<_>>(),
            vec![vec![3], vec![4]]
        );
        assert_eq!(q.metrics.dropped_count(DropReason::QueueFull), 3.0);
    }

    #[test]
    fn block_waits_then_counts_a_timeout() {
        let q = queue(FullPolicy::Block(Duration::from_millis(20)));
        q.push(vec![0]);
        q.push(vec![1]);
        let t = Instant::now();
        q.push(vec![2]);
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert_eq!(q.metrics.dropped_count(DropReason::QueueTimeout), 1.0);
    }

    #[test]
    fn closed_queue_counts_lines_as_closed() {
        let q = queue(FullPolicy::DropNewest);
        q.close();
        q.push(vec![0]);
        assert_eq!(q.metrics.dropped_count(DropReason::Closed), 1.0);
    }
}
