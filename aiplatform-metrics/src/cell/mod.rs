//! Per-thread cells: how a hot series avoids both `lock`-prefixed instructions and shared
//! lines, without paying a cell per thread per series.
//!
//! A series has three places a write can land:
//!
//! - its **home** cell, owned by the first thread slot that writes the series. The owner
//!   updates it with a plain load and store: no other thread ever writes it, so no update can
//!   be lost, and the collector only reads.
//! - its **shared** cell, which every other thread updates with read-modify-write atomics.
//!   Threads that write a series now and then (each worker of a pool eventually serves every
//!   route) cost the series nothing more than that.
//! - an **own** cell per thread that *keeps* writing the series ([`promotion`] decides: a run of
//!   writes while the series stays among the thread's recently written ones). It lives in the
//!   thread slot's [`arena`], packed with the cells the same thread owns in other series, and
//!   is found through a small directory indexed by slot that the series allocates on its first
//!   promotion.
//!
//! A reader sums all three. Threads past [`thread_slot::max_exclusive`] and threads tearing
//! down their thread-locals always use the shared cell.
//!
//! A cell belongs to a thread *slot*, not to a thread: when a thread exits, its slot, with the
//! home cells and own cells it holds, goes to the next thread that starts (the hand-over goes
//! through a mutex, which orders the old owner's last write before the new owner's first one).
//! So the cells of exited threads are neither lost nor leaked: the next thread keeps counting
//! in them, and they are freed with their series.

pub(crate) mod arena;
pub(crate) mod promotion;

use std::ptr::NonNull;

use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, Ordering, install};
use crate::thread_slot;

/// No thread owns the home cell yet.
const NO_OWNER: u32 = u32::MAX;
/// Slots per directory chunk: a chunk is one cache line of cell pointers.
const CHUNK: usize = 8;

/// The ownership record of a per-thread value: which slot owns the home cell, and where the
/// own cells of other slots are. The cells themselves live elsewhere (the home and shared cells
/// in the series, own cells in arenas), so that this record can share the series' read-mostly
/// line.
pub struct PerThread<T> {
    owner: AtomicU32,
    directory: AtomicPtr<Directory<T>>,
}

/// Own cells by slot, in chunks of [`CHUNK`] allocated when a slot of the chunk is promoted.
struct Directory<T> {
    release: Release<T>,
    chunks: Box<[AtomicPtr<Chunk<T>>]>,
}

struct Chunk<T> {
    cells: [AtomicPtr<T>; CHUNK],
}

/// How to free the own cells of a series: `free(slot, cell, arg)`.
pub(crate) struct Release<T> {
    pub(crate) free: unsafe fn(u32, NonNull<T>, usize),
    pub(crate) arg: usize,
}

/// Where the calling thread's write goes.
#[derive(Debug)]
pub(crate) enum Place<T> {
    /// The series' home cell: only this thread writes it.
    Home,
    /// A cell of this thread's own: only this thread writes it.
    Own(NonNull<T>),
    /// The shared cell: update it with read-modify-write atomics.
    Shared,
}

// Derives would ask `T: Clone`/`T: PartialEq`; only the pointer is compared and copied.
impl<T> Clone for Place<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Place<T> {}

impl<T> PartialEq for Place<T> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Place::Home, Place::Home) | (Place::Shared, Place::Shared) => true,
            (Place::Own(a), Place::Own(b)) => a == b,
            _ => false,
        }
    }
}

impl<T> PerThread<T> {
    pub(crate) fn new() -> Self {
        PerThread {
            owner: AtomicU32::new(NO_OWNER),
            directory: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Where thread slot `slot` writes. `make` builds an own cell for `slot` (and says how to
    /// free it) when the slot earns one.
    #[inline(always)]
    pub(crate) fn locate(
        &self,
        slot: u32,
        make: impl FnOnce(u32) -> (NonNull<T>, Release<T>),
    ) -> Place<T> {
        if self.owner.load(Ordering::Relaxed) == slot {
            return Place::Home;
        }
        if let Some(cell) = self.own_cell(slot) {
            return Place::Own(cell);
        }
        self.locate_cold(slot, make)
    }

    /// The own cell `slot` already has: three loads, all hot in the cache of the thread that
    /// keeps writing it.
    #[inline(always)]
    fn own_cell(&self, slot: u32) -> Option<NonNull<T>> {
        let dir = self.directory.load(Ordering::Acquire);
        if dir.is_null() {
            return None;
        }
        // SAFETY: the directory lives until `self` is dropped.
        let dir = unsafe { &*dir };
        let chunk = dir
            .chunks
            .get(slot as usize / CHUNK)?
            .load(Ordering::Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: chunks live until `self` is dropped.
        let cell = unsafe { &*chunk }.cells[slot as usize % CHUNK].load(Ordering::Acquire);
        NonNull::new(cell)
    }

    #[cold]
    #[inline(never)]
    fn locate_cold(
        &self,
        slot: u32,
        make: impl FnOnce(u32) -> (NonNull<T>, Release<T>),
    ) -> Place<T> {
        if slot < thread_slot::RETIRED
            && self
                .owner
                .compare_exchange(NO_OWNER, slot, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Place::Home;
        }
        if slot >= thread_slot::max_exclusive()
            || !promotion::keeps_writing(self as *const Self as usize)
        {
            return Place::Shared;
        }
        let (cell, release) = make(slot);
        let entry = &self.chunk(slot, release).cells[slot as usize % CHUNK];
        // Only the thread holding `slot` installs this entry, and it found it empty.
        debug_assert!(entry.load(Ordering::Relaxed).is_null());
        entry.store(cell.as_ptr(), Ordering::Release);
        Place::Own(cell)
    }

    /// The directory chunk holding `slot`'s entry, created (with the directory) if needed.
    fn chunk(&self, slot: u32, release: Release<T>) -> &Chunk<T> {
        // SAFETY: the directory and its chunks are only ever installed here, and freed when
        // `self` is dropped.
        unsafe {
            let dir = install(&self.directory, || Directory {
                release,
                chunks: (0..(thread_slot::max_exclusive() as usize).div_ceil(CHUNK))
                    .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                    .collect(),
            });
            install(&dir.chunks[slot as usize / CHUNK], || Chunk {
                cells: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            })
        }
    }

    /// Calls `f` on every own cell, with its slot.
    pub(crate) fn for_each_own(&self, mut f: impl FnMut(u32, NonNull<T>)) {
        let dir = self.directory.load(Ordering::Acquire);
        if dir.is_null() {
            return;
        }
        // SAFETY: as in `own_cell`.
        let dir = unsafe { &*dir };
        for (c, chunk) in dir.chunks.iter().enumerate() {
            let chunk = chunk.load(Ordering::Acquire);
            if chunk.is_null() {
                continue;
            }
            // SAFETY: as in `own_cell`.
            for (i, cell) in unsafe { &*chunk }.cells.iter().enumerate() {
                if let Some(cell) = NonNull::new(cell.load(Ordering::Acquire)) {
                    f((c * CHUNK + i) as u32, cell);
                }
            }
        }
    }

    /// Whether any slot has an own cell.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn has_own_cells(&self) -> bool {
        let mut any = false;
        self.for_each_own(|_, _| any = true);
        any
    }
}

impl<T> Drop for PerThread<T> {
    fn drop(&mut self) {
        let dir = self.directory.load(Ordering::Acquire);
        if dir.is_null() {
            return;
        }
        // SAFETY: we are the last user; the directory and its chunks came from Box::into_raw.
        let dir = unsafe { Box::from_raw(dir) };
        for (c, chunk) in dir.chunks.iter().enumerate() {
            let chunk = chunk.load(Ordering::Acquire);
            if chunk.is_null() {
                continue;
            }
            // SAFETY: as above.
            let chunk = unsafe { Box::from_raw(chunk) };
            for (i, cell) in chunk.cells.iter().enumerate() {
                if let Some(cell) = NonNull::new(cell.load(Ordering::Acquire)) {
                    // SAFETY: `cell` came from the `make` that handed over this release, for
                    // this slot, and nobody can reach it any more.
                    unsafe { (dir.release.free)((c * CHUNK + i) as u32, cell, dir.release.arg) };
                }
            }
        }
    }
}

impl<T> std::fmt::Debug for PerThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerThread")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

// SAFETY: cells are only reached through atomics and `T: Sync` references.
unsafe impl<T: Send + Sync> Send for PerThread<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for PerThread<T> {}

/// An own cell that is a boxed value (the facade's per-thread handles).
#[cfg(any(feature = "facade", test))]
pub(crate) fn boxed<T>(value: T) -> (NonNull<T>, Release<T>) {
    /// # Safety
    ///
    /// `cell` must come from `boxed` and not be used afterwards.
    unsafe fn free<T>(_slot: u32, cell: NonNull<T>, _arg: usize) {
        // SAFETY: by the contract above, `cell` is a leaked box.
        drop(unsafe { Box::from_raw(cell.as_ptr()) });
    }
    (
        NonNull::from(Box::leak(Box::new(value))),
        Release {
            free: free::<T>,
            arg: 0,
        },
    )
}

/// An own cell of `words` zeroed words from the arena of `slot`.
pub(crate) fn words(slot: u32, words: usize) -> (NonNull<AtomicU64>, Release<AtomicU64>) {
    (
        arena::alloc(slot, words),
        Release {
            free: arena::free,
            arg: words,
        },
    )
}

/// Adds `v` to a word only the calling thread writes: a plain load and store.
#[inline(always)]
pub(crate) fn add_exclusive(cell: &AtomicU64, v: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(v),
        Ordering::Relaxed,
    );
}

/// How the caller may update an `f64` cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Only the calling thread writes this cell: plain loads and stores suffice.
    Exclusive,
    /// Other threads write it too: use read-modify-write atomics.
    Shared,
}

/// Adds `v` to an `f64` stored as bits.
#[inline(always)]
pub(crate) fn add_f64(cell: &AtomicU64, v: f64, access: Access) {
    match access {
        Access::Exclusive => {
            let cur = f64::from_bits(cell.load(Ordering::Relaxed));
            cell.store((cur + v).to_bits(), Ordering::Relaxed);
        }
        Access::Shared => {
            let mut cur = cell.load(Ordering::Relaxed);
            loop {
                let new = (f64::from_bits(cur) + v).to_bits();
                match cell.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A counter-like series: a home word, a shared word, own words from the arenas.
    struct Series {
        cells: PerThread<AtomicU64>,
        home: AtomicU64,
        shared: AtomicU64,
    }

    impl Series {
        fn new() -> Self {
            Series {
                cells: PerThread::new(),
                home: AtomicU64::new(0),
                shared: AtomicU64::new(0),
            }
        }

        fn add(&self, slot: u32, v: u64) -> Place<AtomicU64> {
            let place = self.cells.locate(slot, |slot| words(slot, 1));
            match place {
                Place::Home => add_exclusive(&self.home, v),
                // SAFETY: own cells live as long as the series.
                Place::Own(c) => add_exclusive(unsafe { c.as_ref() }, v),
                Place::Shared => {
                    self.shared.fetch_add(v, Ordering::Relaxed);
                }
            }
            place
        }

        fn total(&self) -> u64 {
            let mut sum = self.home.load(Ordering::Relaxed) + self.shared.load(Ordering::Relaxed);
            // SAFETY: as above.
            self.cells
                .for_each_own(|_, c| sum += unsafe { c.as_ref() }.load(Ordering::Relaxed));
            sum
        }
    }

    #[test]
    fn first_writer_owns_the_home_cell() {
        let s = Series::new();
        assert_eq!(s.add(7, 2), Place::Home);
        assert_eq!(s.home.load(Ordering::Relaxed), 2);
        assert!(
            s.cells.directory.load(Ordering::Relaxed).is_null(),
            "no directory for one thread"
        );
    }

    #[test]
    fn occasional_writers_share_a_cell_and_a_steady_one_gets_its_own() {
        let s = Series::new();
        assert_eq!(s.add(1, 1), Place::Home);
        // Slot 2 writes often enough to earn a cell: the first writes go to the shared one.
        let mut places = Vec::new();
        for _ in 0..promotion::PROMOTE_AFTER + 3 {
            places.push(s.add(2, 10));
        }
        let shared = places.iter().filter(|p| **p == Place::Shared).count();
        assert_eq!(shared as u32, promotion::PROMOTE_AFTER - 1, "{places:?}");
        assert!(matches!(places.last(), Some(Place::Own(_))));
        assert_eq!(s.add(thread_slot::RETIRED, 100), Place::Shared);
        assert_eq!(
            s.add(thread_slot::max_exclusive() + 5, 1000),
            Place::Shared,
            "slots past the limit never get a cell"
        );
        assert_eq!(
            s.total(),
            1 + 10 * (promotion::PROMOTE_AFTER as u64 + 3) + 1100
        );
        let mut own = Vec::new();
        s.cells.for_each_own(|slot, _| own.push(slot));
        assert_eq!(own, [2]);
    }

    #[test]
    fn many_threads_lose_no_increment() {
        let s = Series::new();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..100_000 {
                        s.add(thread_slot::current(), 1);
                    }
                });
            }
        });
        assert_eq!(s.total(), 800_000);
        assert!(s.cells.has_own_cells(), "steady writers were promoted");
    }

    #[test]
    fn boxed_cells_are_dropped_with_the_record() {
        use std::sync::Arc;
        let marker = Arc::new(());
        {
            let cells = PerThread::<Arc<()>>::new();
            assert_eq!(cells.locate(0, |_| boxed(marker.clone())), Place::Home);
            let mut own = None;
            for _ in 0..promotion::PROMOTE_AFTER {
                if let Place::Own(c) = cells.locate(1, |_| boxed(marker.clone())) {
                    own = Some(c);
                }
            }
            assert!(own.is_some());
            assert_eq!(Arc::strong_count(&marker), 2);
        }
        assert_eq!(Arc::strong_count(&marker), 1, "the own cell was freed");
    }
}
