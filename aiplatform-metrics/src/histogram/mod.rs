//! Classic histograms: observations counted into fixed buckets.

pub(crate) mod buckets;
pub(crate) mod shard;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::cell::PerThread;
use crate::desc::MetricKind;
use crate::metric::{Metric, sealed::MetricImpl};
use crate::series::{Handle, Series, Storage};
use crate::snapshot::{MetricFamily, Point};
use crate::thread_slot;
use buckets::BucketIndex;
use shard::{Reader, Shard, Totals};

#[doc(hidden)]
#[derive(Debug)]
pub struct HistogramStorage;

#[doc(hidden)]
#[derive(Debug)]
pub struct HistogramHeader {
    cells: PerThread<Shard>,
    index: BucketIndex,
    /// The one reader's state; only collections touch it.
    reader: Box<Mutex<Reader>>,
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
    type Hot = Shard;
    type Config = HistogramConfig;

    fn build(config: &HistogramConfig) -> (HistogramHeader, Shard) {
        let buckets = config.index.buckets();
        let header = HistogramHeader {
            cells: PerThread::new(),
            index: config.index.clone(),
            reader: Box::new(Mutex::new(Reader::new(buckets))),
        };
        (header, Shard::new(buckets))
    }

    fn bounds(config: &HistogramConfig) -> Option<Arc<[f64]>> {
        Some(config.bounds.clone())
    }
}

/// Counts observations (latencies, sizes) into buckets, with their count and sum.
///
/// An observation finds its bucket without branching (or by binary search past 32 bounds),
/// then makes a few plain loads and stores on a cache line owned by the calling thread (no
/// read-modify-write). Every collection sees whole observations: the count always equals the
/// sum of the buckets, and the sum covers exactly the same observations.
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
        let bucket = s.header.index.find(v);
        let buckets = s.header.index.buckets();
        s.header.cells.update(
            &s.hot,
            thread_slot::current(),
            || Shard::new(buckets),
            |shard, access| shard.observe_many(bucket, v, n, access),
        );
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
        self.totals().count
    }

    /// Sum of the observations so far.
    pub fn sum(&self) -> f64 {
        self.totals().sum
    }

    fn totals(&self) -> Totals {
        totals(&self.series)
    }
}

fn totals(s: &Series<HistogramStorage>) -> Totals {
    let mut reader = s.header.reader.lock();
    reader
        .read(|visit| s.header.cells.for_each(&s.hot, visit))
        .clone()
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
        let mut reader = series.header.reader.lock();
        let totals = reader.read(|visit| series.header.cells.for_each(&series.hot, visit));
        out.points.push(Point {
            a: totals.count,
            b: totals.sum,
            start: out.counts.len() as u32,
            fstart: u32::MAX,
            len: totals.buckets.len() as u32,
            ts: i64::MIN,
        });
        out.counts.extend_from_slice(&totals.buckets);
        totals.count ^ totals.sum.to_bits().rotate_left(32)
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
