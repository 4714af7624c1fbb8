//! The pipeline's self-metrics, `aiplatform_push_*`, exposed through the registry it pushes,
//! so the scrape endpoint (and the receiver) show whether pushes work.
//!
//! Every family has a `backend` label. The numbers live in atomics the pipeline thread
//! updates; a collector turns them into families at collection time. Several pipelines on one
//! registry each add their series to the same families.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aiplatform_metrics::collect::CollectorId;
use aiplatform_metrics::{MetricFamily, MetricKind, Registry};

use crate::batch::Batch;
use crate::transport::Failure;

/// Called with every batch the pipeline drops and why; see
/// [`PipelineBuilder::on_drop`](crate::PipelineBuilder::on_drop).
pub type DropObserver = Arc<dyn Fn(DropReason, &Batch) + Send + Sync>;

/// The observer, if any (a `Debug` wrapper for the derive).
#[derive(Clone, Default)]
pub(crate) struct ObserverSlot(pub(crate) Option<DropObserver>);

impl std::fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

/// Why samples were dropped: the `reason` label of `aiplatform_push_dropped_samples_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Evicted, oldest first, to keep the queue (or spool) within its bound.
    QueueFull,
    /// The receiver refused the batch (a 4xx other than 408, 413, 429).
    Rejected,
    /// A single record was still too large for the receiver (413), or for the body limit.
    TooLarge,
    /// Still queued when shutdown's deadline passed, with no spool to keep it.
    Shutdown,
    /// The receiver told the pipeline to stop.
    Stopped,
    /// The on-disk spool failed (its data is lost, not the pipeline).
    Spool,
}

impl DropReason {
    const ALL: [DropReason; 6] = [
        DropReason::QueueFull,
        DropReason::Rejected,
        DropReason::TooLarge,
        DropReason::Shutdown,
        DropReason::Stopped,
        DropReason::Spool,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Rejected => "rejected",
            DropReason::TooLarge => "too_large",
            DropReason::Shutdown => "shutdown",
            DropReason::Stopped => "stopped",
            DropReason::Spool => "spool_error",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

const FAILURES: [&str; 10] = [
    "connect",
    "timeout",
    "io",
    "credentials",
    "http_408",
    "http_413",
    "http_429",
    "http_4xx",
    "http_5xx",
    "http_other",
];

/// Upper bounds of the send and cycle duration histograms, in seconds.
const DURATION_BOUNDS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct DurationHistogram {
    counts: [AtomicU64; DURATION_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = DURATION_BOUNDS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(DURATION_BOUNDS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    fn push(&self, family: &mut MetricFamily, backend: &str) {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        family
            .push_histogram(&[backend], &DURATION_BOUNDS, &counts, sum)
            .expect("one label");
    }
}

/// The counters of one pipeline.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    samples_sent: AtomicU64,
    batches_sent: AtomicU64,
    bytes_sent: AtomicU64,
    failures: [AtomicU64; FAILURES.len()],
    retries: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    superseded: AtomicU64,
    queue_bytes: AtomicU64,
    queue_batches: AtomicU64,
    queue_max_bytes: AtomicU64,
    last_success_ms: AtomicU64,
    send: DurationHistogram,
    cycle: DurationHistogram,
    collections: AtomicU64,
    observer: ObserverSlot,
}

impl Stats {
    /// Stats that tell `observer` about every dropped batch.
    pub(crate) fn with_observer(observer: Option<DropObserver>) -> Stats {
        Stats {
            observer: ObserverSlot(observer),
            ..Stats::default()
        }
    }

    /// `batch` was dropped: counts its samples and tells the observer.
    pub(crate) fn dropped_batch(&self, reason: DropReason, batch: &Batch) {
        self.dropped(reason, batch.samples);
        if let Some(observe) = &self.observer.0 {
            observe(reason, batch);
        }
    }

    pub(crate) fn sent(&self, samples: u64, bytes: u64, took: Duration) {
        self.samples_sent.fetch_add(samples, Ordering::Relaxed);
        self.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
        self.send.observe(took);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_success_ms.store(now, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, failure: Failure, took: Duration) {
        let label = failure.label();
        let i = FAILURES.iter().position(|f| *f == label).unwrap_or(0);
        self.failures[i].fetch_add(1, Ordering::Relaxed);
        self.send.observe(took);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, reason: DropReason, samples: u64) {
        self.dropped[reason.index()].fetch_add(samples, Ordering::Relaxed);
    }

    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    #[cfg(test)]
    pub(crate) fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()].load(Ordering::Relaxed)
    }

    pub(crate) fn samples_sent(&self) -> u64 {
        self.samples_sent.load(Ordering::Relaxed)
    }

    pub(crate) fn superseded(&self, batches: u64) {
        self.superseded.fetch_add(batches, Ordering::Relaxed);
    }

    pub(crate) fn queue(&self, bytes: u64, batches: u64) {
        self.queue_bytes.store(bytes, Ordering::Relaxed);
        self.queue_batches.store(batches, Ordering::Relaxed);
    }

    pub(crate) fn queue_limit(&self, bytes: u64) {
        self.queue_max_bytes.store(bytes, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn queue_bytes(&self) -> u64 {
        self.queue_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn cycle(&self, took: Duration) {
        self.collections.fetch_add(1, Ordering::Relaxed);
        self.cycle.observe(took);
    }

    pub(crate) fn collections(&self) -> u64 {
        self.collections.load(Ordering::Relaxed)
    }
}

fn family(kind: MetricKind, name: &str, help: &str, label_names: &[&str]) -> MetricFamily {
    MetricFamily::builder(kind, name, help)
        .label_names(label_names)
        .build()
        .expect("static self-metric description is valid")
}

/// Reads a sender's queue at collection time: bytes and batches waiting.
type QueueReader = Box<dyn Fn() -> (u64, u64) + Send + Sync>;

/// Builds the families for one pipeline; `queue`, when given, is read instead of the stored
/// queue gauges.
fn families(
    stats: &Stats,
    backend: &str,
    queue: Option<&QueueReader>,
    out: &mut Vec<MetricFamily>,
) {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    let (queue_bytes, queue_batches) = match queue {
        Some(read) => {
            let (bytes, batches) = read();
            (bytes as f64, batches as f64)
        }
        None => (load(&stats.queue_bytes), load(&stats.queue_batches)),
    };
    let mut counter = |name: &str, help: &str, v: f64| {
        let mut f = family(MetricKind::Counter, name, help, &["backend"]);
        f.push_counter(&[backend], v).expect("one label");
        out.push(f);
    };
    counter(
        "aiplatform_push_samples_sent_total",
        "Samples the receiver accepted.",
        load(&stats.samples_sent),
    );
    counter(
        "aiplatform_push_batches_sent_total",
        "Requests (batches) the receiver accepted.",
        load(&stats.batches_sent),
    );
    counter(
        "aiplatform_push_sent_bytes_total",
        "Request body bytes (compressed) the receiver accepted.",
        load(&stats.bytes_sent),
    );
    counter(
        "aiplatform_push_retries_total",
        "Attempts made again after a retryable failure.",
        load(&stats.retries),
    );
    counter(
        "aiplatform_push_superseded_batches_total",
        "Queued batches replaced by a newer collection before they were sent (backends whose pushes replace the previous one, such as the Pushgateway); no data is lost.",
        load(&stats.superseded),
    );
    counter(
        "aiplatform_push_collections_total",
        "Collections of the registry made for this backend.",
        load(&stats.collections),
    );
    let mut failures = family(
        MetricKind::Counter,
        "aiplatform_push_failures_total",
        "Failed send attempts, by reason.",
        &["backend", "reason"],
    );
    for (i, reason) in FAILURES.iter().enumerate() {
        failures
            .push_counter(&[backend, reason], load(&stats.failures[i]))
            .expect("two labels");
    }
    out.push(failures);
    let mut dropped = family(
        MetricKind::Counter,
        "aiplatform_push_dropped_samples_total",
        "Samples that will never be delivered, by reason.",
        &["backend", "reason"],
    );
    for (i, reason) in DropReason::ALL.iter().enumerate() {
        dropped
            .push_counter(&[backend, reason.label()], load(&stats.dropped[i]))
            .expect("two labels");
    }
    out.push(dropped);
    let mut gauge = |name: &str, help: &str, v: f64| {
        let mut f = family(MetricKind::Gauge, name, help, &["backend"]);
        f.push_gauge(&[backend], v).expect("one label");
        out.push(f);
    };
    gauge(
        "aiplatform_push_queue_bytes",
        "Bytes of batches waiting to be sent (in memory, or on disk with a spool).",
        queue_bytes,
    );
    gauge(
        "aiplatform_push_queue_batches",
        "Batches waiting to be sent.",
        queue_batches,
    );
    gauge(
        "aiplatform_push_queue_limit_bytes",
        "The queue's bound: past it the oldest batches are dropped.",
        load(&stats.queue_max_bytes),
    );
    gauge(
        "aiplatform_push_last_success_timestamp_seconds",
        "When the receiver last accepted a batch (Unix time; 0 if never).",
        stats.last_success_ms.load(Ordering::Relaxed) as f64 / 1000.0,
    );
    let mut send = family(
        MetricKind::Histogram,
        "aiplatform_push_send_duration_seconds",
        "Duration of send attempts, successful or not.",
        &["backend"],
    );
    stats.send.push(&mut send, backend);
    out.push(send);
    let mut cycle = family(
        MetricKind::Histogram,
        "aiplatform_push_cycle_duration_seconds",
        "Duration of a push cycle: collecting the registry, computing deltas, encoding and compressing.",
        &["backend"],
    );
    stats.cycle.push(&mut cycle, backend);
    out.push(cycle);
}

/// Keeps one sender's `aiplatform_push_*{backend}` series in a registry: registered when
/// made, removed when dropped (so a stopped sender leaves no stale series behind).
#[derive(Debug)]
pub struct Exposed {
    registry: Registry,
    id: CollectorId,
}

impl Exposed {
    pub(crate) fn new(registry: &Registry, stats: Arc<Stats>, backend: &str) -> Exposed {
        Exposed::register(registry, stats, backend, None)
    }

    fn register(
        registry: &Registry,
        stats: Arc<Stats>,
        backend: &str,
        queue: Option<QueueReader>,
    ) -> Exposed {
        let backend = backend.to_owned();
        let id =
            registry.register_collector_without_namespace(move |out: &mut Vec<MetricFamily>| {
                families(&stats, &backend, queue.as_ref(), out)
            });
        Exposed {
            registry: registry.clone(),
            id,
        }
    }
}

/// The self-metrics of a sender that batches and sends on its own rather than on a
/// [`Pipeline`](crate::Pipeline) (the OTLP span exporter): it counts into the same
/// `aiplatform_push_*` families under its own `backend` label, so one scrape shows the health
/// of every exporter, and the same dashboards and alerts cover it.
///
/// Clones share the counters. Nothing appears in a registry until [`SenderStats::expose`]
/// (or [`SenderStats::expose_with_queue`]); the counters work without it.
///
/// ```
/// use std::time::Duration;
/// use aiplatform_metrics::{ExpositionFormat, Registry};
/// use aiplatform_push::{DropReason, Failure, SenderStats};
///
/// let registry = Registry::new();
/// let stats = SenderStats::new();
/// let _exposed = stats.expose(&registry, "my_sender");
/// stats.failed(Failure::Status(503), Duration::from_millis(4));
/// stats.retried();
/// stats.sent(10, 300, Duration::from_millis(2));
/// stats.dropped(DropReason::QueueFull, 3);
/// let text = String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap();
/// assert!(text.contains(r#"aiplatform_push_samples_sent_total{backend="my_sender"} 10"#));
/// assert!(text.contains(
///     r#"aiplatform_push_failures_total{backend="my_sender",reason="http_5xx"} 1"#
/// ));
/// assert_eq!(stats.dropped_samples(DropReason::QueueFull), 3);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SenderStats {
    stats: Arc<Stats>,
}

impl SenderStats {
    /// Counters at zero, not yet in any registry.
    pub fn new() -> SenderStats {
        SenderStats::default()
    }

    /// Exposes the counters in `registry` under `backend` until the returned value is dropped.
    /// The queue gauges read 0 and `aiplatform_push_queue_limit_bytes` 0 (use
    /// [`SenderStats::expose_with_queue`] for a sender with a queue).
    pub fn expose(&self, registry: &Registry, backend: &str) -> Exposed {
        Exposed::register(registry, self.stats.clone(), backend, None)
    }

    /// Like [`SenderStats::expose`], with `queue` read at every collection for
    /// `aiplatform_push_queue_bytes` and `aiplatform_push_queue_batches` (bytes and batches
    /// waiting), so the gauges are current without the sender updating them as it queues.
    pub fn expose_with_queue(
        &self,
        registry: &Registry,
        backend: &str,
        queue: impl Fn() -> (u64, u64) + Send + Sync + 'static,
    ) -> Exposed {
        Exposed::register(registry, self.stats.clone(), backend, Some(Box::new(queue)))
    }

    /// The receiver accepted `samples` in one request of `bytes` (the body as sent), after an
    /// attempt that took `took`; also sets the last success time.
    pub fn sent(&self, samples: u64, bytes: u64, took: Duration) {
        self.stats.sent(samples, bytes, took);
    }

    /// One attempt failed, for `failure`, after `took`.
    pub fn failed(&self, failure: Failure, took: Duration) {
        self.stats.failed(failure, took);
    }

    /// An attempt is made again after a retryable failure.
    pub fn retried(&self) {
        self.stats.retried();
    }

    /// `samples` will never be delivered, for `reason`.
    pub fn dropped(&self, reason: DropReason, samples: u64) {
        self.stats.dropped(reason, samples);
    }

    /// Samples the receiver accepted so far.
    pub fn samples_sent(&self) -> u64 {
        self.stats.samples_sent()
    }

    /// Samples dropped so far for `reason`.
    pub fn dropped_samples(&self, reason: DropReason) -> u64 {
        self.stats.dropped[reason.index()].load(Ordering::Relaxed)
    }

    /// Samples dropped so far, whatever the reason.
    pub fn dropped_total(&self) -> u64 {
        self.stats.dropped_total()
    }
}

impl Drop for Exposed {
    fn drop(&mut self) {
        self.registry.unregister_collector(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_pipelines_share_families() {
        let registry = Registry::new();
        let a = Arc::new(Stats::default());
        let b = Arc::new(Stats::default());
        a.sent(10, 100, Duration::from_millis(3));
        b.dropped(DropReason::QueueFull, 7);
        let _ea = Exposed::new(&registry, a, "remote_write");
        let _eb = Exposed::new(&registry, b, "pushgateway");
        let text =
            String::from_utf8(registry.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap();
        assert!(
            text.contains("aiplatform_push_samples_sent_total{backend=\"remote_write\"} 10"),
            "{text}"
        );
        assert!(text.contains("aiplatform_push_samples_sent_total{backend=\"pushgateway\"} 0"));
        assert!(text.contains(
            "aiplatform_push_dropped_samples_total{backend=\"pushgateway\",reason=\"queue_full\"} 7"
        ));
        assert!(
            text.contains(
                "aiplatform_push_send_duration_seconds_count{backend=\"remote_write\"} 1"
            )
        );
        assert!(
            !text.contains("aiplatform_metrics_collect_dropped"),
            "no clash: {text}"
        );
    }

    #[test]
    fn a_sender_outside_a_pipeline_counts_into_the_same_families() {
        let registry = Registry::new();
        let _pipeline = Exposed::new(&registry, Arc::new(Stats::default()), "otlp");
        let sender = SenderStats::new();
        let queued = Arc::new(AtomicU64::new(0));
        let q = queued.clone();
        let exposed = sender
            .clone()
            .expose_with_queue(&registry, "spans", move || (q.load(Ordering::Relaxed), 2));
        sender.failed(Failure::Connect, Duration::from_millis(1));
        sender.retried();
        sender.sent(5, 120, Duration::from_millis(2));
        sender.dropped(DropReason::Rejected, 2);
        queued.store(4096, Ordering::Relaxed);
        let text =
            String::from_utf8(registry.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap();
        for line in [
            "aiplatform_push_samples_sent_total{backend=\"spans\"} 5",
            "aiplatform_push_samples_sent_total{backend=\"otlp\"} 0",
            "aiplatform_push_batches_sent_total{backend=\"spans\"} 1",
            "aiplatform_push_sent_bytes_total{backend=\"spans\"} 120",
            "aiplatform_push_failures_total{backend=\"spans\",reason=\"connect\"} 1",
            "aiplatform_push_retries_total{backend=\"spans\"} 1",
            "aiplatform_push_dropped_samples_total{backend=\"spans\",reason=\"rejected\"} 2",
            "aiplatform_push_queue_bytes{backend=\"spans\"} 4096",
            "aiplatform_push_queue_batches{backend=\"spans\"} 2",
            "aiplatform_push_send_duration_seconds_count{backend=\"spans\"} 2",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(
            !text.contains("aiplatform_push_last_success_timestamp_seconds{backend=\"spans\"} 0\n")
        );
        assert_eq!(sender.samples_sent(), 5);
        assert_eq!(sender.dropped_samples(DropReason::Rejected), 2);
        assert_eq!(sender.dropped_total(), 2);
        drop(exposed);
        let text =
            String::from_utf8(registry.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap();
        assert!(!text.contains("backend=\"spans\""), "{text}");
        assert!(text.contains("backend=\"otlp\""));
    }

    #[test]
    fn unregisters_on_drop() {
        let registry = Registry::new();
        let e = Exposed::new(&registry, Arc::new(Stats::default()), "x");
        assert!(
            registry
                .collect()
                .family("aiplatform_push_retries")
                .is_some()
        );
        drop(e);
        assert!(
            registry
                .collect()
                .family("aiplatform_push_retries")
                .is_none()
        );
    }
}
