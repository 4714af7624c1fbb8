//! Counters: monotonically increasing totals.

use crate::cell::{self, Access, PerThread, Place, add_exclusive, add_f64};
use crate::desc::MetricKind;
use crate::metric::{Metric, sealed::MetricImpl};
use crate::series::{Handle, Series, Storage};
use crate::snapshot::{MetricFamily, Point};
use crate::sync::{AtomicU64, Ordering};
use crate::thread_slot;

#[doc(hidden)]
#[derive(Debug)]
pub struct CounterStorage;

/// A counter's hot line: the home cell (written by its owner with plain stores) and the shared
/// cell (read-modify-write, for every other thread without a cell of its own), each with an
/// integer part and a float part. Own cells, in arenas, have the integer part only: fractional
/// increments from their threads go to the shared float.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct CounterCells {
    home_int: AtomicU64,
    home_float: AtomicU64,
    shared_int: AtomicU64,
    shared_float: AtomicU64,
}

impl Storage for CounterStorage {
    type Header = PerThread<AtomicU64>;
    type Hot = CounterCells;
    type Config = ();

    fn build(_: &()) -> (Self::Header, Self::Hot) {
        (PerThread::new(), CounterCells::default())
    }
}

/// A monotonically increasing total (requests served, bytes sent, errors seen).
///
/// Cloning is cheap (one reference count) and every clone updates the same series. An
/// increment from the thread that first wrote the series is a plain load and store on a cache
/// line of its own. A thread that keeps incrementing a series it does not own gets an 8-byte
/// cell of its own after a few increments, so threads sharing a hot counter never contend;
/// threads that only touch it now and then add to a shared cell with an atomic add. Integer
/// increments stay exact; fractional ones are summed apart.
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
        match s
            .header
            .locate(thread_slot::current(), |slot| cell::words(slot, 1))
        {
            Place::Home => add_exclusive(&s.hot.home_int, v),
            // SAFETY: own cells live as long as the series, which this handle keeps alive.
            Place::Own(c) => add_exclusive(unsafe { c.as_ref() }, v),
            Place::Shared => {
                s.hot.shared_int.fetch_add(v, Ordering::Relaxed);
            }
        }
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
        match s
            .header
            .locate(thread_slot::current(), |slot| cell::words(slot, 1))
        {
            Place::Home => add_f64(&s.hot.home_float, v, Access::Exclusive),
            Place::Own(_) | Place::Shared => add_f64(&s.hot.shared_float, v, Access::Shared),
        }
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        let (int, float) = total(&self.series);
        int as f64 + float
    }
}

/// The integer and float parts over every cell: home, shared and own.
fn total(s: &Series<CounterStorage>) -> (u64, f64) {
    let cells = &s.hot;
    let mut int = cells
        .home_int
        .load(Ordering::Relaxed)
        .wrapping_add(cells.shared_int.load(Ordering::Relaxed));
    s.header.for_each_own(|_, c| {
        // SAFETY: as in `inc_by`; the caller holds a reference to the series.
        int = int.wrapping_add(unsafe { c.as_ref() }.load(Ordering::Relaxed));
    });
    let float = f64::from_bits(cells.home_float.load(Ordering::Relaxed))
        + f64::from_bits(cells.shared_float.load(Ordering::Relaxed));
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
