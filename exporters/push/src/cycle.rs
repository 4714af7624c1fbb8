//! One push cycle, without sending: collect, compute points, encode, seal batches.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aiplatform_metrics::{Registry, Snapshot};

use crate::batch::{Batch, Batcher, Encoder, Framing};
use crate::compress::Compression;
use crate::temporality::{Temporality, Tracker};

/// What a pipeline does every interval, runnable on its own: collect the registry into a
/// reused snapshot, compute cumulative or delta points, let the encoder write records, pack
/// them into compressed batches. Once warm it allocates per batch, never per series.
///
/// ```
/// use std::time::SystemTime;
/// use aiplatform_metrics::Registry;
/// use aiplatform_push::{Compression, Cycle, Temporality};
/// # use std::sync::Arc;
/// # use aiplatform_push::{Collection, Concatenated, Encoder, Framing, RecordWriter};
/// # struct Counting;
/// # impl Encoder for Counting {
/// #     fn encode(&mut self, c: &Collection<'_>, out: &mut RecordWriter<'_>) {
/// #         for f in c.families() { for _ in f.points() { out.begin().push(b'.'); out.finish(1, 1); } }
/// #     }
/// #     fn framing(&self) -> Arc<dyn Framing> { Arc::new(Concatenated) }
/// # }
///
/// let registry = Registry::builder().without_self_metrics().build().unwrap();
/// let family = registry.counter_family("jobs_total", "Jobs.", &["queue"]).unwrap();
/// for i in 0..10 {
///     family.with(&[i.to_string()]).inc();
/// }
/// let mut cycle = Cycle::new(&registry, Counting, Temporality::Delta, SystemTime::now())
///     .compression(Compression::Gzip)
///     .limits(1 << 20, 4);
/// let mut batches = Vec::new();
/// cycle.run(&mut |b| batches.push(b));
/// assert_eq!(batches.iter().map(|b| b.series()).collect::<Vec<_>>(), [4, 4, 2]);
/// ```
pub struct Cycle<E> {
    registry: Registry,
    snapshot: Snapshot,
    tracker: Tracker,
    encoder: E,
    framing: Arc<dyn Framing>,
    batcher: Batcher,
    collection: u64,
}

impl<E> std::fmt::Debug for Cycle<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cycle")
            .field("tracker", &self.tracker)
            .field("batcher", &self.batcher)
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

impl<E: Encoder> Cycle<E> {
    /// A cycle over `registry` with `encoder`; series present at the first collection are
    /// taken to have started at `start`. No compression, 1 MiB or 2000 series per batch.
    pub fn new(
        registry: &Registry,
        encoder: E,
        temporality: Temporality,
        start: SystemTime,
    ) -> Self {
        let framing = encoder.framing();
        Cycle {
            registry: registry.clone(),
            snapshot: Snapshot::new(),
            tracker: Tracker::new(temporality, start),
            batcher: Batcher::new(framing.clone(), Compression::None, 1024 * 1024, 2000),
            framing,
            encoder,
            collection: 0,
        }
    }

    /// Compresses batches with `c`.
    pub fn compression(mut self, c: Compression) -> Self {
        self.batcher = Batcher::new(
            self.framing.clone(),
            c,
            self.batcher.max_bytes(),
            self.batcher.max_series(),
        );
        self
    }

    /// At most `bytes` of records and `series` series per batch.
    pub fn limits(mut self, bytes: usize, series: u64) -> Self {
        self.batcher = Batcher::new(
            self.framing.clone(),
            self.batcher.compression(),
            bytes,
            series,
        );
        self
    }

    /// The framing of the encoder's bodies (to cut a batch in two).
    pub fn framing(&self) -> &Arc<dyn Framing> {
        &self.framing
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// Collections made so far.
    pub fn collections(&self) -> u64 {
        self.collection
    }

    /// One cycle: every sealed batch goes to `sink`, in order.
    pub fn run(&mut self, sink: &mut dyn FnMut(Batch)) {
        self.run_at(SystemTime::now(), sink);
    }

    /// One cycle with its collection time given (tests, replays).
    pub fn run_at(&mut self, now: SystemTime, sink: &mut dyn FnMut(Batch)) {
        self.registry.collect_into(&mut self.snapshot);
        let collection = self.tracker.update(&self.snapshot, now);
        self.collection += 1;
        self.batcher.start_collection(self.collection);
        let mut writer = self.batcher.writer(sink);
        self.encoder.encode(&collection, &mut writer);
        writer.flush();
    }

    /// Like [`Cycle::run`], returning how long it took.
    pub fn run_timed(&mut self, sink: &mut dyn FnMut(Batch)) -> std::time::Duration {
        let t = Instant::now();
        self.run(sink);
        t.elapsed()
    }
}
