//! The metric types a family can hold.

use crate::desc::MetricKind;
use crate::series::{Handle, Series, Storage};
use crate::snapshot::MetricFamily;

/// A metric type that families and registries hold: [`Counter`](crate::Counter),
/// [`Gauge`](crate::Gauge) or [`Histogram`](crate::Histogram). Sealed.
///
/// ```
/// use aiplatform_metrics::{Family, Metric, Registry};
///
/// fn series_count<M: Metric>(family: &Family<M>) -> usize {
///     family.len()
/// }
/// let f = Registry::new().gauge_family("temp", "T.", &["room"]).unwrap();
/// f.with(&["a"]).set(1.0);
/// assert_eq!(series_count(&f), 1);
/// ```
pub trait Metric: sealed::MetricImpl + Clone + Send + Sync + std::fmt::Debug + 'static {}

pub(crate) mod sealed {
    use super::*;

    /// How a metric type plugs into families; not part of the public API.
    pub trait MetricImpl: Sized {
        type Storage: Storage;
        const KIND: MetricKind;

        fn from_handle(handle: Handle<Self::Storage>) -> Self;

        /// The series the handle points at (identity only).
        fn series_ptr(&self) -> *const Series<Self::Storage>;

        /// Appends the series' current value to `out` and returns a fingerprint of it (equal
        /// fingerprints across collections mean the series was not updated).
        fn read(series: &Series<Self::Storage>, out: &mut MetricFamily) -> u64;
    }
}

/// Declares the types whose shared state stays consistent across a panic (no lock is held
/// while user code runs, and reader sections close on unwind), so they can be used from
/// `catch_unwind` closures like their std equivalents.
macro_rules! unwind_safe {
    ($($t:ty),* $(,)?) => {
        $(
            impl std::panic::UnwindSafe for $t {}
            impl std::panic::RefUnwindSafe for $t {}
        )*
    };
}
pub(crate) use unwind_safe;
