//! Per-slot arenas: the own cells one thread slot holds in many series, packed together.
//!
//! A cell that only one thread writes needs padding from the cells of *other* threads, not
//! from the other cells of its own thread. So each thread slot carves its cells out of chunks
//! of whole, aligned cache-line pairs that no other slot's cells share: a counter's own cell
//! is one 8-byte word, a histogram's is its running totals, word after word. Chunks are kept
//! per cell size; a freed cell (its series was dropped) goes to a free list and is zeroed when
//! handed out again. Chunks are never returned: a slot's arena is reused by the next thread
//! that takes the slot.
//!
//! Allocation happens when a thread earns a cell (rare) and freeing when a series is dropped,
//! so both take the slot's mutex.

#[cfg(loom)]
use std::ptr::NonNull;

use crate::sync::AtomicU64;

/// Words of one cache-line pair (the unit of separation between threads, as `CachePadded`).
#[cfg(not(loom))]
const LINE_WORDS: usize = 16;
/// Lines of a slot's first chunk of a size; each next chunk doubles, up to [`MAX_CHUNK_LINES`].
#[cfg(not(loom))]
const FIRST_CHUNK_LINES: usize = 4;
#[cfg(not(loom))]
const MAX_CHUNK_LINES: usize = 256;

#[cfg(not(loom))]
pub(crate) use imp::{alloc, free};

#[cfg(not(loom))]
mod imp {
    use std::ptr::NonNull;
    use std::sync::OnceLock;

    use parking_lot::Mutex;

    use super::*;
    use crate::sync::Ordering;
    use crate::thread_slot;

    #[repr(C, align(128))]
    struct Line([AtomicU64; LINE_WORDS]);

    /// The cells of one size in one slot's arena.
    struct Class {
        words: usize,
        chunks: Vec<Box<[Line]>>,
        /// Words of the last chunk already handed out.
        used: usize,
        free: Vec<NonNull<AtomicU64>>,
    }

    #[derive(Default)]
    struct Arena {
        classes: Vec<Class>,
    }

    // SAFETY: the pointers in free lists point into chunks the arena owns; the arena is only
    // reached under its mutex.
    unsafe impl Send for Arena {}

    fn arenas() -> &'static [Mutex<Arena>] {
        static ARENAS: OnceLock<Box<[Mutex<Arena>]>> = OnceLock::new();
        ARENAS.get_or_init(|| {
            (0..thread_slot::max_exclusive())
                .map(|_| Mutex::default())
                .collect()
        })
    }

    impl Arena {
        fn class(&mut self, words: usize) -> &mut Class {
            let i = match self.classes.iter().position(|c| c.words == words) {
                Some(i) => i,
                None => {
                    self.classes.push(Class {
                        words,
                        chunks: Vec::new(),
                        used: 0,
                        free: Vec::new(),
                    });
                    self.classes.len() - 1
                }
            };
            &mut self.classes[i]
        }
    }

    impl Class {
        fn alloc(&mut self) -> NonNull<AtomicU64> {
            if let Some(cell) = self.free.pop() {
                for i in 0..self.words {
                    // SAFETY: a freed cell is `words` words inside a live chunk, and nobody
                    // else can reach it: its series is gone.
                    unsafe { cell.add(i).as_ref() }.store(0, Ordering::Relaxed);
                }
                return cell;
            }
            let room = self.chunks.last().map_or(0, |c| c.len() * LINE_WORDS) - self.used;
            if room < self.words {
                let lines = (self
                    .chunks
                    .last()
                    .map_or(FIRST_CHUNK_LINES / 2, |c| c.len())
                    * 2)
                .clamp(FIRST_CHUNK_LINES, MAX_CHUNK_LINES)
                .max(self.words.div_ceil(LINE_WORDS));
                self.chunks.push(
                    (0..lines)
                        .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
                        .collect(),
                );
                self.used = 0;
            }
            let chunk = self.chunks.last().expect("a chunk with room");
            // SAFETY: `used + words` fits in the chunk (checked above), and the pointer keeps
            // the provenance of the whole chunk.
            let cell = unsafe { chunk.as_ptr().cast::<AtomicU64>().add(self.used) };
            self.used += self.words;
            NonNull::new(cell.cast_mut()).expect("chunk pointers are not null")
        }
    }

    /// `words` zeroed words for thread slot `slot` (below [`thread_slot::max_exclusive`]).
    pub(crate) fn alloc(slot: u32, words: usize) -> NonNull<AtomicU64> {
        assert!(words > 0, "an empty cell");
        arenas()[slot as usize].lock().class(words).alloc()
    }

    /// Gives back a cell [`alloc`] returned.
    ///
    /// # Safety
    ///
    /// `cell` must come from `alloc(slot, words)` and not be reachable any more.
    pub(crate) unsafe fn free(slot: u32, cell: NonNull<AtomicU64>, words: usize) {
        arenas()[slot as usize].lock().class(words).free.push(cell);
    }

    /// Bytes of chunk memory slot `slot` holds for cells of `words` words, and how many of
    /// its cells are free.
    #[cfg(test)]
    pub(crate) fn usage(slot: u32, words: usize) -> (usize, usize) {
        let mut arena = arenas()[slot as usize].lock();
        let class = arena.class(words);
        (
            class
                .chunks
                .iter()
                .map(|c| std::mem::size_of_val(&**c))
                .sum(),
            class.free.len(),
        )
    }
}

/// Under loom every cell is a box of its own: the protocols are what the model checks, and
/// loom's atomics cannot outlive one model run in a static arena.
#[cfg(loom)]
pub(crate) fn alloc(_slot: u32, words: usize) -> NonNull<AtomicU64> {
    let cells: Box<[AtomicU64]> = (0..words).map(|_| AtomicU64::new(0)).collect();
    NonNull::new(Box::into_raw(cells).cast::<AtomicU64>()).expect("boxes are not null")
}

/// # Safety
///
/// `cell` must come from `alloc(_, words)` and not be reachable any more.
#[cfg(loom)]
pub(crate) unsafe fn free(_slot: u32, cell: NonNull<AtomicU64>, words: usize) {
    let slice = std::ptr::slice_from_raw_parts_mut(cell.as_ptr(), words);
    // SAFETY: `alloc` leaked a boxed slice of exactly `words` words here.
    drop(unsafe { Box::from_raw(slice) });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::imp::usage;
    use super::*;
    use crate::sync::Ordering;

    /// The highest slot (the one a live thread of the test binary is least likely to hold).
    /// The cell sizes below (2 and 3 words) are ones no metric uses, so the counts are ours.
    fn private_slot() -> u32 {
        crate::thread_slot::max_exclusive() - 1
    }

    #[test]
    fn cells_of_one_slot_are_packed_and_reused_zeroed() {
        let slot = private_slot();
        let words = 3;
        let (before, _) = usage(slot, words);
        let a = alloc(slot, words);
        let b = alloc(slot, words);
        // SAFETY: `a` and `b` are live cells of 3 words.
        unsafe {
            assert_eq!(b.as_ptr().offset_from(a.as_ptr()), 3, "packed, no padding");
            a.as_ref().store(7, Ordering::Relaxed);
            a.add(2).as_ref().store(9, Ordering::Relaxed);
        }
        // SAFETY: `a` is no longer used.
        unsafe { free(slot, a, words) };
        assert_eq!(usage(slot, words).1, 1);
        let c = alloc(slot, words);
        assert_eq!(c, a, "a freed cell is reused first");
        // SAFETY: `c` is a live cell of 3 words.
        unsafe {
            assert_eq!(
                c.as_ref().load(Ordering::Relaxed),
                0,
                "and handed out zeroed"
            );
            assert_eq!(c.add(2).as_ref().load(Ordering::Relaxed), 0);
        }
        let (after, _) = usage(slot, words);
        assert!(after - before <= FIRST_CHUNK_LINES * 128 * 2);
        // SAFETY: neither is used any more.
        unsafe {
            free(slot, b, words);
            free(slot, c, words);
        }
    }

    #[test]
    fn chunks_grow_and_cells_never_straddle_them() {
        let slot = private_slot();
        let words = 2;
        let cells: Vec<_> = (0..200).map(|_| alloc(slot, words)).collect();
        let mut sorted: Vec<usize> = cells.iter().map(|c| c.as_ptr() as usize).collect();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            assert!(w[1] - w[0] >= words * 8, "cells overlap");
        }
        let (bytes, _) = usage(slot, words);
        // 200 cells of 16 bytes: the doubling chunks hold them with less than 2x slack.
        assert!(bytes < 2 * 200 * 16 + FIRST_CHUNK_LINES * 128, "{bytes}");
        for c in cells {
            // SAFETY: unused from here on.
            unsafe { free(slot, c, words) };
        }
    }
}
