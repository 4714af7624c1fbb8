//! One thread's share of a histogram, in two halves so a reader sees whole observations.
//!
//! The algorithm is client_golang's hot/cold scheme, per shard. A shard holds a word
//! `started` whose top bit selects the *hot* half and whose other bits count observations
//! begun; each half holds a completion count, a sum and the bucket counts. An observation:
//!
//! 1. `started.fetch_add(1)`: picks the hot half and counts itself, atomically;
//! 2. adds 1 to its bucket and `v` to the sum of that half;
//! 3. adds 1 to the half's completion count, with release ordering.
//!
//! The reader (one at a time, under the series' collect lock) flips the top bit, so new
//! observations go to the other half; waits until the now-cold half's completion count equals
//! the observations begun on it since the last read (only in-flight ones are missing, and they
//! finish without waiting on anyone); adds the half into its running totals; and zeroes it for
//! its next turn. Totals therefore hold exactly the observations begun before the flip, so count,
//! sum and buckets always agree.
//!
//! Steps 2 and 3 are plain loads and stores when the shard belongs to one thread
//! ([`Access::Exclusive`]): the reader never writes the hot half. Only step 1 is a
//! read-modify-write, because the reader's flip races with it. Shards shared by several
//! threads use atomic adds in steps 2 and 3.

use crossbeam_utils::CachePadded;

use crate::cell::{Access, add_f64};
use crate::sync::{AtomicU64, Ordering, spin_wait};

const HOT_BIT: u64 = 1 << 63;
const WORDS_PER_LINE: usize = 16;
/// Word 0: hot bit and observations begun. Word 1: observations begun as of the last read
/// (reader-only). Then each half: completion count, sum bits, one count per bucket.
const STARTED: usize = 0;
const ABSORBED: usize = 1;
const HALVES: usize = 2;

#[cfg(not(loom))]
const _: () =
    assert!(std::mem::size_of::<CachePadded<[AtomicU64; WORDS_PER_LINE]>>() == 8 * WORDS_PER_LINE);

/// A histogram shard with `buckets` buckets (the `+Inf` one included).
pub struct Shard {
    buckets: usize,
    lines: Box<[CachePadded<[AtomicU64; WORDS_PER_LINE]>]>,
}

/// What a reader has gathered from the shards of one series so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    /// Per bucket, not cumulative; the last is `+Inf`.
    pub(crate) buckets: Vec<u64>,
}

impl Totals {
    pub(crate) fn new(buckets: usize) -> Self {
        Totals {
            count: 0,
            sum: 0.0,
            buckets: vec![0; buckets],
        }
    }
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("buckets", &self.buckets)
            .finish_non_exhaustive()
    }
}

impl Shard {
    pub(crate) fn new(buckets: usize) -> Self {
        let words = HALVES + 2 * (buckets + 2);
        let lines = words.div_ceil(WORDS_PER_LINE);
        Shard {
            buckets,
            lines: (0..lines)
                .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    #[inline(always)]
    fn word(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i < self.lines.len() * WORDS_PER_LINE);
        #[cfg(not(loom))]
        {
            // SAFETY: a line is exactly 16 words with no padding (checked at compile time
            // below), so the lines form one contiguous array of words; `new` allocates enough
            // lines for every index this module computes.
            unsafe { &*self.lines.as_ptr().cast::<AtomicU64>().add(i) }
        }
        #[cfg(loom)]
        {
            &self.lines[i / WORDS_PER_LINE][i % WORDS_PER_LINE]
        }
    }

    #[inline(always)]
    fn half(&self, hot: u64) -> usize {
        HALVES + (hot as usize) * (self.buckets + 2)
    }

    /// Records `n` observations of `v` in bucket `bucket` as one step: a reader sees all of
    /// them or none.
    #[inline(always)]
    pub(crate) fn observe_many(&self, bucket: usize, v: f64, n: u64, access: Access) {
        debug_assert!(bucket < self.buckets);
        let begun = self.word(STARTED).fetch_add(n, Ordering::Acquire);
        let half = self.half(begun >> 63);
        let (count, sum, slot) = (
            self.word(half),
            self.word(half + 1),
            self.word(half + 2 + bucket),
        );
        let added = if n == 1 { v } else { v * n as f64 };
        match access {
            Access::Exclusive => {
                slot.store(slot.load(Ordering::Relaxed) + n, Ordering::Relaxed);
                add_f64(sum, added, access);
                count.store(count.load(Ordering::Relaxed) + n, Ordering::Release);
            }
            Access::Shared => {
                slot.fetch_add(n, Ordering::Relaxed);
                add_f64(sum, added, access);
                count.fetch_add(n, Ordering::Release);
            }
        }
    }

    /// Moves every observation begun so far into `totals`. Callers serialise readers.
    pub(crate) fn drain_into(&self, totals: &mut Totals) {
        debug_assert_eq!(totals.buckets.len(), self.buckets);
        let before = self.word(STARTED).fetch_add(HOT_BIT, Ordering::AcqRel);
        let begun = before & !HOT_BIT;
        let cold = self.half(before >> 63);
        let expected = begun - self.word(ABSORBED).load(Ordering::Relaxed);
        let count = self.word(cold);
        while count.load(Ordering::Acquire) != expected {
            spin_wait();
        }
        let sum = self.word(cold + 1);
        totals.count += expected;
        totals.sum += f64::from_bits(sum.load(Ordering::Relaxed));
        for (i, total) in totals.buckets.iter_mut().enumerate() {
            let slot = self.word(cold + 2 + i);
            *total += slot.load(Ordering::Relaxed);
            slot.store(0, Ordering::Relaxed);
        }
        sum.store(0, Ordering::Relaxed);
        count.store(0, Ordering::Relaxed);
        self.word(ABSORBED).store(begun, Ordering::Relaxed);
        // The zeroed half is published to its next writers by the next flip (AcqRel above),
        // which their `fetch_add(Acquire)` on STARTED reads.
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn drains_whole_observations_and_starts_over() {
        let s = Shard::new(3);
        s.observe_many(0, 0.5, 1, Access::Exclusive);
        s.observe_many(2, 10.0, 1, Access::Exclusive);
        let mut t = Totals::new(3);
        s.drain_into(&mut t);
        assert_eq!(
            t,
            Totals {
                count: 2,
                sum: 10.5,
                buckets: vec![1, 0, 1]
            }
        );
        s.observe_many(1, 1.0, 1, Access::Shared);
        s.drain_into(&mut t);
        assert_eq!(
            t,
            Totals {
                count: 3,
                sum: 11.5,
                buckets: vec![1, 1, 1]
            }
        );
        s.drain_into(&mut t);
        assert_eq!(t.count, 3, "nothing new, nothing added");
    }

    #[test]
    fn reader_totals_stay_consistent_under_writers() {
        let s = Shard::new(4);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for w in 0..2u32 {
                let (s, stop) = (&s, &stop);
                scope.spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        s.observe_many((i % 4) as usize, 1.0 + w as f64, 1, Access::Shared);
                        i += 1;
                    }
                });
            }
            let mut t = Totals::new(4);
            for _ in 0..2_000 {
                s.drain_into(&mut t);
                assert_eq!(t.count, t.buckets.iter().sum::<u64>());
                assert!(t.sum >= t.count as f64 && t.sum <= 2.0 * t.count as f64);
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
}
