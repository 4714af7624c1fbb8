//! Counters: monotonically increasing totals.

use crate::cell::{CounterCell, PerThread};
use crate::desc::MetricKind;
use crate::metric::{Metric, sealed::MetricImpl};
use crate::series::{Handle, Series, Storage};
use crate::snapshot::{MetricFamily, Point};
use crate::thread_slot;

#[doc(hidden)]
#[derive(Debug)]
pub struct CounterStorage;

impl Storage for CounterStorage {
    type Header = PerThread<CounterCell>;
    type Hot = CounterCell;
    type Config = ();

    fn build(_: &()) -> (Self::Header, Self::Hot) {
        (PerThread::new(), CounterCell::default())
    }
}

/// A monotonically increasing total (requests served, bytes sent, errors seen).
///
/// Cloning is cheap (one reference count) and every clone updates the same series. An
/// increment from the thread that first wrote the series is a plain load and store on a cache
/// line of its own; other threads get lines of their own on first use, so threads sharing a
/// counter never contend. Integer increments stay exact; fractional ones are summed apart.
///
/// ```
/// use aiplatform_metrics::Registry;
///
/// let registry = Registry::new();
/// let bytes = registry.counter("sent_bytes_total", "Bytes sent.").unwrap();
/// bytes.inc_by(512);
/// bytes.inc();
/// assert_eq!(bytes.get(), 513.0);
/// ```
#[derive(Clone)]
#[must_use = "a counter handle does nothing unless incremented"]
pub struct Counter {
    series: Handle<CounterStorage>,
}

impl Counter {
    /// Adds 1.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `v`.
    #[inline]
    pub fn inc_by(&self, v: u64) {
        let s = &*self.series;
        s.header.update(
            &s.hot,
            thread_slot::current(),
            CounterCell::default,
            |c, a| c.add(v, a),
        );
    }

    /// Adds a fractional amount (CPU seconds, say). Negative and NaN increments are ignored:
    /// a counter never goes down. Whole numbers take the exact integer path.
    #[inline]
    pub fn inc_by_f64(&self, v: f64) {
        if v.is_nan() || v <= 0.0 {
            return;
        }
        let int = v as u64;
        if int as f64 == v && int < u64::MAX {
            self.inc_by(int);
            return;
        }
        let s = &*self.series;
        s.header.update(
            &s.hot,
            thread_slot::current(),
            CounterCell::default,
            |c, a| c.add_f64(v, a),
        );
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        let (int, float) = total(&self.series);
        int as f64 + float
    }
}

fn total(s: &Series<CounterStorage>) -> (u64, f64) {
    let (mut int, mut float) = (0u64, 0.0);
    s.header.for_each(&s.hot, |c| {
        let (i, f) = c.read();
        int = int.wrapping_add(i);
        float += f;
    });
    (int, float)
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("labels", &self.series.labels)
            .field("value", &self.get())
            .finish()
    }
}

impl Metric for Counter {}

crate::metric::unwind_safe!(Counter);

impl MetricImpl for Counter {
    type Storage = CounterStorage;
    const KIND: MetricKind = MetricKind::Counter;

    fn from_handle(series: Handle<CounterStorage>) -> Self {
        Counter { series }
    }

    fn series_ptr(&self) -> *const Series<CounterStorage> {
        self.series.as_ptr()
    }

    fn read(series: &Series<CounterStorage>, out: &mut MetricFamily) -> u64 {
        let (int, float) = total(series);
        out.points.push(Point::scalar(int, float));
        int ^ float.to_bits().rotate_left(32)
    }
}
