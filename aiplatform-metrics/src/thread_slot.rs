//! Small dense per-thread ids ("slots") that index per-thread cells and reader states.
//!
//! A slot is handed to a thread the first time it touches a metric and given back when the
//! thread exits, so the ids of live threads stay small and dense: a series can give each of the
//! first [`max_exclusive`] slots a cell of its own, written with plain loads and stores because
//! no other thread ever writes it, and each slot packs its cells in an arena of its own. A
//! reused slot only goes to a new thread after the previous owner has exited (the hand-over
//! goes through a mutex, which orders the old owner's last write before the new owner's first
//! one).

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Mutex, OnceLock};

/// A thread that has not asked for a slot yet.
const UNASSIGNED: u32 = u32::MAX;
/// A thread whose slot was given back during thread-local destruction. Such a thread (a
/// destructor recording a metric at exit) uses the shared, RMW-based cells from then on.
pub(crate) const RETIRED: u32 = u32::MAX - 1;

thread_local! {
    static SLOT: Cell<u32> = const { Cell::new(UNASSIGNED) };
    static GUARD: SlotGuard = SlotGuard::acquire();
}

struct SlotGuard(u32);

impl SlotGuard {
    fn acquire() -> Self {
        let id = pool().lock().unwrap_or_else(|e| e.into_inner()).take();
        SLOT.with(|s| s.set(id));
        SlotGuard(id)
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        SLOT.with(|s| s.set(RETIRED));
        crate::epoch::on_thread_retire();
        pool()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .give_back(self.0);
    }
}

#[derive(Default)]
struct Pool {
    next: u32,
    free: BinaryHeap<Reverse<u32>>,
}

impl Pool {
    fn take(&mut self) -> u32 {
        if let Some(Reverse(id)) = self.free.pop() {
            return id;
        }
        let id = self.next;
        // Slots past `RETIRED` cannot exist: each one is a live thread.
        assert!(id < RETIRED, "thread slot space exhausted");
        self.next += 1;
        id
    }

    fn give_back(&mut self, id: u32) {
        self.free.push(Reverse(id));
    }
}

fn pool() -> &'static Mutex<Pool> {
    static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();
    POOL.get_or_init(Mutex::default)
}

/// The calling thread's slot, assigning one on first use. Returns [`RETIRED`] for a thread that
/// is tearing down its thread-locals.
#[inline(always)]
pub(crate) fn current() -> u32 {
    let slot = SLOT.with(Cell::get);
    if slot != UNASSIGNED {
        return slot;
    }
    assign()
}

#[cold]
#[inline(never)]
fn assign() -> u32 {
    // Touching GUARD runs `SlotGuard::acquire` once and registers its destructor; during
    // thread-local destruction it is no longer reachable and the thread counts as retired.
    GUARD.try_with(|g| g.0).unwrap_or(RETIRED)
}

/// The environment variable that overrides [`max_exclusive`].
pub(crate) const MAX_THREAD_CELLS_ENV: &str = "AIPLATFORM_METRICS_MAX_THREAD_CELLS";
/// The largest value [`MAX_THREAD_CELLS_ENV`] accepts.
const MAX_THREAD_CELLS: u32 = 1024;

/// How many slots may get an own cell in a series once they keep writing it (the home cell
/// goes to the first writer, whatever its slot); threads past it always share the series' cell
/// that is updated with read-modify-write atomics. Four times the CPUs, at least 16 and at most
/// 1024, unless [`MAX_THREAD_CELLS_ENV`] says otherwise.
pub(crate) fn max_exclusive() -> u32 {
    static MAX: OnceLock<u32> = OnceLock::new();
    *MAX.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        let default = (cpus * 4)
            .next_power_of_two()
            .clamp(16, MAX_THREAD_CELLS as usize) as u32;
        match std::env::var(MAX_THREAD_CELLS_ENV) {
            Ok(v) => parse_limit(&v).unwrap_or_else(|| {
                eprintln!(
                    "aiplatform-metrics: ignoring {MAX_THREAD_CELLS_ENV}={v:?} (expected a whole \
                     number from 0 to {MAX_THREAD_CELLS}); using {default}"
                );
                default
            }),
            Err(_) => default,
        }
    })
}

fn parse_limit(v: &str) -> Option<u32> {
    v.trim().parse().ok().filter(|&n| n <= MAX_THREAD_CELLS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_stable_per_thread_and_distinct_across_live_threads() {
        let mine = current();
        assert_eq!(mine, current());
        let barrier = std::sync::Barrier::new(4);
        let ids: Vec<u32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let id = current();
                        barrier.wait();
                        id
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4, "live threads share a slot: {ids:?}");
        assert!(!ids.contains(&mine));
    }

    #[test]
    fn the_limit_override_takes_whole_numbers_up_to_1024() {
        assert_eq!(parse_limit("128"), Some(128));
        assert_eq!(parse_limit(" 0 "), Some(0));
        assert_eq!(parse_limit("1024"), Some(1024));
        assert_eq!(parse_limit("1025"), None);
        assert_eq!(parse_limit("-1"), None);
        assert_eq!(parse_limit("lots"), None);
    }

    #[test]
    fn pool_prefers_small_ids() {
        let mut pool = Pool::default();
        let a = pool.take();
        let b = pool.take();
        let c = pool.take();
        pool.give_back(b);
        pool.give_back(a);
        assert_eq!(pool.take(), a);
        assert_eq!(pool.take(), b);
        assert_eq!(pool.take(), c + 1);
    }
}
