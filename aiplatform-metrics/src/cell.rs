//! Per-thread cells: how a hot series avoids both `lock`-prefixed instructions and shared lines.
//!
//! A series keeps one *home* cell, owned by the first thread slot that writes it. The owner
//! updates it with a plain load and store: no other thread ever writes the cell, so no update
//! can be lost, and the collector only reads. Any other thread gets a cell of its own (allocated
//! on its first write to this series) in a side table indexed by its slot, and writes that one
//! the same way. Threads past [`thread_slot::max_exclusive`] and threads tearing down their
//! thread-locals share a single cell updated with read-modify-write atomics. A reader sums all
//! cells.
//!
//! The common case (one thread per series) costs a thread-local read, a compare and the cell
//! update; two threads on one series write different cache lines.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use crate::thread_slot;

/// No thread owns the home cell yet.
const NO_OWNER: u32 = u32::MAX;

/// The ownership record of a per-thread value: which slot owns the home cell, and the cells
/// of every other thread. The home cell itself lives elsewhere (on its own cache line in the
/// series), so that this record can share the series' read-mostly first line.
pub struct PerThread<T> {
    owner: AtomicU32,
    others: AtomicPtr<Others<T>>,
}

struct Others<T> {
    exclusive: Box<[AtomicPtr<CachePadded<T>>]>,
    shared: CachePadded<T>,
}

/// How the caller may update the cell it is handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Only the calling thread writes this cell: plain loads and stores suffice.
    Exclusive,
    /// Other threads write it too: use read-modify-write atomics.
    Shared,
}

impl<T> PerThread<T> {
    pub(crate) fn new() -> Self {
        PerThread {
            owner: AtomicU32::new(NO_OWNER),
            others: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Runs `update` on the cell of thread slot `slot`: `home` if `slot` owns it, else the
    /// slot's own cell (built by `make` on first use) or the shared one.
    #[inline(always)]
    pub(crate) fn update<'a, R>(
        &'a self,
        home: &'a T,
        slot: u32,
        make: impl Fn() -> T,
        update: impl FnOnce(&T, Access) -> R,
    ) -> R {
        if self.owner.load(Ordering::Relaxed) == slot {
            return update(home, Access::Exclusive);
        }
        if let Some(cell) = self.own_cell(slot) {
            return update(cell, Access::Exclusive);
        }
        let (cell, access) = self.cell_for(home, slot, make);
        update(cell, access)
    }

    /// The cell `slot` already has in the side table, if any: three loads, all hot in the
    /// cache of the thread that keeps writing it.
    #[inline(always)]
    fn own_cell(&self, slot: u32) -> Option<&T> {
        let p = self.others.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: the side table lives until `self` is dropped.
        let others = unsafe { &*p };
        let cell = others.exclusive.get(slot as usize)?.load(Ordering::Acquire);
        // SAFETY: installed cells live until `self` is dropped.
        (!cell.is_null()).then(|| unsafe { &**cell })
    }

    #[cold]
    #[inline(never)]
    fn cell_for<'a>(&'a self, home: &'a T, slot: u32, make: impl Fn() -> T) -> (&'a T, Access) {
        if slot < thread_slot::RETIRED
            && self
                .owner
                .compare_exchange(NO_OWNER, slot, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return (home, Access::Exclusive);
        }
        let others = self.others(&make);
        if slot >= others.exclusive.len() as u32 {
            return (&others.shared, Access::Shared);
        }
        let entry = &others.exclusive[slot as usize];
        let mut cell = entry.load(Ordering::Acquire);
        if cell.is_null() {
            // Only the thread holding `slot` installs this entry, so a plain store is enough.
            cell = Box::into_raw(Box::new(CachePadded::new(make())));
            entry.store(cell, Ordering::Release);
        }
        // SAFETY: installed cells live until `self` is dropped.
        (unsafe { &**cell }, Access::Exclusive)
    }

    fn others(&self, make: impl Fn() -> T) -> &Others<T> {
        let mut p = self.others.load(Ordering::Acquire);
        if p.is_null() {
            let fresh = Box::into_raw(Box::new(Others {
                exclusive: (0..thread_slot::max_exclusive())
                    .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                    .collect(),
                shared: CachePadded::new(make()),
            }));
            match self.others.compare_exchange(
                std::ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => p = fresh,
                Err(existing) => {
                    // SAFETY: `fresh` was never published.
                    drop(unsafe { Box::from_raw(fresh) });
                    p = existing;
                }
            }
        }
        // SAFETY: the side table lives until `self` is dropped.
        unsafe { &*p }
    }

    /// Calls `f` on every cell that exists, `home` first.
    pub(crate) fn for_each(&self, home: &T, mut f: impl FnMut(&T)) {
        f(home);
        let p = self.others.load(Ordering::Acquire);
        if p.is_null() {
            return;
        }
        // SAFETY: as in `others`.
        let others = unsafe { &*p };
        f(&others.shared);
        for entry in others.exclusive.iter() {
            let cell = entry.load(Ordering::Acquire);
            if !cell.is_null() {
                // SAFETY: as in `cell_for`.
                f(unsafe { &**cell });
            }
        }
    }
}

impl<T> Drop for PerThread<T> {
    fn drop(&mut self) {
        let p = self.others.load(Ordering::Acquire);
        if p.is_null() {
            return;
        }
        // SAFETY: we are the last user; the table and its cells came from Box::into_raw.
        let others = unsafe { Box::from_raw(p) };
        for entry in others.exclusive.iter() {
            let cell = entry.load(Ordering::Acquire);
            if !cell.is_null() {
                // SAFETY: as above.
                drop(unsafe { Box::from_raw(cell) });
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

/// One thread's share of a counter: an integer part (the fast path) and a float part.
#[derive(Default, Debug)]
pub struct CounterCell {
    int: AtomicU64,
    float: AtomicU64,
}

impl CounterCell {
    #[inline(always)]
    pub(crate) fn add(&self, v: u64, access: Access) {
        match access {
            Access::Exclusive => self.int.store(
                self.int.load(Ordering::Relaxed).wrapping_add(v),
                Ordering::Relaxed,
            ),
            Access::Shared => {
                self.int.fetch_add(v, Ordering::Relaxed);
            }
        }
    }

    #[inline]
    pub(crate) fn add_f64(&self, v: f64, access: Access) {
        add_f64(&self.float, v, access);
    }

    /// The integer and float parts as last written.
    pub(crate) fn read(&self) -> (u64, f64) {
        (
            self.int.load(Ordering::Relaxed),
            f64::from_bits(self.float.load(Ordering::Relaxed)),
        )
    }
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

    struct Series {
        cells: PerThread<CounterCell>,
        home: CounterCell,
    }

    impl Series {
        fn new() -> Self {
            Series {
                cells: PerThread::new(),
                home: CounterCell::default(),
            }
        }
        fn add(&self, slot: u32, v: u64) -> Access {
            self.cells
                .update(&self.home, slot, CounterCell::default, |c, a| {
                    c.add(v, a);
                    a
                })
        }
        fn total(&self) -> u64 {
            let mut sum = 0;
            self.cells.for_each(&self.home, |c| sum += c.read().0);
            sum
        }
    }

    #[test]
    fn first_writer_owns_the_home_cell() {
        let p = Series::new();
        assert_eq!(p.add(7, 2), Access::Exclusive);
        assert_eq!(p.home.read().0, 2);
        assert!(
            p.cells.others.load(Ordering::Relaxed).is_null(),
            "no side table for one thread"
        );
    }

    #[test]
    fn other_slots_get_their_own_cells_and_retired_threads_share_one() {
        let p = Series::new();
        assert_eq!(p.add(1, 1), Access::Exclusive);
        assert_eq!(p.add(2, 10), Access::Exclusive);
        assert_eq!(p.add(thread_slot::RETIRED, 100), Access::Shared);
        assert_eq!(
            p.add(thread_slot::max_exclusive() + 5, 1000),
            Access::Shared
        );
        assert_eq!(p.total(), 1111);
        assert_eq!(
            p.home.read().0,
            1,
            "slot 1 owns home; the others wrote elsewhere"
        );
    }

    #[test]
    fn float_parts_add_up() {
        let p = Series::new();
        p.cells
            .update(&p.home, 1, CounterCell::default, |c, a| c.add_f64(0.5, a));
        p.cells.update(
            &p.home,
            thread_slot::RETIRED,
            CounterCell::default,
            |c, a| c.add_f64(0.25, a),
        );
        let mut sum = 0.0;
        p.cells.for_each(&p.home, |c| sum += c.read().1);
        assert_eq!(sum, 0.75);
    }

    #[test]
    fn many_threads_lose_no_increment() {
        let p = Series::new();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..100_000 {
                        p.add(thread_slot::current(), 1);
                    }
                });
            }
        });
        assert_eq!(p.total(), 800_000);
    }
}
