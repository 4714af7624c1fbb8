//! Running collectors: type erasure for both kinds, and one scrape's concurrent runs, each
//! under its deadline: async collectors as tasks, blocking ones drained from one queue by a
//! worker per core.

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aiplatform_metrics::MetricFamily;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{BlockingCollector, CollectError, ScrapeCollector, ScrapeContext};

/// What one run produced: families (kept even on error, as node_exporter keeps what a failing
/// collector sent before failing) and the verdict.
pub(crate) type RunOutput = (Vec<MetricFamily>, Result<(), CollectError>);

pub(crate) type RunFuture = Pin<Box<dyn Future<Output = RunOutput> + Send>>;

/// What starting a collector gives: a future for the async runtime, or a call for a blocking
/// worker.
pub(crate) enum Work {
    Async(RunFuture),
    Blocking(BlockingCall),
}

/// One blocking collector's run, with how long the call itself took.
pub(crate) type BlockingCall = Box<dyn FnOnce() -> (RunOutput, Duration) + Send>;

/// A registered collector, whatever its kind.
pub(crate) trait Runner: Send + Sync {
    fn start(&self, ctx: ScrapeContext) -> Work;
}

/// Runs a [`ScrapeCollector`] on the async runtime.
pub(crate) struct AsyncRunner<C>(pub(crate) Arc<C>);

impl<C: ScrapeCollector> Runner for AsyncRunner<C> {
    fn start(&self, ctx: ScrapeContext) -> Work {
        let collector = self.0.clone();
        Work::Async(Box::pin(async move {
            let mut out = Vec::new();
            let result = collector.collect(&ctx, &mut out).await;
            (out, result)
        }))
    }
}

/// Runs a [`BlockingCollector`] on a blocking worker, at most one run at a time.
pub(crate) struct BlockingRunner<C> {
    pub(crate) collector: Arc<C>,
    pub(crate) running: Arc<AtomicBool>,
}

/// Clears the running flag when the blocking run returns (or unwinds).
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<C: BlockingCollector> Runner for BlockingRunner<C> {
    fn start(&self, ctx: ScrapeContext) -> Work {
        let collector = self.collector.clone();
        let running = self.running.clone();
        Work::Blocking(Box::new(move || {
            let begin = Instant::now();
            if running.swap(true, Ordering::AcqRel) {
                return (
                    (Vec::new(), Err(CollectError::StillRunning)),
                    begin.elapsed(),
                );
            }
            let _guard = Running(running);
            let mut out = Vec::new();
            let result = catch_unwind(AssertUnwindSafe(|| collector.collect(&ctx, &mut out)))
                .unwrap_or(Err(CollectError::Panicked));
            ((out, result), begin.elapsed())
        }))
    }
}

/// The blocking calls of one scrape, taken in order by a few worker threads.
///
/// One blocking-pool task per collector made a node scrape sixteen thread hand-offs and as many
/// wake-ups of the runtime, which cost more CPU than the collectors' own work. A worker per core
/// drains the queue instead, results stay in their slots, and the scrape is woken once, when
/// the last call returns (or at a time limit). A call that hangs holds only its worker: when no
/// worker has taken a call for [`STALL`] while calls wait, another worker starts, so the calls
/// behind a slow collector still run within their own time limits.
struct BlockingQueue {
    slots: Vec<Mutex<Slot>>,
    next: AtomicUsize,
    /// Slots neither finished nor abandoned.
    pending: AtomicUsize,
    settled: Notify,
}

enum Slot {
    Queued(BlockingCall),
    Running,
    Finished((RunOutput, Duration)),
    /// Past its time limit: a late result is dropped, a queued call never starts.
    Abandoned,
    Collected,
}

impl BlockingQueue {
    fn new(calls: Vec<BlockingCall>) -> Arc<Self> {
        Arc::new(BlockingQueue {
            pending: AtomicUsize::new(calls.len()),
            slots: calls
                .into_iter()
                .map(|c| Mutex::new(Slot::Queued(c)))
                .collect(),
            next: AtomicUsize::new(0),
            settled: Notify::new(),
        })
    }

    fn slot(&self, i: usize) -> std::sync::MutexGuard<'_, Slot> {
        self.slots[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `workers` threads on the blocking pool.
    fn start(self: &Arc<Self>, workers: usize) {
        for _ in 0..workers {
            let queue = self.clone();
            tokio::task::spawn_blocking(move || queue.drain());
        }
    }

    fn drain(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.slots.len() {
                return;
            }
            // Inspect and take under one lock: an abandoned slot must never look running.
            let mut slot = self.slot(i);
            if !matches!(*slot, Slot::Queued(_)) {
                continue;
            }
            let Slot::Queued(call) = std::mem::replace(&mut *slot, Slot::Running) else {
                continue;
            };
            drop(slot);
            let result = call();
            let mut slot = self.slot(i);
            if matches!(*slot, Slot::Running) {
                *slot = Slot::Finished(result);
                drop(slot);
                self.settle_one();
            }
        }
    }

    fn settle_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settled.notify_one();
        }
    }

    /// Gives up on slot `i` unless it has finished; true if it was given up.
    fn abandon(&self, i: usize) -> bool {
        let mut slot = self.slot(i);
        match *slot {
            Slot::Queued(_) | Slot::Running => {
                *slot = Slot::Abandoned;
                drop(slot);
                self.settle_one();
                true
            }
            _ => false,
        }
    }

    fn unstarted(&self) -> usize {
        self.slots
            .len()
            .saturating_sub(self.next.load(Ordering::Relaxed))
    }

    /// Waits until every slot has finished or passed its deadline (`deadlines[i]`), starting
    /// workers as needed, then returns each slot's result; an abandoned slot gives `None`.
    async fn run(self: Arc<Self>, deadlines: &[Instant]) -> Vec<Option<(RunOutput, Duration)>> {
        self.start(workers().min(self.slots.len()));
        let mut taken = 0;
        let mut stall_check = Instant::now() + STALL;
        while self.pending.load(Ordering::Acquire) > 0 {
            let now = Instant::now();
            for (i, deadline) in deadlines.iter().enumerate() {
                if *deadline <= now {
                    self.abandon(i);
                }
            }
            if self.unstarted() > 0 && stall_check <= now {
                // Every worker has been inside one call for a while and calls are waiting.
                let now_taken = self.next.load(Ordering::Relaxed);
                if now_taken == taken {
                    self.start(1);
                }
                taken = now_taken;
                stall_check = now + STALL;
            }
            let next_deadline = deadlines
                .iter()
                .enumerate()
                .filter(|(i, _)| matches!(*self.slot(*i), Slot::Queued(_) | Slot::Running))
                .map(|(_, d)| *d)
                .min();
            let wake = match next_deadline {
                Some(d) if self.unstarted() > 0 => d.min(stall_check),
                Some(d) => d,
                // The last running call has finished and is about to say so.
                None => {
                    self.settled.notified().await;
                    continue;
                }
            };
            tokio::select! {
                _ = self.settled.notified() => {}
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
        (0..self.slots.len())
            .map(
                |i| match std::mem::replace(&mut *self.slot(i), Slot::Collected) {
                    Slot::Finished(result) => Some(result),
                    _ => None,
                },
            )
            .collect()
    }
}

/// Abandons whatever is still queued or running when the scrape's future is dropped (client
/// gone), so no worker starts a call nobody will read.
struct AbandonOnDrop(Arc<BlockingQueue>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        for i in 0..self.0.slots.len() {
            self.0.abandon(i);
        }
    }
}

/// One collector to run in a scrape.
pub(crate) struct Job {
    pub(crate) name: Arc<str>,
    pub(crate) runner: Arc<dyn Runner>,
    pub(crate) limit: Duration,
}

/// How one collector's run ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) name: Arc<str>,
    pub(crate) duration: Duration,
    pub(crate) result: Result<(), CollectError>,
}

/// How long the blocking queue may stand still, with calls waiting, before another worker
/// starts.
const STALL: Duration = Duration::from_millis(10);

/// Blocking workers per scrape: one per core the process may use (read once; on Linux the
/// answer comes from cgroup files).
fn workers() -> usize {
    static WORKERS: OnceLock<usize> = OnceLock::new();
    *WORKERS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `jobs` concurrently, each until its limit (and never past the scrape's deadline in
/// `ctx`); returns their families and outcomes, outcomes sorted by name.
pub(crate) async fn run_all(
    jobs: Vec<Job>,
    ctx: &ScrapeContext,
) -> (Vec<MetricFamily>, Vec<Outcome>) {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut by_task = HashMap::new();
    let (mut calls, mut blocking) = (Vec::new(), Vec::new());
    for job in jobs {
        let cctx = ctx.for_collector(job.name.clone(), start + job.limit);
        let deadline = cctx.deadline();
        match job.runner.start(cctx) {
            Work::Blocking(call) => {
                calls.push(call);
                blocking.push((job.name, deadline));
            }
            Work::Async(future) => {
                let handle = tasks.spawn(async move {
                    let begin = Instant::now();
                    match tokio::time::timeout_at(deadline.into(), future).await {
                        Ok(output) => (output, begin.elapsed()),
                        Err(_) => timed_out(begin, deadline),
                    }
                });
                by_task.insert(handle.id(), job.name);
            }
        }
    }

    let mut families = Vec::new();
    let mut outcomes = Vec::with_capacity(by_task.len() + blocking.len());
    let mut push = |name, ((fams, result), duration): (RunOutput, Duration)| {
        families.extend(fams);
        outcomes.push(Outcome {
            name,
            duration,
            result,
        });
    };
    let queue = BlockingQueue::new(calls);
    let _abandon = AbandonOnDrop(queue.clone());
    let deadlines: Vec<Instant> = blocking.iter().map(|(_, d)| *d).collect();
    let (blocking_results, joined) = tokio::join!(queue.run(&deadlines), async {
        let mut joined = Vec::with_capacity(by_task.len());
        while let Some(done) = tasks.join_next_with_id().await {
            joined.push(match done {
                Ok((id, output)) => (id, output),
                Err(e) => (
                    e.id(),
                    ((Vec::new(), Err(CollectError::Panicked)), start.elapsed()),
                ),
            });
        }
        joined
    });
    for ((name, deadline), result) in blocking.into_iter().zip(blocking_results) {
        push(name, result.unwrap_or_else(|| timed_out(start, deadline)));
    }
    for (id, output) in joined {
        push(
            by_task.remove(&id).expect("every task was recorded"),
            output,
        );
    }
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    (families, outcomes)
}

/// The outcome of a run stopped at `deadline`.
fn timed_out(begin: Instant, deadline: Instant) -> (RunOutput, Duration) {
    (
        (
            Vec::new(),
            Err(CollectError::Timeout(
                deadline.saturating_duration_since(begin),
            )),
        ),
        begin.elapsed(),
    )
}
