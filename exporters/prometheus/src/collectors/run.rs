//! Running collectors: type erasure for both kinds, and one scrape's concurrent runs, each
//! under its deadline.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aiplatform_metrics::MetricFamily;
use tokio::task::JoinSet;

use super::{BlockingCollector, CollectError, ScrapeCollector, ScrapeContext};

/// What one run produced: families (kept even on error, as node_exporter keeps what a failing
/// collector sent before failing) and the verdict.
pub(crate) type RunOutput = (Vec<MetricFamily>, Result<(), CollectError>);

pub(crate) type RunFuture = Pin<Box<dyn Future<Output = RunOutput> + Send>>;

/// A registered collector, whatever its kind.
pub(crate) trait Runner: Send + Sync {
    fn run(&self, ctx: ScrapeContext) -> RunFuture;
}

/// Runs a [`ScrapeCollector`] on the async runtime.
pub(crate) struct AsyncRunner<C>(pub(crate) Arc<C>);

impl<C: ScrapeCollector> Runner for AsyncRunner<C> {
    fn run(&self, ctx: ScrapeContext) -> RunFuture {
        let collector = self.0.clone();
        Box::pin(async move {
            let mut out = Vec::new();
            let result = collector.update(&ctx, &mut out).await;
            (out, result)
        })
    }
}

/// Runs a [`BlockingCollector`] on the blocking pool, at most one run at a time.
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
    fn run(&self, ctx: ScrapeContext) -> RunFuture {
        let collector = self.collector.clone();
        let running = self.running.clone();
        Box::pin(async move {
            if running.swap(true, Ordering::AcqRel) {
                return (Vec::new(), Err(CollectError::StillRunning));
            }
            let guard = Running(running);
            let handle = tokio::task::spawn_blocking(move || {
                let _guard = guard;
                let mut out = Vec::new();
                let result = collector.update(&ctx, &mut out);
                (out, result)
            });
            handle
                .await
                .unwrap_or_else(|_| (Vec::new(), Err(CollectError::Panicked)))
        })
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

/// Runs `jobs` concurrently, each until its limit (and never past the scrape's deadline in
/// `ctx`); returns their families and outcomes, outcomes sorted by name.
pub(crate) async fn run_all(
    jobs: Vec<Job>,
    ctx: &ScrapeContext,
) -> (Vec<MetricFamily>, Vec<Outcome>) {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut by_task = HashMap::new();
    for job in jobs {
        let cctx = ctx.for_collector(job.name.clone(), start + job.limit);
        let deadline = cctx.deadline();
        let runner = job.runner;
        let handle = tasks.spawn(async move {
            let begin = Instant::now();
            let timed = tokio::time::timeout_at(deadline.into(), runner.run(cctx)).await;
            let duration = begin.elapsed();
            match timed {
                Ok(output) => (output, duration),
                Err(_) => (
                    (
                        Vec::new(),
                        Err(CollectError::Timeout(
                            deadline.saturating_duration_since(begin),
                        )),
                    ),
                    duration,
                ),
            }
        });
        by_task.insert(handle.id(), job.name);
    }
    let mut families = Vec::new();
    let mut outcomes = Vec::with_capacity(by_task.len());
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, (fams, result), duration) = match joined {
            Ok((id, ((fams, result), duration))) => (id, (fams, result), duration),
            Err(e) => (
                e.id(),
                (Vec::new(), Err(CollectError::Panicked)),
                start.elapsed(),
            ),
        };
        let name = by_task.remove(&id).expect("every task was recorded");
        families.extend(fams);
        outcomes.push(Outcome {
            name,
            duration,
            result,
        });
    }
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    (families, outcomes)
}
