//! Classic histograms: observations counted into fixed buckets.

pub(crate) mod buckets;
pub(crate) mod shard;

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cell::{self, PerThread, Place};
use crate::desc::MetricKind;
use crate::metric::{Metric, sealed::MetricImpl};
use crate::series::{Handle, Series, Storage};
use crate::snapshot::{MetricFamily, Point};
use crate::sync::AtomicU64;
use crate::thread_slot;
use buckets::BucketIndex;
use shard::{Acc, Running, Shared, running_words, shared_words};

#[doc(hidden)]
#[derive(Debug)]
pub struct HistogramStorage;

/// Words of running totals that fit on the series' hot line: 11 bounds (the default) or fewer.
const INLINE_WORDS: usize = 16;

#[doc(hidden)]
#[derive(Debug)]
pub struct HistogramHeader {
    cells: PerThread<AtomicU64>,
    index: BucketIndex,
    /// The shared part ([`shared_words`]), then the home running totals when they do not fit
    /// on the hot line.
    block: NonNull<AtomicU64>,
}

/// The series' hot line: the home cell's running totals, when they fit.
#[doc(hidden)]
#[derive(Debug)]
pub struct HistogramHot([AtomicU64; INLINE_WORDS]);

// SAFETY: `block` is owned memory of atomics, reached only through shared references.
unsafe impl Send for HistogramHeader {}
// SAFETY: as above.
unsafe impl Sync for HistogramHeader {}

impl HistogramHeader {
    fn new(index: BucketIndex) -> Self {
        let len = block_words(index.buckets());
        let block: Box<[AtomicU64]> = (0..len).map(|_| AtomicU64::new(0)).collect();
        HistogramHeader {
            cells: PerThread::new(),
            index,
            block: NonNull::new(Box::into_raw(block).cast::<AtomicU64>())
                .expect("boxes are not null"),
        }
    }

    #[inline(always)]
    fn block(&self) -> &[AtomicU64] {
        // SAFETY: `block` holds `block_words(buckets)` words until `self` is dropped.
        unsafe {
            std::slice::from_raw_parts(self.block.as_ptr(), block_words(self.index.buckets()))
        }
    }

    /// The part every thread without a cell of its own writes.
    #[inline(always)]
    fn shared(&self) -> Shared<'_> {
        let buckets = self.index.buckets();
        Shared::new(&self.block()[..shared_words(buckets)], buckets)
    }

    /// The home cell's running totals (`buckets` is `self.index.buckets()`, which the caller
    /// has at hand).
    #[inline(always)]
    fn home<'a>(&'a self, hot: &'a HistogramHot, buckets: usize) -> Running<'a> {
        debug_assert_eq!(buckets, self.index.buckets());
        let words = running_words(buckets);
        if words <= INLINE_WORDS {
            Running::new(&hot.0[..words])
        } else {
            Running::new(&self.block()[shared_words(buckets)..])
        }
    }
}

impl Drop for HistogramHeader {
    fn drop(&mut self) {
        let len = block_words(self.index.buckets());
        let block = std::ptr::slice_from_raw_parts_mut(self.block.as_ptr(), len);
        // SAFETY: `block` came from a boxed slice of `len` words in `new`.
        drop(unsafe { Box::from_raw(block) });
    }
}

/// Words of a series' out-of-line block.
fn block_words(buckets: usize) -> usize {
    let home = running_words(buckets);
    shared_words(buckets) + if home <= INLINE_WORDS { 0 } else { home }
}

/// What every series of a histogram family shares: its bounds, twice (as given, for
/// snapshots; padded, for the search).
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct HistogramConfig {
    bounds: Arc<[f64]>,
    index: BucketIndex,
}

impl HistogramConfig {
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        let index = BucketIndex::new(&bounds);
        HistogramConfig { bounds, index }
    }
}

impl Storage for HistogramStorage {
    type Header = HistogramHeader;
    type Hot = HistogramHot;
    type Config = HistogramConfig;

    fn build(config: &HistogramConfig) -> (HistogramHeader, HistogramHot) {
        (
            HistogramHeader::new(config.index.clone()),
            HistogramHot(std::array::from_fn(|_| AtomicU64::new(0))),
        )
    }

    fn bounds(config: &HistogramConfig) -> Option<Arc<[f64]>> {
        Some(config.bounds.clone())
    }
}

/// Counts observations (latencies, sizes) into buckets, with their count and sum.
///
/// An observation finds its bucket without branching (or by binary search past 32 bounds),
/// then, from the thread that first wrote the series or one that keeps writing it, makes a few
/// plain loads and stores on cache lines only that thread writes (no read-modify-write).
/// Threads that write the series now and then use atomic adds on a shared part instead. Every
/// collection sees whole observations: the count always equals the sum of the buckets, and the
/// sum covers exactly the same observations.
///
/// ```
/// use aiplatform_metrics::{Buckets, Registry};
///
/// let registry = Registry::new();
/// let latency = registry
///     .histogram("db_query_seconds", "Query latency.", Buckets::default())
///     .unwrap();
/// latency.observe(0.012);
/// latency.observe(0.3);
/// assert_eq!(latency.count(), 2);
/// assert!((latency.sum() - 0.312).abs() < 1e-12);
/// ```
#[derive(Clone)]
#[must_use = "a histogram handle does nothing unless observed"]
pub struct Histogram {
    series: Handle<HistogramStorage>,
}

impl Histogram {
    /// Records one observation. NaN is ignored: it belongs in no bucket and would make the sum
    /// NaN for good.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.observe_many(v, 1);
    }

    /// Records `n` observations of the same value at once (a reader sees all or none).
    ///
    /// ```
    /// # use aiplatform_metrics::{Buckets, Registry};
    /// # let registry = Registry::new();
    /// let h = registry.histogram("batch_seconds", "Batch time.", Buckets::default()).unwrap();
    /// h.observe_many(0.5, 4);
    /// assert_eq!((h.count(), h.sum()), (4, 2.0));
    /// ```
    #[inline]
    pub fn observe_many(&self, v: f64, n: u64) {
        if n == 0 || v.is_nan() {
            return;
        }
        let s = &*self.series;
        let h = &s.header;
        let bucket = h.index.find(v);
        let buckets = h.index.buckets();
        let added = if n == 1 { v } else { v * n as f64 };
        let running = match h.cells.locate(thread_slot::current(), |slot| {
            cell::words(slot, running_words(buckets))
        }) {
            Place::Home => h.home(&s.hot, buckets),
            // SAFETY: own cells are `running_words(buckets)` words that live as long as the
            // series, which this handle keeps alive.
            Place::Own(c) => unsafe { Running::from_raw(c.as_ptr(), buckets) },
            Place::Shared => return h.shared().observe(bucket, added, n),
        };
        if !running.observe(bucket, added, n) {
            // A collection asked this cell's writer to step aside for a moment.
            h.shared().observe(bucket, added, n);
        }
    }

    /// Records a duration, in seconds.
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Starts a timer that records the elapsed seconds when dropped (or on
    /// [`HistogramTimer::observe`]).
    ///
    /// ```
    /// # use aiplatform_metrics::{Buckets, Registry};
    /// # let registry = Registry::new();
    /// let h = registry.histogram("step_seconds", "Step time.", Buckets::default()).unwrap();
    /// {
    ///     let _timer = h.start_timer();
    ///     // ... the timed work ...
    /// }
    /// assert_eq!(h.count(), 1);
    /// ```
    pub fn start_timer(&self) -> HistogramTimer {
        HistogramTimer {
            histogram: self.clone(),
            start: Instant::now(),
            done: false,
        }
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        read_totals(&self.series, &mut Vec::new()).0
    }

    /// Sum of the observations so far.
    pub fn sum(&self) -> f64 {
        read_totals(&self.series, &mut Vec::new()).1
    }
}

/// Appends the series' per-bucket counts to `counts` and returns its count and sum, all from
/// one consistent read: the home cell, the own cells, then the shared part.
fn read_totals(s: &Series<HistogramStorage>, counts: &mut Vec<u64>) -> (u64, f64) {
    let h = &s.header;
    let buckets = h.index.buckets();
    let shared = h.shared();
    let lock = shared.lock();
    let start = counts.len();
    counts.resize(start + 2 * buckets, 0);
    let (view, copy) = counts[start..].split_at_mut(buckets);
    let mut acc = Acc {
        count: 0,
        sum: 0.0,
        buckets: view,
    };
    h.home(&s.hot, buckets).read_into(&mut acc, copy);
    h.cells.for_each_own(|_, c| {
        // SAFETY: as in `observe_many`.
        unsafe { Running::from_raw(c.as_ptr(), buckets) }.read_into(&mut acc, copy)
    });
    shared.read_into(&lock, &mut acc, copy);
    let totals = (acc.count, acc.sum);
    counts.truncate(start + buckets);
    totals
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("labels", &self.series.labels)
            .field("bounds", &self.series.header.index.bounds())
            .finish_non_exhaustive()
    }
}

impl Metric for Histogram {}

crate::metric::unwind_safe!(Histogram);

impl MetricImpl for Histogram {
    type Storage = HistogramStorage;
    const KIND: MetricKind = MetricKind::Histogram;

    fn from_handle(series: Handle<HistogramStorage>) -> Self {
        Histogram { series }
    }

    fn series_ptr(&self) -> *const Series<HistogramStorage> {
        self.series.as_ptr()
    }

    fn read(series: &Series<HistogramStorage>, out: &mut MetricFamily) -> u64 {
        let start = out.counts.len();
        let (count, sum) = read_totals(series, &mut out.counts);
        out.points.push(Point {
            a: count,
            b: sum,
            start: start as u32,
            fstart: u32::MAX,
            len: (out.counts.len() - start) as u32,
            ts: i64::MIN,
        });
        count ^ sum.to_bits().rotate_left(32)
    }
}

/// Records the time since [`Histogram::start_timer`] when dropped.
#[derive(Debug)]
#[must_use = "the timer records when dropped; dropping it at once records ~0"]
pub struct HistogramTimer {
    histogram: Histogram,
    start: Instant,
    done: bool,
}

impl HistogramTimer {
    /// Records now and returns the elapsed seconds.
    pub fn observe(mut self) -> f64 {
        self.record()
    }

    /// Drops the timer without recording.
    pub fn discard(mut self) {
        self.done = true;
    }

    fn record(&mut self) -> f64 {
        let secs = self.start.elapsed().as_secs_f64();
        if !self.done {
            self.histogram.observe(secs);
            self.done = true;
        }
        secs
    }
}

impl Drop for HistogramTimer {
    fn drop(&mut self) {
        self.record();
    }
}
