//! Reader sections and grace periods: deferred freeing for the lock-free series index.
//!
//! Lookups read the index without locks or reference counts. Memory they might be reading
//! (a removed series, a replaced table) is freed only after a *grace period*: every reader
//! section that was open when the memory was unlinked has closed.
//!
//! Each thread slot owns one sequence cell, odd while the thread is inside a section. Opening
//! the outermost section bumps it to odd with a plain store followed by [`barrier::light`];
//! closing bumps it to even with a release store. A reclaimer unlinks, calls
//! [`barrier::heavy`], and records every odd cell; the period is over once each recorded cell
//! has moved on. Threads without a slot (tearing down their thread-locals) use a shared counter
//! updated with read-modify-write atomics instead.

use std::cell::Cell;
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use crate::barrier;
use crate::sync::{AtomicPtr, AtomicU64, Ordering, install};

const CHUNK: usize = 64;
const MAX_CHUNKS: usize = 1024;

struct Chunk {
    cells: [CachePadded<AtomicU64>; CHUNK],
}

/// The set of reader-state cells, one per thread slot, plus the shared fallback counter.
pub(crate) struct Domain {
    chunks: Box<[AtomicPtr<Chunk>]>,
    shared_active: CachePadded<AtomicU64>,
}

impl Domain {
    pub(crate) fn new() -> Self {
        Domain {
            chunks: (0..MAX_CHUNKS)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            shared_active: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// The state cell of `slot`, allocating its chunk on first use.
    pub(crate) fn cell(&self, slot: u32) -> &AtomicU64 {
        let (c, i) = (slot as usize / CHUNK, slot as usize % CHUNK);
        assert!(
            c < MAX_CHUNKS,
            "more than {} concurrent threads",
            CHUNK * MAX_CHUNKS
        );
        // SAFETY: chunks are only freed when the domain is dropped, which needs `&mut self`.
        let chunk = unsafe {
            install(&self.chunks[c], || Chunk {
                cells: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
            })
        };
        &chunk.cells[i]
    }

    /// Opens the outermost section of the thread owning `cell`. Only that thread writes it.
    #[inline(always)]
    pub(crate) fn enter(cell: &AtomicU64) {
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        barrier::light();
    }

    /// Closes the outermost section opened by [`Domain::enter`].
    #[inline(always)]
    pub(crate) fn exit(cell: &AtomicU64) {
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Release,
        );
    }

    /// Opens a section for a thread without a slot.
    pub(crate) fn enter_shared(&self) {
        self.shared_active.fetch_add(1, Ordering::SeqCst);
    }

    /// Closes a section opened by [`Domain::enter_shared`].
    pub(crate) fn exit_shared(&self) {
        self.shared_active.fetch_sub(1, Ordering::Release);
    }

    /// Starts a grace period. Call it after unlinking what is to be freed.
    pub(crate) fn grace_period(&self) -> GracePeriod {
        barrier::heavy();
        let mut open = Vec::new();
        for (c, chunk) in self.chunks.iter().enumerate() {
            let chunk = chunk.load(Ordering::Acquire);
            if chunk.is_null() {
                continue;
            }
            // SAFETY: a non-null chunk stays allocated for the domain's lifetime.
            let cells = unsafe { &(*chunk).cells };
            for (i, cell) in cells.iter().enumerate() {
                let seq = cell.load(Ordering::Acquire);
                if seq & 1 == 1 {
                    open.push(((c * CHUNK + i) as u32, seq));
                }
            }
        }
        let shared_open = self.shared_active.load(Ordering::Acquire) != 0;
        GracePeriod { open, shared_open }
    }

    /// Whether every section open when `period` started has closed. Once true, stays true.
    pub(crate) fn is_over(&self, period: &mut GracePeriod) -> bool {
        period
            .open
            .retain(|&(slot, seq)| self.cell(slot).load(Ordering::Acquire) == seq);
        if period.shared_open && self.shared_active.load(Ordering::Acquire) == 0 {
            period.shared_open = false;
        }
        period.open.is_empty() && !period.shared_open
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        for chunk in self.chunks.iter() {
            let chunk = chunk.load(Ordering::Acquire);
            if !chunk.is_null() {
                // SAFETY: allocated by Box::into_raw in `cell` and unreachable once dropped.
                drop(unsafe { Box::from_raw(chunk) });
            }
        }
    }
}

/// The reader sections a reclaimer waits for before freeing what it unlinked.
#[derive(Debug)]
pub(crate) struct GracePeriod {
    open: Vec<(u32, u64)>,
    shared_open: bool,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain").finish_non_exhaustive()
    }
}

/// The process-wide domain every index uses.
pub(crate) fn domain() -> &'static Domain {
    static DOMAIN: OnceLock<Domain> = OnceLock::new();
    DOMAIN.get_or_init(Domain::new)
}

/// A retired thread reads through the shared counter.
const SHARED: *const AtomicU64 = std::ptr::dangling::<AtomicU64>();

thread_local! {
    /// The thread's state cell: null until first use, [`SHARED`] once the slot is given back.
    static READER: Cell<*const AtomicU64> = const { Cell::new(std::ptr::null()) };
}

/// Called when the thread gives its slot back: later sections on this thread use the shared
/// counter, since the slot (and its cell) may go to another thread.
pub(crate) fn on_thread_retire() {
    READER.with(|r| {
        let cell = r.get();
        // Thread-local destructors run outside any section; a section cannot span them.
        let closed = cell.is_null() || cell == SHARED || {
            // SAFETY: a cell other than the sentinels belongs to this thread until now.
            let seq = unsafe { (*cell).load(Ordering::Relaxed) };
            seq & 1 == 0
        };
        debug_assert!(closed, "slot given back inside a reader section");
        r.set(SHARED);
    });
}

/// An open reader section on the current thread. Memory reachable from an index when the
/// section opened stays allocated until it is dropped. Sections nest: only the outermost guard
/// (the one that found the thread's cell even) closes it.
pub(crate) struct Guard {
    /// The cell this guard must close, if it opened the section; null for a nested guard.
    opened: *const AtomicU64,
}

/// Opens (or nests into) a reader section on the current thread.
#[inline(always)]
pub(crate) fn pin() -> Guard {
    let mut cell = READER.with(Cell::get);
    if cell.is_null() {
        cell = own_cell();
    }
    if cell == SHARED {
        return pin_shared();
    }
    // SAFETY: the cell belongs to this thread's slot, which it keeps until exit; only this
    // thread writes it.
    let c = unsafe { &*cell };
    if c.load(Ordering::Relaxed) & 1 == 1 {
        return Guard {
            opened: std::ptr::null(),
        };
    }
    Domain::enter(c);
    Guard { opened: cell }
}

#[cold]
fn pin_shared() -> Guard {
    domain().enter_shared();
    Guard { opened: SHARED }
}

#[cold]
fn own_cell() -> *const AtomicU64 {
    let slot = crate::thread_slot::current();
    let cell = if slot == crate::thread_slot::RETIRED {
        SHARED
    } else {
        domain().cell(slot) as *const AtomicU64
    };
    READER.with(|r| r.set(cell));
    cell
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        if self.opened.is_null() {
            return;
        }
        if self.opened == SHARED {
            domain().exit_shared();
        } else {
            // SAFETY: as in `pin`.
            Domain::exit(unsafe { &*self.opened });
        }
    }
}

/// Values unlinked from a shared structure, freed once their grace period is over.
#[derive(Debug)]
pub(crate) struct Limbo<T> {
    batches: Vec<(GracePeriod, Vec<T>)>,
}

impl<T> Default for Limbo<T> {
    fn default() -> Self {
        Limbo {
            batches: Vec::new(),
        }
    }
}

impl<T> Limbo<T> {
    /// Retires `items`, already unlinked, starting their grace period now.
    pub(crate) fn retire(&mut self, items: Vec<T>) {
        if !items.is_empty() {
            self.batches.push((domain().grace_period(), items));
        }
    }

    /// Hands back the items whose grace period is over; no reader can still reach them.
    pub(crate) fn collect_expired(&mut self) -> Vec<T> {
        let mut done = Vec::new();
        self.batches.retain_mut(|(period, items)| {
            if domain().is_over(period) {
                done.append(items);
                false
            } else {
                true
            }
        });
        done
    }

    /// Whether anything is still waiting.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn grace_period_waits_for_open_sections_only() {
        let d = Domain::new();
        let a = d.cell(0);
        let b = d.cell(1);
        Domain::enter(a);
        let mut period = d.grace_period();
        assert!(!d.is_over(&mut period), "section of slot 0 is still open");
        Domain::enter(b); // opened after the period started: not waited for
        Domain::exit(a);
        assert!(d.is_over(&mut period));
        Domain::exit(b);
    }

    #[test]
    fn reopening_a_section_ends_the_wait() {
        let d = Domain::new();
        let a = d.cell(3);
        Domain::enter(a);
        let mut period = d.grace_period();
        Domain::exit(a);
        Domain::enter(a);
        assert!(
            d.is_over(&mut period),
            "the section seen at the start has closed"
        );
        Domain::exit(a);
    }

    #[test]
    fn shared_sections_are_waited_for() {
        let d = Domain::new();
        d.enter_shared();
        let mut period = d.grace_period();
        assert!(!d.is_over(&mut period));
        d.exit_shared();
        assert!(d.is_over(&mut period));
    }

    #[test]
    fn nested_pins_keep_the_section_open_until_the_outermost_drops() {
        let is_open = || {
            // SAFETY: after a pin the cell is this thread's own (tests run on slotted threads).
            let seq = unsafe { (*READER.with(Cell::get)).load(Ordering::Relaxed) };
            seq & 1 == 1
        };
        let outer = pin();
        let inner = pin();
        assert!(is_open());
        drop(inner);
        assert!(is_open(), "the outer section is still open");
        drop(outer);
        assert!(!is_open());
    }

    #[test]
    fn limbo_frees_after_the_reader_leaves() {
        let freed = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let _g = pin();
            tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        rx.recv().unwrap();
        let mut limbo = Limbo::default();
        limbo.retire(vec![Flag(freed.clone())]);
        assert!(
            limbo.collect_expired().is_empty(),
            "reader still inside its section"
        );
        done_tx.send(()).unwrap();
        reader.join().unwrap();
        // Other tests may hold short sections of their own in this process-wide domain.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut expired = limbo.collect_expired();
        while expired.is_empty() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
            expired = limbo.collect_expired();
        }
        assert_eq!(expired.len(), 1);
        drop(expired);
        assert!(freed.load(std::sync::atomic::Ordering::SeqCst));
        assert!(limbo.is_empty());
    }
}
