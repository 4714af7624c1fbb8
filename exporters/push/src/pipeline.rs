//! The pipeline: a thread per backend that collects, encodes, queues and sends.
//!
//! The thread runs a single-threaded tokio runtime with two loops sharing a queue:
//!
//! - the **collector** wakes every interval (the first time at a random point of the first
//!   interval, so a fleet started together does not push together), collects the registry into
//!   a reused snapshot, computes the points ([`Tracker`]), lets the encoder write them as
//!   records, and queues the sealed batches; it also answers `flush` and `shutdown`;
//! - the **sender** takes the oldest batch and sends it until it is delivered, refused, or
//!   cut in two: connection errors, timeouts, 408, 429 and 5xx are retried with exponential
//!   backoff and full jitter, or after `Retry-After`; 413 cuts the batch in half, down to one
//!   record; other 4xx drop it (counted, logged with the response cut short).
//!
//! The application's threads never wait for any of it: they only write their counters.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aiplatform_metrics::Registry;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::backoff::Backoff;
use crate::batch::{Batch, Encoder, Framing, split};
use crate::compress::Compression;
use crate::cycle::Cycle;
use crate::error::{BuildError, FlushError};
use crate::secret::{Secret, scrub};
use crate::stats::{DropReason, Exposed, ObserverSlot, Stats};
use crate::store::{QueuePolicy, SpoolOptions, Store, Taken};
use crate::temporality::Temporality;
use crate::transport::{Failure, Outcome, Transport};

/// How often rejected batches are logged at most (the rest are counted).
const REJECT_LOG_EVERY: Duration = Duration::from_secs(30);

/// Configures a [`Pipeline`]; see [`Pipeline::builder`].
#[derive(Debug)]
pub struct PipelineBuilder<E, T> {
    registry: Registry,
    backend: String,
    encoder: E,
    transport: T,
    interval: Duration,
    jitter: bool,
    periodic: bool,
    temporality: Temporality,
    compression: Compression,
    max_batch_bytes: usize,
    max_batch_series: u64,
    max_body_bytes: Option<usize>,
    queue_max_bytes: u64,
    policy: QueuePolicy,
    spool: Option<SpoolOptions>,
    backoff: Backoff,
    max_retry_after: Duration,
    shutdown_timeout: Duration,
    start_time: SystemTime,
    collect_on_shutdown: bool,
    on_drop: ObserverSlot,
}

/// A running push pipeline. Dropping it shuts it down (waiting up to its shutdown timeout).
///
/// ```
/// use std::time::Duration;
/// use aiplatform_metrics::Registry;
/// use aiplatform_push::{Compression, HttpTransport, Pipeline};
/// # use std::sync::Arc;
/// # use aiplatform_push::{Collection, Concatenated, Encoder, Framing, RecordWriter};
/// # struct MyEncoder;
/// # impl Encoder for MyEncoder {
/// #     fn encode(&mut self, _: &Collection<'_>, _: &mut RecordWriter<'_>) {}
/// #     fn framing(&self) -> Arc<dyn Framing> { Arc::new(Concatenated) }
/// # }
///
/// let registry = Registry::new();
/// let transport = HttpTransport::builder("http://127.0.0.1:9/ingest").build().unwrap();
/// let pipeline = Pipeline::builder(&registry, "example", MyEncoder, transport)
///     .interval(Duration::from_secs(10))
///     .compression(Compression::Gzip)
///     .build()
///     .unwrap();
/// // ... the application runs; at the end, push what is left:
/// let _ = pipeline.shutdown(Duration::from_millis(100));
/// ```
#[derive(Debug)]
pub struct Pipeline {
    backend: String,
    commands: mpsc::UnboundedSender<Command>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    stats: Arc<Stats>,
    shutdown_timeout: Duration,
    _exposed: Exposed,
}

#[derive(Debug)]
enum Reply {
    Blocking(std::sync::mpsc::Sender<Result<(), FlushError>>),
    Async(oneshot::Sender<Result<(), FlushError>>),
}

impl Reply {
    fn send(self, r: Result<(), FlushError>) {
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(r);
            }
            Reply::Async(tx) => {
                let _ = tx.send(r);
            }
        }
    }
}

#[derive(Debug)]
enum Command {
    Flush { timeout: Duration, reply: Reply },
    Shutdown { timeout: Duration, reply: Reply },
}

impl Pipeline {
    /// A pipeline that pushes `registry` under the name `backend` (the `backend` label of its
    /// self-metrics), encoding with `encoder` and sending with `transport`.
    pub fn builder<E: Encoder, T: Transport>(
        registry: &Registry,
        backend: &str,
        encoder: E,
        transport: T,
    ) -> PipelineBuilder<E, T> {
        PipelineBuilder {
            registry: registry.clone(),
            backend: backend.to_owned(),
            encoder,
            transport,
            interval: Duration::from_secs(15),
            jitter: true,
            periodic: true,
            temporality: Temporality::Cumulative,
            compression: Compression::None,
            max_batch_bytes: 1024 * 1024,
            max_batch_series: 2000,
            max_body_bytes: None,
            queue_max_bytes: 64 * 1024 * 1024,
            policy: QueuePolicy::KeepAll,
            spool: None,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(300),
            shutdown_timeout: Duration::from_secs(5),
            start_time: SystemTime::now(),
            collect_on_shutdown: true,
            on_drop: ObserverSlot::default(),
        }
    }

    /// The backend name.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Collects now and waits until everything queued so far is delivered, or `timeout`.
    /// Blocks the calling thread (from async code, use [`Pipeline::flush_async`]).
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.commands
            .send(Command::Flush {
                timeout,
                reply: Reply::Blocking(tx),
            })
            .map_err(|_| FlushError::Stopped)?;
        rx.recv().unwrap_or(Err(FlushError::Stopped))
    }

    /// [`Pipeline::flush`] for async code.
    pub async fn flush_async(&self, timeout: Duration) -> Result<(), FlushError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush {
                timeout,
                reply: Reply::Async(tx),
            })
            .map_err(|_| FlushError::Stopped)?;
        rx.await.unwrap_or(Err(FlushError::Stopped))
    }

    /// Collects one last time, delivers what it can within `timeout`, and stops. What is left
    /// stays in the spool if there is one (sent at the next start), else is counted as dropped.
    /// The self-metrics stay in the registry until the pipeline is dropped.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        let Some(thread) = self.thread.lock().take() else {
            return Err(FlushError::Stopped);
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let result = match self.commands.send(Command::Shutdown {
            timeout,
            reply: Reply::Blocking(tx),
        }) {
            Ok(()) => rx.recv().unwrap_or(Err(FlushError::Stopped)),
            Err(_) => Err(FlushError::Stopped),
        };
        let _ = thread.join();
        result
    }

    /// [`Pipeline::shutdown`] for async code (the thread is left to finish on its own).
    pub async fn shutdown_async(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.thread.lock().take().is_none() {
            return Err(FlushError::Stopped);
        }
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Shutdown {
                timeout,
                reply: Reply::Async(tx),
            })
            .map_err(|_| FlushError::Stopped)?;
        rx.await.unwrap_or(Err(FlushError::Stopped))
    }

    /// Samples delivered so far.
    pub fn samples_sent(&self) -> u64 {
        self.stats.samples_sent()
    }

    /// Samples dropped so far, for any reason.
    pub fn samples_dropped(&self) -> u64 {
        self.stats.dropped_total()
    }

    /// Collections made so far.
    pub fn collections(&self) -> u64 {
        self.stats.collections()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if self.thread.get_mut().is_some() {
            let _ = self.shutdown(self.shutdown_timeout);
        }
    }
}

impl<E: Encoder, T: Transport> PipelineBuilder<E, T> {
    /// Time between collections (default 15 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Whether the first collection comes at a random point of the first interval (default)
    /// or right away.
    pub fn jitter(mut self, yes: bool) -> Self {
        self.jitter = yes;
        self
    }

    /// Whether to collect every interval (default) or only on `flush` and `shutdown` (a batch
    /// job that pushes once, at its end).
    pub fn periodic(mut self, yes: bool) -> Self {
        self.periodic = yes;
        self
    }

    /// Cumulative (default) or delta values.
    pub fn temporality(mut self, t: Temporality) -> Self {
        self.temporality = t;
        self
    }

    /// How request bodies are compressed (default none; backends set their protocol's).
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Uncompressed record bytes per request at most (default 1 MiB; a single larger record
    /// is sent alone).
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// Series per request at most (default 2000).
    pub fn max_batch_series(mut self, series: u64) -> Self {
        self.max_batch_series = series;
        self
    }

    /// Compressed body bytes a receiver accepts at most: larger bodies are cut in half before
    /// they are queued (default none).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// Bound of the queue of unsent batches, in bytes (default 64 MiB); past it the oldest
    /// batches are dropped and their samples counted.
    pub fn queue_max_bytes(mut self, bytes: u64) -> Self {
        self.queue_max_bytes = bytes;
        self
    }

    /// Whether a new collection replaces queued older ones (default: no).
    pub fn queue_policy(mut self, policy: QueuePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Keeps unsent batches on disk instead of in memory, so a restart loses nothing; the
    /// spool's size replaces the queue bound.
    pub fn spool(mut self, spool: SpoolOptions) -> Self {
        self.spool = Some(spool);
        self
    }

    /// Retry timing (default 100 ms doubling up to 10 s, full jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The longest `Retry-After` honoured (default 5 min); longer ones are cut to it.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// How long dropping the pipeline waits for delivery (default 5 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// The start time of series that exist at the first collection (default: now).
    pub fn start_time(mut self, t: SystemTime) -> Self {
        self.start_time = t;
        self
    }

    /// Whether shutdown collects one last time (default yes).
    pub fn collect_on_shutdown(mut self, yes: bool) -> Self {
        self.collect_on_shutdown = yes;
        self
    }

    /// Calls `observer` with every batch the pipeline drops (queue full, refused, too large,
    /// shutdown), after counting it. For backends that report drops in their own terms: a
    /// DogStatsD client counts dropped packets and bytes. It runs on the pipeline's thread and
    /// must be quick.
    pub fn on_drop(
        mut self,
        observer: impl Fn(DropReason, &Batch) + Send + Sync + 'static,
    ) -> Self {
        self.on_drop = ObserverSlot(Some(Arc::new(observer)));
        self
    }

    /// Starts the pipeline's thread.
    pub fn build(self) -> Result<Pipeline, BuildError> {
        if self.interval.is_zero() {
            return Err(BuildError::Config(
                "the push interval must be positive".into(),
            ));
        }
        if self.queue_max_bytes == 0 {
            return Err(BuildError::Config(
                "the queue bound must be positive".into(),
            ));
        }
        let stats = Arc::new(Stats::with_observer(self.on_drop.0.clone()));
        let store = match &self.spool {
            Some(s) => Store::spooled(s, self.policy, stats.clone())?,
            None => Store::memory(self.queue_max_bytes, self.policy, stats.clone()),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(BuildError::Thread)?;
        let cycle = Cycle::new(
            &self.registry,
            self.encoder,
            self.temporality,
            self.start_time,
        )
        .compression(self.compression)
        .limits(self.max_batch_bytes, self.max_batch_series);
        let framing = cycle.framing().clone();
        let collector = CollectSide {
            cycle,
            max_body_bytes: self.max_body_bytes,
        };
        let sender = SendSide {
            secrets: self.transport.secrets(),
            transport: self.transport,
            framing,
            backoff: self.backoff,
            max_retry_after: self.max_retry_after,
            failures_in_a_row: 0,
            last_reject_log: None,
            rejects_unlogged: 0,
        };
        let shared = Shared {
            backend: self.backend.clone(),
            store: RefCell::new(store),
            stats: stats.clone(),
            work: Notify::new(),
            idle: Notify::new(),
            wake_sender: Notify::new(),
            shutdown_at: Cell::new(None),
            stopped: Cell::new(false),
            last_error: RefCell::new(None),
        };
        let timing = Timing {
            interval: self.interval,
            jitter: self.jitter,
            periodic: self.periodic,
            collect_on_shutdown: self.collect_on_shutdown,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name(format!("push-{}", self.backend))
            .spawn(move || {
                runtime.block_on(run(collector, sender, shared, rx, timing));
            })
            .map_err(BuildError::Thread)?;
        let exposed = Exposed::new(&self.registry, stats.clone(), &self.backend);
        Ok(Pipeline {
            backend: self.backend,
            commands: tx,
            thread: parking_lot::Mutex::new(Some(thread)),
            stats,
            shutdown_timeout: self.shutdown_timeout,
            _exposed: exposed,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Timing {
    interval: Duration,
    jitter: bool,
    periodic: bool,
    collect_on_shutdown: bool,
}

/// What both loops share (one thread: `Cell`/`RefCell`, never held across an await).
struct Shared {
    backend: String,
    store: RefCell<Store>,
    stats: Arc<Stats>,
    /// A batch was queued.
    work: Notify,
    /// The queue became empty.
    idle: Notify,
    /// Shutdown began: cut waits short.
    wake_sender: Notify,
    shutdown_at: Cell<Option<tokio::time::Instant>>,
    stopped: Cell<bool>,
    /// The last refusal's detail, for flush results.
    last_error: RefCell<Option<String>>,
}

struct CollectSide<E> {
    cycle: Cycle<E>,
    max_body_bytes: Option<usize>,
}

impl<E: Encoder> CollectSide<E> {
    /// One push cycle: collect, compute points, encode, seal and queue.
    fn cycle(&mut self, shared: &Shared) {
        if shared.stopped.get() {
            return;
        }
        let started = Instant::now();
        let framing = self.cycle.framing().clone();
        let max_body = self.max_body_bytes;
        self.cycle
            .run(&mut |batch: Batch| queue_within_limit(shared, &*framing, max_body, batch));
        shared.stats.cycle(started.elapsed());
        shared.work.notify_one();
    }
}

/// Queues `batch`, cutting it first if its compressed body is over the receiver's limit.
fn queue_within_limit(shared: &Shared, framing: &dyn Framing, max: Option<usize>, batch: Batch) {
    match max {
        Some(max) if batch.body().len() > max => match split(&batch, framing) {
            Some((a, b)) => {
                queue_within_limit(shared, framing, Some(max), a);
                queue_within_limit(shared, framing, Some(max), b);
            }
            None => {
                tracing::warn!(
                    backend = %shared.backend,
                    bytes = batch.body().len(),
                    limit = max,
                    "push: a single record is larger than the receiver's body limit; dropped"
                );
                shared.stats.dropped_batch(DropReason::TooLarge, &batch);
            }
        },
        _ => shared.store.borrow_mut().push(batch),
    }
}

struct SendSide<T> {
    transport: T,
    framing: Arc<dyn Framing>,
    backoff: Backoff,
    max_retry_after: Duration,
    secrets: Vec<Secret>,
    failures_in_a_row: u32,
    last_reject_log: Option<Instant>,
    rejects_unlogged: u64,
}

/// How a batch ended.
enum Finished {
    Done,
    /// Shutdown's deadline passed first.
    Abandoned,
}

impl<T: Transport> SendSide<T> {
    async fn run(&mut self, shared: &Shared) {
        loop {
            let taken = loop {
                if shared.stopped.get() {
                    return;
                }
                if let Some(t) = shared.store.borrow_mut().take() {
                    break t;
                }
                if shared.shutdown_at.get().is_some() {
                    shared.idle.notify_one();
                    return;
                }
                shared.idle.notify_one();
                tokio::select! {
                    _ = shared.work.notified() => {}
                    _ = shared.wake_sender.notified() => {}
                }
            };
            if let Finished::Abandoned = self.deliver(shared, taken).await {
                return;
            }
            if shared.store.borrow().is_empty() {
                shared.idle.notify_one();
            }
        }
    }

    /// Sends one batch until it is delivered, refused, cut in two, or shutdown's deadline.
    async fn deliver(&mut self, shared: &Shared, taken: Taken) -> Finished {
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let outcome = {
                let send = self.transport.send(&taken.batch);
                tokio::pin!(send);
                loop {
                    match shared.shutdown_at.get() {
                        Some(deadline) => {
                            match tokio::time::timeout_at(deadline, &mut send).await {
                                Ok(o) => break Some(o),
                                Err(_) => break None,
                            }
                        }
                        None => tokio::select! {
                            o = &mut send => break Some(o),
                            _ = shared.wake_sender.notified() => {}
                        },
                    }
                }
            };
            let Some(outcome) = outcome else {
                shared.store.borrow_mut().abandon(taken);
                return Finished::Abandoned;
            };
            let took = started.elapsed();
            let samples = taken.batch.samples();
            match outcome {
                Outcome::Delivered => {
                    shared
                        .stats
                        .sent(samples, taken.batch.body().len() as u64, took);
                    if self.failures_in_a_row > 0 {
                        tracing::info!(
                            backend = %shared.backend,
                            failed_attempts = self.failures_in_a_row,
                            "push: delivering again"
                        );
                        self.failures_in_a_row = 0;
                    }
                    shared.store.borrow_mut().done(taken);
                    return Finished::Done;
                }
                Outcome::PartlyDelivered { rejected, detail } => {
                    let rejected = rejected.min(samples);
                    shared
                        .stats
                        .sent(samples - rejected, taken.batch.body().len() as u64, took);
                    if rejected > 0 {
                        *shared.last_error.borrow_mut() = Some(self.clean(&detail));
                        shared.stats.dropped(DropReason::Rejected, rejected);
                        self.log_partial(shared, &detail, rejected);
                    }
                    self.failures_in_a_row = 0;
                    shared.store.borrow_mut().done(taken);
                    return Finished::Done;
                }
                Outcome::TooLarge { detail } => {
                    shared.stats.failed(Failure::Status(413), took);
                    match split(&taken.batch, &*self.framing) {
                        Some((a, b)) => {
                            tracing::debug!(
                                backend = %shared.backend,
                                records = taken.batch.records(),
                                "push: receiver says too large (413); sending in two halves"
                            );
                            shared.store.borrow_mut().replace_with(taken, a, b);
                        }
                        None => {
                            let detail = self.clean(&detail);
                            tracing::warn!(
                                backend = %shared.backend,
                                detail = %detail,
                                "push: a single record is too large for the receiver; dropped"
                            );
                            *shared.last_error.borrow_mut() = Some(detail);
                            shared
                                .stats
                                .dropped_batch(DropReason::TooLarge, &taken.batch);
                            shared.store.borrow_mut().done(taken);
                        }
                    }
                    return Finished::Done;
                }
                Outcome::Rejected { failure, detail } => {
                    shared.stats.failed(failure, took);
                    *shared.last_error.borrow_mut() = Some(self.clean(&detail));
                    shared
                        .stats
                        .dropped_batch(DropReason::Rejected, &taken.batch);
                    self.log_reject(shared, failure, &detail, samples);
                    shared.store.borrow_mut().done(taken);
                    return Finished::Done;
                }
                Outcome::Stop { failure, detail } => {
                    shared.stats.failed(failure, took);
                    tracing::error!(
                        backend = %shared.backend,
                        reason = failure.label(),
                        detail = %self.clean(&detail),
                        "push: the receiver refuses this sender; the backend stops (fix its credentials and restart)"
                    );
                    shared
                        .stats
                        .dropped_batch(DropReason::Stopped, &taken.batch);
                    shared.stopped.set(true);
                    let mut store = shared.store.borrow_mut();
                    store.done(taken);
                    store.clear(DropReason::Stopped);
                    return Finished::Done;
                }
                Outcome::Retry {
                    failure,
                    after,
                    detail,
                } => {
                    shared.stats.failed(failure, took);
                    attempt += 1;
                    self.failures_in_a_row += 1;
                    let wait = match after {
                        Some(a) => a.min(self.max_retry_after),
                        None => self.backoff.delay(attempt),
                    };
                    if self.failures_in_a_row == 1 {
                        tracing::warn!(
                            backend = %shared.backend,
                            reason = failure.label(),
                            detail = %self.clean(&detail),
                            retry_in = ?wait,
                            "push: send failed; retrying"
                        );
                    } else {
                        tracing::debug!(
                            backend = %shared.backend,
                            reason = failure.label(),
                            attempt,
                            retry_in = ?wait,
                            "push: send failed again"
                        );
                    }
                    if !self.wait(shared, wait).await {
                        shared.store.borrow_mut().abandon(taken);
                        return Finished::Abandoned;
                    }
                    shared.stats.retried();
                }
            }
        }
    }

    /// Sleeps `wait`, or until shutdown's deadline; false if the deadline comes first.
    async fn wait(&self, shared: &Shared, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            match shared.shutdown_at.get() {
                Some(deadline) if deadline < until => {
                    tokio::time::sleep_until(deadline).await;
                    return false;
                }
                Some(_) => {
                    tokio::time::sleep_until(until).await;
                    return true;
                }
                None => tokio::select! {
                    _ = tokio::time::sleep_until(until) => return true,
                    _ = shared.wake_sender.notified() => {}
                },
            }
        }
    }

    fn clean(&self, detail: &str) -> String {
        scrub(detail, &self.secrets)
    }

    /// Whether a refusal may be logged now (at most one line every `REJECT_LOG_EVERY`):
    /// `Some(refusals not logged since the last line)`, or `None` after counting this one.
    fn reject_log_due(&mut self) -> Option<u64> {
        let due = self
            .last_reject_log
            .is_none_or(|t| t.elapsed() >= REJECT_LOG_EVERY);
        if due {
            self.last_reject_log = Some(Instant::now());
            Some(std::mem::take(&mut self.rejects_unlogged))
        } else {
            self.rejects_unlogged += 1;
            None
        }
    }

    fn log_partial(&mut self, shared: &Shared, detail: &str, rejected: u64) {
        if let Some(unlogged) = self.reject_log_due() {
            tracing::warn!(
                backend = %shared.backend,
                rejected_samples = rejected,
                detail = %self.clean(detail),
                also_rejected_since_last_log = unlogged,
                "push: the receiver took a batch but discarded some of its samples"
            );
        }
    }

    fn log_reject(&mut self, shared: &Shared, failure: Failure, detail: &str, samples: u64) {
        if let Some(unlogged) = self.reject_log_due() {
            tracing::warn!(
                backend = %shared.backend,
                reason = failure.label(),
                samples,
                detail = %self.clean(detail),
                also_rejected_since_last_log = unlogged,
                "push: the receiver rejected a batch; dropped, not retried"
            );
        }
    }
}

struct Waiter {
    deadline: tokio::time::Instant,
    started: tokio::time::Instant,
    dropped_before: u64,
    reply: Reply,
}

fn answer(shared: &Shared, w: Waiter, now: tokio::time::Instant) {
    let result = outcome_for(shared, &w, now);
    w.reply.send(result);
}

fn outcome_for(shared: &Shared, w: &Waiter, now: tokio::time::Instant) -> Result<(), FlushError> {
    let store = shared.store.borrow();
    let (batches, samples) = store.pending();
    let dropped = shared.stats.dropped_total() - w.dropped_before;
    if shared.stopped.get() {
        Err(FlushError::Stopped)
    } else if batches > 0 {
        Err(FlushError::Timeout {
            pending_batches: batches,
            pending_samples: samples,
            waited: now - w.started,
        })
    } else if dropped > 0 {
        Err(FlushError::Dropped {
            samples: dropped,
            last_error: shared.last_error.borrow().clone(),
        })
    } else {
        Ok(())
    }
}

async fn run<E: Encoder, T: Transport>(
    mut collector: CollectSide<E>,
    mut sender: SendSide<T>,
    shared: Shared,
    mut commands: mpsc::UnboundedReceiver<Command>,
    timing: Timing,
) {
    let shared = &shared;
    let control = async {
        let first = if timing.jitter {
            Duration::from_nanos(fastrand::u64(0..timing.interval.as_nanos() as u64))
        } else {
            Duration::ZERO
        };
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + first, timing.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut waiters: Vec<Waiter> = Vec::new();
        loop {
            let next_deadline = waiters.iter().map(|w| w.deadline).min();
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
            tokio::select! {
                _ = ticks.tick(), if timing.periodic => collector.cycle(shared),
                command = commands.recv() => {
                    let now = tokio::time::Instant::now();
                    let (timeout, reply, last) = match command {
                        Some(Command::Flush { timeout, reply }) => (timeout, reply, false),
                        Some(Command::Shutdown { timeout, reply }) => (timeout, reply, true),
                        // Every handle is gone without a shutdown: stop quietly.
                        None => {
                            let (tx, _rx) = std::sync::mpsc::channel();
                            (Duration::ZERO, Reply::Blocking(tx), true)
                        }
                    };
                    if !last || timing.collect_on_shutdown {
                        collector.cycle(shared);
                    }
                    let waiter = Waiter {
                        deadline: now + timeout,
                        started: now,
                        dropped_before: shared.stats.dropped_total(),
                        reply,
                    };
                    if last {
                        shared.shutdown_at.set(Some(now + timeout));
                        shared.wake_sender.notify_one();
                        return (waiter, waiters);
                    }
                    if shared.store.borrow().is_empty() || shared.stopped.get() {
                        answer(shared, waiter, now);
                    } else {
                        waiters.push(waiter);
                    }
                }
                _ = shared.idle.notified() => {
                    if shared.store.borrow().is_empty() {
                        let now = tokio::time::Instant::now();
                        for w in waiters.drain(..) {
                            answer(shared, w, now);
                        }
                    }
                }
                _ = tokio::time::sleep_until(next_deadline.unwrap_or(far)), if next_deadline.is_some() => {
                    let now = tokio::time::Instant::now();
                    let (due, rest): (Vec<Waiter>, Vec<Waiter>) =
                        waiters.drain(..).partition(|w| w.deadline <= now);
                    waiters = rest;
                    for w in due {
                        answer(shared, w, now);
                    }
                }
            }
        }
    };
    let ((last, others), ()) = tokio::join!(control, sender.run(shared));
    let now = tokio::time::Instant::now();
    // Work out the answers before closing (so pending batches are reported), close (counting
    // what is lost, persisting the spool), then answer: the caller may exit right away.
    let answers: Vec<(Reply, Result<(), FlushError>)> = others
        .into_iter()
        .chain(std::iter::once(last))
        .map(|w| {
            let r = outcome_for(shared, &w, now);
            (w.reply, r)
        })
        .collect();
    let (batches, samples) = shared.store.borrow().pending();
    if batches > 0 {
        tracing::warn!(
            backend = %shared.backend,
            batches,
            samples,
            "push: shutdown deadline passed with batches unsent"
        );
    }
    shared.store.borrow_mut().close();
    for (reply, result) in answers {
        reply.send(result);
    }
}
