//! One series: its label values, bookkeeping, and the storage of one metric type.
//!
//! The layout is chosen for the hot path: everything read-mostly (reference count, hash,
//! labels, ownership record) fills the first 128 bytes; the cells the owning thread writes
//! start on the next cache line, which nothing read-mostly shares. A counter series is 192
//! bytes in one allocation: two lines of bookkeeping and one line holding its home and shared
//! cells.
//!
//! The reference count has two parts. User handles (`Counter`, `Gauge`, `Histogram`) count in
//! the low bits; the index and member lists ("structural" holders) count in the high bits. Both
//! keep the memory alive, but only handles mean "someone may still write through this", which is
//! what expiry needs to know.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::labels::LabelSet;

/// Storage of one metric type.
pub trait Storage: Send + Sync + Sized + 'static {
    /// Read-mostly part, on the series' first line.
    type Header: Send + Sync;
    /// The cells the owning thread (and the shared writers) write, from a line of their own.
    type Hot: Send + Sync;
    /// Settings shared by every series of a family (histogram bounds).
    type Config: Clone + Send + Sync + std::fmt::Debug + 'static;

    fn build(config: &Self::Config) -> (Self::Header, Self::Hot);

    /// Bucket bounds shared by every series of the family, for histograms.
    fn bounds(_config: &Self::Config) -> Option<std::sync::Arc<[f64]>> {
        None
    }
}

const HANDLE: usize = 1;
const STRUCTURAL: usize = 1 << 40;
const HANDLE_MASK: usize = STRUCTURAL - 1;
/// Counts past this abort, as `Arc` does, rather than risk a use-after-free on overflow.
const MAX_REFS: usize = usize::MAX / 2;

#[repr(C)]
pub struct Series<S: Storage> {
    refs: AtomicUsize,
    pub(crate) hash: u64,
    pub(crate) labels: LabelSet,
    /// Set when the series leaves its family's index (removal or expiry).
    pub(crate) unlinked: AtomicBool,
    /// Fingerprint of the value at the last collection, and when it last changed (ms on the
    /// family's clock); written only by collections, which the family serialises.
    pub(crate) seen: AtomicU64,
    pub(crate) changed_at: AtomicU64,
    pub(crate) header: S::Header,
    pub(crate) hot: LineAligned<S::Hot>,
}

/// Starts `T` on a cache line of its own, away from the read-mostly bookkeeping that lookups
/// and writers of other cells read. Unlike `CachePadded` it does not round the size up to a
/// 128-byte line pair, which would cost every counter series 64 bytes more.
#[repr(C, align(64))]
pub struct LineAligned<T>(T);

impl<T> std::ops::Deref for LineAligned<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<S: Storage> Series<S> {
    pub(crate) fn new(hash: u64, labels: LabelSet, config: &S::Config, now_ms: u64) -> Self {
        let (header, hot) = S::build(config);
        Series {
            refs: AtomicUsize::new(0),
            hash,
            labels,
            unlinked: AtomicBool::new(false),
            seen: AtomicU64::new(0),
            changed_at: AtomicU64::new(now_ms),
            header,
            hot: LineAligned(hot),
        }
    }

    /// Hints the CPU to fetch the lines a collection reads (the ownership record and the home
    /// cell). Purely a performance hint.
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let base = (self as *const Self).cast::<i8>();
            // SAFETY: prefetching has no architectural effect and never faults.
            unsafe {
                _mm_prefetch(base.wrapping_add(64), _MM_HINT_T0);
                _mm_prefetch((&*self.hot as *const S::Hot).cast::<i8>(), _MM_HINT_T0);
            }
        }
    }

    /// Whether no user handle to this series exists (structural holders aside).
    pub(crate) fn has_no_handles(&self) -> bool {
        self.refs.load(Ordering::Acquire) & HANDLE_MASK == 0
    }
}

impl<S: Storage> std::fmt::Debug for Series<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl<S: Storage, const UNIT: usize> std::fmt::Debug for SeriesRef<S, UNIT> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// A counted reference to a series; `UNIT` says which part of the count it holds.
pub struct SeriesRef<S: Storage, const UNIT: usize> {
    ptr: NonNull<Series<S>>,
    _owns: PhantomData<Series<S>>,
}

/// What user handles hold.
pub type Handle<S> = SeriesRef<S, HANDLE>;
/// What the index and member lists hold.
pub(crate) type Owner<S> = SeriesRef<S, STRUCTURAL>;

// SAFETY: a series is shared state made of atomics and immutable data; `S::Header`/`S::Hot`
// are Send + Sync by the trait bounds, and `LabelSet` is plain data.
unsafe impl<S: Storage, const U: usize> Send for SeriesRef<S, U> {}
// SAFETY: as above.
unsafe impl<S: Storage, const U: usize> Sync for SeriesRef<S, U> {}

impl<S: Storage> Owner<S> {
    /// Allocates a series and returns the first structural reference to it.
    pub(crate) fn new(series: Series<S>) -> Self {
        series.refs.store(STRUCTURAL, Ordering::Relaxed);
        let ptr = NonNull::from(Box::leak(Box::new(series)));
        SeriesRef {
            ptr,
            _owns: PhantomData,
        }
    }

    /// Gives up the reference as a raw pointer (for the index's slots).
    pub(crate) fn into_raw(self) -> *mut Series<S> {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// Takes back a reference given up by [`Owner::into_raw`].
    ///
    /// # Safety
    ///
    /// `p` must come from `into_raw` and not have been taken back before.
    pub(crate) unsafe fn from_raw(p: *mut Series<S>) -> Self {
        SeriesRef {
            // SAFETY: non-null by the caller's contract.
            ptr: unsafe { NonNull::new_unchecked(p) },
            _owns: PhantomData,
        }
    }
}

impl<S: Storage, const UNIT: usize> SeriesRef<S, UNIT> {
    /// A new counted reference to a series that is alive for the duration of this call.
    pub(crate) fn acquire(series: &Series<S>) -> Self {
        if series.refs.fetch_add(UNIT, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        SeriesRef {
            ptr: NonNull::from(series),
            _owns: PhantomData,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const Series<S> {
        self.ptr.as_ptr()
    }
}

impl<S: Storage> Handle<S> {
    /// A handle that does not own a count, for lending `&Handle` out of a reader section.
    /// Must never be dropped: wrap it in `ManuallyDrop`.
    ///
    /// # Safety
    ///
    /// The series must stay alive while the result (or a reference to it) is in use.
    pub(crate) unsafe fn borrowed(series: &Series<S>) -> std::mem::ManuallyDrop<Self> {
        std::mem::ManuallyDrop::new(SeriesRef {
            ptr: NonNull::from(series),
            _owns: PhantomData,
        })
    }
}

impl<S: Storage, const UNIT: usize> std::ops::Deref for SeriesRef<S, UNIT> {
    type Target = Series<S>;

    #[inline(always)]
    fn deref(&self) -> &Series<S> {
        // SAFETY: the count this reference holds keeps the series allocated.
        unsafe { self.ptr.as_ref() }
    }
}

impl<S: Storage, const UNIT: usize> Clone for SeriesRef<S, UNIT> {
    fn clone(&self) -> Self {
        SeriesRef::acquire(self)
    }
}

impl<S: Storage, const UNIT: usize> Drop for SeriesRef<S, UNIT> {
    fn drop(&mut self) {
        if self.refs.fetch_sub(UNIT, Ordering::Release) != UNIT {
            return;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: the count reached zero, so this was the last reference of either kind; the
        // series came from Box::leak in `Owner::new`.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Probe;
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    impl Storage for Probe {
        type Header = ();
        type Hot = Option<Dropped>;
        type Config = Arc<AtomicBool>;
        fn build(flag: &Arc<AtomicBool>) -> ((), Option<Dropped>) {
            ((), Some(Dropped(flag.clone())))
        }
    }

    #[test]
    fn frees_when_the_last_reference_of_either_kind_goes() {
        let flag = Arc::new(AtomicBool::new(false));
        let owner = Owner::<Probe>::new(Series::new(1, LabelSet::empty(), &flag, 0));
        assert!(owner.has_no_handles());
        let handle = Handle::<Probe>::acquire(&owner);
        assert!(!owner.has_no_handles());
        let second = handle.clone();
        drop(handle);
        assert!(!owner.has_no_handles());
        drop(owner);
        assert!(!flag.load(Ordering::SeqCst), "a handle still holds it");
        assert!(!second.has_no_handles());
        drop(second);
        assert!(flag.load(Ordering::SeqCst));
    }

    #[test]
    fn raw_round_trip_keeps_the_count() {
        let flag = Arc::new(AtomicBool::new(false));
        let owner = Owner::<Probe>::new(Series::new(1, LabelSet::empty(), &flag, 0));
        let raw = owner.into_raw();
        // SAFETY: `raw` came from into_raw just above.
        let back = unsafe { Owner::<Probe>::from_raw(raw) };
        assert!(!flag.load(Ordering::SeqCst));
        drop(back);
        assert!(flag.load(Ordering::SeqCst));
    }

    #[test]
    fn series_are_two_lines_of_bookkeeping_and_their_hot_cells() {
        use std::mem::{offset_of, size_of};
        type Counter = Series<crate::counter::CounterStorage>;
        type Histogram = Series<crate::histogram::HistogramStorage>;
        assert_eq!(offset_of!(Counter, hot), 128);
        assert_eq!(size_of::<Counter>(), 192);
        assert_eq!(size_of::<Series<crate::gauge::GaugeStorage>>(), 192);
        assert_eq!(offset_of!(Histogram, hot), 128);
        assert_eq!(
            size_of::<Histogram>(),
            256,
            "default buckets' totals inline"
        );
    }
}
