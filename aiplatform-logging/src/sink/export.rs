//! The thread behind [`Output::export`](crate::Output::export): packs queued records into
//! batches and hands them to the output's [`LogExporter`], applying the delivery rules the
//! [`export`](crate::export) module documents.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::backoff::Backoff;
use super::worker::{Control, Item, Worker};
use crate::Error;
use crate::event::{Deferred, LogEvent, LogResource};
use crate::export::{Encoding, EventEncoder, ExportConfig, ExportOutcome, LogBatch, LogExporter};
use crate::metrics::DropReason;
use crate::notice::Notice;
use crate::queue::Queue;
use crate::spares::{EVENTS, LINES};

/// How long the thread waits for a record before looking at its clocks again.
const POLL: Duration = Duration::from_millis(20);

/// What an export output's queue carries: a line in a built-in format, or an event its own
/// encoder writes on this thread.
#[derive(Debug)]
pub(crate) enum Pending {
    Line(Vec<u8>),
    Event(Deferred),
}

impl Item for Pending {
    fn line(line: &[u8]) -> Self {
        Pending::Line(LINES.copy(line))
    }

    const TAKES_EVENTS: bool = true;

    fn event(event: Deferred) -> Self {
        Pending::Event(event)
    }
}

/// Starts the thread draining `queue` into `cfg`'s exporter.
pub(crate) fn start(
    name: &str,
    cfg: ExportConfig,
    queue: Queue<Pending>,
    notice: Notice,
) -> Result<Worker<Pending>, Error> {
    Worker::spawn(name, queue, move |q, c| {
        Exporting::new(cfg, q, c, notice).run()
    })
}

/// The delivery of a batch was cut short by the shutdown deadline.
struct Abandoned;

struct Exporting {
    exporter: Box<dyn LogExporter>,
    /// The output's own encoder, for queued events.
    encoder: Option<Arc<dyn EventEncoder>>,
    resource: Arc<LogResource>,
    max_records: usize,
    max_bytes: usize,
    linger: Duration,
    max_retry_after: Duration,
    backoff: Backoff,
    q: Arc<Queue<Pending>>,
    control: Arc<Control>,
    notice: Notice,
    /// The batch being filled or sent.
    records: Vec<Vec<u8>>,
    /// Whether each record came through the queue (drop notices do not, and do not count
    /// toward flushes or drops).
    queued: Vec<bool>,
    bytes: usize,
    /// When the batch got its first record.
    since: Option<Instant>,
    /// Records `..settled` of the batch are delivered or dropped.
    settled: usize,
    /// A queued record that did not fit the batch; it starts the next one.
    carry: Option<Vec<u8>>,
}

impl Exporting {
    fn new(
        cfg: ExportConfig,
        q: Arc<Queue<Pending>>,
        control: Arc<Control>,
        notice: Notice,
    ) -> Exporting {
        let encoder = match cfg.encoding {
            Encoding::Custom(e) => Some(e),
            Encoding::Format(_) => None,
        };
        Exporting {
            resource: notice.resource().clone(),
            encoder,
            exporter: cfg.exporter,
            max_records: cfg.max_batch_records,
            max_bytes: cfg.max_batch_bytes,
            linger: cfg.linger,
            max_retry_after: cfg.max_retry_after,
            backoff: Backoff::new(cfg.backoff_initial, cfg.backoff_max),
            q,
            control,
            notice,
            records: Vec::new(),
            queued: Vec::new(),
            bytes: 0,
            since: None,
            settled: 0,
            carry: None,
        }
    }

    fn run(mut self) {
        loop {
            let shutdown = self.control.shutdown_deadline();
            self.fill();
            self.report();
            if self.due(shutdown.is_some()) && self.send().is_err() {
                self.give_up();
                return;
            }
            if let Some(deadline) = shutdown {
                if self.idle() {
                    self.last_word(deadline);
                    return;
                }
                if Instant::now() >= deadline {
                    self.give_up();
                    return;
                }
            }
        }
    }

    fn idle(&self) -> bool {
        self.records.is_empty() && self.carry.is_none() && self.q.rx().is_empty()
    }

    fn full(&self) -> bool {
        self.records.len() >= self.max_records || self.bytes >= self.max_bytes
    }

    /// Adds a record, or keeps it for the next batch when this one has no room.
    fn add(&mut self, line: Vec<u8>, queued: bool) {
        if !self.records.is_empty()
            && (self.records.len() >= self.max_records || self.bytes + line.len() > self.max_bytes)
        {
            debug_assert!(queued && self.carry.is_none());
            self.carry = Some(line);
            return;
        }
        self.bytes += line.len();
        self.records.push(line);
        self.queued.push(queued);
        self.since.get_or_insert_with(Instant::now);
    }

    /// Adds a queued item, encoding it first if it is an event. An event its encoder leaves
    /// empty is left out (finished with, not dropped).
    fn take(&mut self, item: Pending) {
        let line = match item {
            Pending::Line(line) => line,
            Pending::Event(d) => {
                let mut out = Vec::new();
                if let Some(encoder) = &self.encoder {
                    let view = d.event.view();
                    encoder.encode(
                        &LogEvent {
                            view: &view,
                            resource: &self.resource,
                            captured: d.captured.as_deref().unwrap_or(&[]),
                        },
                        &mut out,
                    );
                }
                EVENTS.give_back(d.event);
                if out.is_empty() {
                    self.q.done(1);
                    return;
                }
                out
            }
        };
        self.add(line, true);
    }

    /// Takes queued records until the batch is full, waiting a little for the first.
    fn fill(&mut self) {
        if self.records.is_empty()
            && let Some(line) = self.carry.take()
        {
            self.add(line, true);
        }
        if self.full() || self.carry.is_some() {
            return;
        }
        let wait = match self.since {
            Some(t) => (t + self.linger)
                .saturating_duration_since(Instant::now())
                .min(POLL),
            None => POLL,
        };
        match self.q.rx().recv_timeout(wait) {
            Ok(item) => self.take(item),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
        }
        while !self.full() && self.carry.is_none() {
            match self.q.rx().try_recv() {
                Ok(item) => self.take(item),
                Err(_) => break,
            }
        }
    }

    fn due(&self, shutting: bool) -> bool {
        !self.records.is_empty()
            && (self.full()
                || self.carry.is_some()
                || shutting
                || self.q.flush_wanted()
                || self.since.is_some_and(|t| t.elapsed() >= self.linger))
    }

    /// Queue depth, and a drop notice when there is room for it in the batch.
    fn report(&mut self) {
        self.q.metrics.depth.set(self.q.rx().len() as f64);
        if self.full() || self.carry.is_some() {
            return;
        }
        if let Some(line) = self.notice.poll(&self.q.metrics, false) {
            self.add(line, false);
        }
    }

    /// Delivers the whole batch (or gives up on parts of it by the rules), then clears it.
    fn send(&mut self) -> Result<(), Abandoned> {
        self.settled = 0;
        self.deliver(0, self.records.len())?;
        for record in self.records.drain(..) {
            LINES.give_back(record);
        }
        self.queued.clear();
        self.bytes = 0;
        self.since = None;
        self.settled = 0;
        Ok(())
    }

    fn queued_in(&self, lo: usize, hi: usize) -> u64 {
        self.queued[lo..hi].iter().filter(|&&q| q).count() as u64
    }

    /// Records `lo..hi` are finished with: count the queued ones as done, and as dropped for
    /// `reason` (at most `dropped` of them) when given.
    fn settle(&mut self, lo: usize, hi: usize, dropped: Option<(DropReason, u64)>) {
        let n = self.queued_in(lo, hi);
        if let Some((reason, at_most)) = dropped {
            let d = n.min(at_most);
            if d > 0 {
                self.q.metrics.dropped(reason, d);
            }
        }
        self.q.done(n);
        self.settled = hi;
    }

    /// Sends records `lo..hi` until they are delivered, refused, or split.
    fn deliver(&mut self, lo: usize, hi: usize) -> Result<(), Abandoned> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let batch = LogBatch {
                records: &self.records[lo..hi],
                deadline: self.control.shutdown_deadline(),
                attempt,
            };
            match self.exporter.export(&batch) {
                ExportOutcome::Delivered => {
                    self.backoff.reset();
                    self.settle(lo, hi, None);
                    return Ok(());
                }
                ExportOutcome::PartlyRejected { rejected, detail } => {
                    self.backoff.reset();
                    self.notice.set_detail(&detail);
                    self.settle(lo, hi, Some((DropReason::Rejected, rejected)));
                    return Ok(());
                }
                ExportOutcome::Rejected { detail } => {
                    self.notice.set_detail(&detail);
                    self.settle(lo, hi, Some((DropReason::Rejected, u64::MAX)));
                    return Ok(());
                }
                ExportOutcome::TooLarge { detail } => {
                    if hi - lo < 2 {
                        self.notice.set_detail(&detail);
                        self.settle(lo, hi, Some((DropReason::TooLarge, u64::MAX)));
                        return Ok(());
                    }
                    let mid = lo + (hi - lo) / 2;
                    self.deliver(lo, mid)?;
                    return self.deliver(mid, hi);
                }
                ExportOutcome::Retry { after, detail } => {
                    self.notice.set_detail(&detail);
                    let wait = match after {
                        Some(a) => a.min(self.max_retry_after),
                        None => self.backoff.next_delay(),
                    };
                    self.sleep(wait)?;
                    self.q.metrics.resent.inc_by(self.queued_in(lo, hi));
                }
            }
        }
    }

    /// Waits `wait` before a retry; gives up at once if shutdown's deadline comes first.
    fn sleep(&self, wait: Duration) -> Result<(), Abandoned> {
        let until = Instant::now() + wait;
        loop {
            if self.control.shutdown_deadline().is_some_and(|d| d < until) {
                return Err(Abandoned);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            self.q.metrics.depth.set(self.q.rx().len() as f64);
            std::thread::sleep((until - now).min(POLL));
        }
    }

    /// At the shutdown deadline: what is not delivered is dropped (`shutdown`).
    fn give_up(&mut self) {
        let n = self.queued_in(self.settled, self.records.len());
        if self.carry.take().is_some() {
            self.q.metrics.dropped(DropReason::Shutdown, 1);
            self.q.done(1);
        }
        if n > 0 {
            self.q.metrics.dropped(DropReason::Shutdown, n);
            self.q.done(n);
        }
        self.records.clear();
        self.queued.clear();
        self.q.drain_dropped(DropReason::Shutdown);
        self.q.metrics.depth.set(0.0);
    }

    /// Everything is delivered and the output stops: one attempt at reporting drops not yet
    /// reported, if there is time.
    fn last_word(&mut self, deadline: Instant) {
        self.q.metrics.depth.set(0.0);
        if Instant::now() >= deadline {
            return;
        }
        if let Some(line) = self.notice.poll(&self.q.metrics, true) {
            let records = [line];
            let _ = self.exporter.export(&LogBatch {
                records: &records,
                deadline: Some(deadline),
                attempt: 1,
            });
        }
    }
}
