//! Gauges: values that go up and down.

use crate::sync::{AtomicU64, Ordering};

use crate::cell::{Access, add_f64};
use crate::desc::MetricKind;
use crate::metric::{Metric, sealed::MetricImpl};
use crate::series::{Handle, Series, Storage};
use crate::snapshot::{MetricFamily, Point};

#[doc(hidden)]
#[derive(Debug)]
pub struct GaugeStorage;

impl Storage for GaugeStorage {
    type Header = ();
    /// The value's `f64` bits.
    type Hot = AtomicU64;
    type Config = ();

    fn build(_: &()) -> ((), AtomicU64) {
        ((), AtomicU64::new(0f64.to_bits()))
    }
}

/// A value that goes up and down (queue depth, temperature, in-flight requests).
///
/// `set` is a single store. `inc`, `dec`, `add` and `sub` are compare-and-swap loops, since a
/// gauge's value must be one value that every thread agrees on.
///
/// ```
/// use aiplatform_metrics::Registry;
///
/// let registry = Registry::new();
/// let depth = registry.gauge("queue_depth", "Jobs waiting.").unwrap();
/// depth.set(10.0);
/// depth.dec();
/// depth.add(0.5);
/// assert_eq!(depth.get(), 9.5);
/// ```
#[derive(Clone)]
#[must_use = "a gauge handle does nothing unless set"]
pub struct Gauge {
    series: Handle<GaugeStorage>,
}

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.series.hot.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: f64) {
        add_f64(&self.series.hot, v, Access::Shared);
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        self.add(-v);
    }

    /// Adds 1.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts 1.
    #[inline]
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// Sets the value to now, in seconds since the Unix epoch.
    pub fn set_to_current_time(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.set(now);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.series.hot.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gauge")
            .field("labels", &self.series.labels)
            .field("value", &self.get())
            .finish()
    }
}

impl Metric for Gauge {}

crate::metric::unwind_safe!(Gauge);

impl MetricImpl for Gauge {
    type Storage = GaugeStorage;
    const KIND: MetricKind = MetricKind::Gauge;

    fn from_handle(series: Handle<GaugeStorage>) -> Self {
        Gauge { series }
    }

    fn series_ptr(&self) -> *const Series<GaugeStorage> {
        self.series.as_ptr()
    }

    fn read(series: &Series<GaugeStorage>, out: &mut MetricFamily) -> u64 {
        let bits = series.hot.load(Ordering::Relaxed);
        out.points.push(Point::scalar(0, f64::from_bits(bits)));
        bits
    }
}
