//! Which writers of a shared cell earn a cell of their own: the threads that keep writing the
//! series.
//!
//! Each thread counts its writes to shared cells in a small direct-mapped table keyed by the
//! series' address. A series that collects [`PROMOTE_AFTER`] writes while it stays in the table
//! is one this thread keeps writing. A thread that touches many series once each (a worker
//! serving whatever request comes next) keeps evicting its own entries and stays on the shared
//! cells, which then cost its series nothing; a thread that hammers a series gets a cell after a
//! few writes. The table is 512 bytes per thread, whatever the number of series.
//!
//! A stale entry (the series was freed and its address reused) only makes a promotion come a
//! little earlier; the table never holds anything that is dereferenced.

use std::cell::Cell;

/// Entries of the table: the series a thread writes through shared cells "at the same time".
const ENTRIES: usize = 64;
/// Writes to a series' shared cell, while it stays in the table, that earn a thread a cell of
/// its own (fewer under loom, whose models run a handful of writes).
pub(crate) const PROMOTE_AFTER: u32 = if cfg!(loom) { 2 } else { 16 };

type Table = [Cell<u64>; ENTRIES];

#[cfg(not(loom))]
std::thread_local! {
    static RECENT: Table = const { [const { Cell::new(0) }; ENTRIES] };
}

#[cfg(loom)]
loom::thread_local! {
    static RECENT: Table = [const { Cell::new(0) }; ENTRIES];
}

/// Counts one write by the calling thread to the shared cell of the series at `addr`; true when
/// the thread has now written it [`PROMOTE_AFTER`] times in a row of table hits (the entry then
/// starts over).
pub(crate) fn keeps_writing(addr: usize) -> bool {
    let h = (addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let index = (h >> 58) as usize % ENTRIES;
    // Another part of the hash tells series that share an entry apart.
    let key = (h >> 24) as u32;
    RECENT
        .try_with(|table| {
            let entry = &table[index];
            let v = entry.get();
            let count = if (v >> 32) as u32 == key {
                v as u32 + 1
            } else {
                1
            };
            if count >= PROMOTE_AFTER {
                entry.set(0);
                true
            } else {
                entry.set(u64::from(key) << 32 | u64::from(count));
                false
            }
        })
        // During thread-local teardown: such a thread uses the shared cells anyway.
        .unwrap_or(false)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_steady_writer_is_promoted_after_a_run_of_writes() {
        let series = Box::new(0u64);
        let addr = &*series as *const u64 as usize;
        let runs: Vec<bool> = (0..PROMOTE_AFTER * 2)
            .map(|_| keeps_writing(addr))
            .collect();
        let promoted: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, p)| **p)
            .map(|(i, _)| i)
            .collect();
        let n = PROMOTE_AFTER as usize;
        assert_eq!(promoted, [n - 1, 2 * n - 1]);
    }

    #[test]
    fn a_thread_sweeping_many_series_is_never_promoted() {
        let series: Vec<u64> = vec![0; 10_000];
        let mut promotions = 0;
        for _ in 0..PROMOTE_AFTER * 2 {
            for s in &series {
                promotions += usize::from(keeps_writing(s as *const u64 as usize));
            }
        }
        // Every sweep evicts each entry long before its series comes round again.
        assert_eq!(promotions, 0);
    }
}
