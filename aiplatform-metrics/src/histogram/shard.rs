//! One thread's share of a histogram, written so that a reader always sees whole observations.
//!
//! A shard has two ways to record, each giving the reader a consistent view:
//!
//! **Running totals under a sequence word** (the owner thread's path, no read-modify-write).
//! Only one thread writes an exclusive shard, so it keeps cumulative count, sum and buckets and
//! brackets each update with two stores to a sequence word (odd while writing), a seqlock. The
//! reader copies the totals and keeps the copy only if the sequence word was even and
//! unchanged around it. A writer in a tight loop could make every copy fail, so after a few
//! failed tries the reader raises `PAUSE`: the writer then records into the halves below
//! instead, the running totals stop moving, and the next copy succeeds. The reader lowers
//! `PAUSE` when it is done.
//!
//! **Two halves** (client_golang's hot/cold scheme), for shards several threads write and for
//! the owner while `PAUSE` is up. A word `started` holds the hot half's index in its top bit
//! and counts observations begun; each half holds a completion count, a sum and the buckets.
//! An observation: `started.fetch_add(1)` (picks the hot half and counts itself), adds to its
//! bucket and sum, then adds 1 to the half's completion count with release ordering. The
//! reader flips the top bit, waits until the cold half's completion count equals the
//! observations begun on it since its last read (only in-flight ones are missing, and they
//! finish without waiting on anyone), adds the half into what it has drained so far, and zeroes
//! it for its next turn.
//!
//! Every observation lands whole in one place, and the reader takes a prefix of each, so
//! count, sum and buckets always agree. The owner's common path costs loads and stores on
//! lines only it writes: about the price of a counter increment plus the bucket search.

use crossbeam_utils::CachePadded;

use crate::cell::{Access, add_f64};
use crate::sync::{AtomicU64, Ordering, fence, spin_hint, spin_wait};

const HOT_BIT: u64 = 1 << 63;
const WORDS_PER_LINE: usize = 16;
/// Word 0: the exclusive writer's sequence (odd while it writes). Word 1: nonzero while the
/// reader asks the exclusive writer to use the halves. Then the running totals (count, sum
/// bits, one count per bucket). Then `started` (hot bit and observations begun), the
/// observations begun as of the last drain (reader-only), and the two halves (completion
/// count, sum bits, buckets).
const SEQ: usize = 0;
const PAUSE: usize = 1;
const RUNNING: usize = 2;

/// Failed copies of the running totals before the reader raises `PAUSE`.
const TRIES_BEFORE_PAUSE: u32 = if cfg!(loom) { 1 } else { 4 };
/// Failed copies the reader retries at once (the writer's step is a few instructions) before
/// it yields the CPU, in case the writer was preempted mid-step.
const TRIES_BEFORE_YIELD: u32 = 64;

#[cfg(not(loom))]
const _: () =
    assert!(std::mem::size_of::<CachePadded<[AtomicU64; WORDS_PER_LINE]>>() == 8 * WORDS_PER_LINE);

/// A histogram shard with `buckets` buckets (the `+Inf` one included).
pub struct Shard {
    buckets: usize,
    lines: Box<[CachePadded<[AtomicU64; WORDS_PER_LINE]>]>,
}

/// Observations: a count, a sum and per-bucket counts (not cumulative; the last is `+Inf`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) count: u64,
    pub(crate) sum: f64,
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

    fn clear(&mut self) {
        self.count = 0;
        self.sum = 0.0;
        self.buckets.fill(0);
    }

    fn add(&mut self, other: &Totals) {
        self.count += other.count;
        self.sum += other.sum;
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }
}

/// The state of a series' one reader (callers serialise reads): what it has drained from the
/// halves so far, and the result of its latest read.
#[derive(Debug)]
pub(crate) struct Reader {
    drained: Totals,
    view: Totals,
    /// One copy attempt of a shard's running totals.
    copy: Totals,
}

impl Reader {
    pub(crate) fn new(buckets: usize) -> Self {
        Reader {
            drained: Totals::new(buckets),
            view: Totals::new(buckets),
            copy: Totals::new(buckets),
        }
    }

    /// Reads every shard `for_each` hands over into one consistent total; allocates nothing.
    pub(crate) fn read(&mut self, for_each: impl FnOnce(&mut dyn FnMut(&Shard))) -> &Totals {
        self.view.clear();
        for_each(&mut |shard| shard.read_into(self));
        self.view.add(&self.drained);
        &self.view
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
        let words = RUNNING + 3 * (buckets + 2) + 2;
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
            // above), so the lines form one contiguous array of words; `new` allocates enough
            // lines for every index this module computes.
            unsafe { &*self.lines.as_ptr().cast::<AtomicU64>().add(i) }
        }
        #[cfg(loom)]
        {
            &self.lines[i / WORDS_PER_LINE][i % WORDS_PER_LINE]
        }
    }

    #[inline(always)]
    fn started(&self) -> usize {
        RUNNING + self.buckets + 2
    }

    #[inline(always)]
    fn absorbed(&self) -> usize {
        self.started() + 1
    }

    #[inline(always)]
    fn half(&self, hot: u64) -> usize {
        self.started() + 2 + (hot as usize) * (self.buckets + 2)
    }

    /// Records `n` observations of `v` in bucket `bucket` as one step: a reader sees all of
    /// them or none.
    #[inline(always)]
    pub(crate) fn observe_many(&self, bucket: usize, v: f64, n: u64, access: Access) {
        debug_assert!(bucket < self.buckets);
        let added = if n == 1 { v } else { v * n as f64 };
        if access == Access::Exclusive && self.word(PAUSE).load(Ordering::Relaxed) == 0 {
            let seq = self.word(SEQ);
            let s = seq.load(Ordering::Relaxed);
            seq.store(s + 1, Ordering::Relaxed);
            fence(Ordering::Release);
            let (count, sum, slot) = (
                self.word(RUNNING),
                self.word(RUNNING + 1),
                self.word(RUNNING + 2 + bucket),
            );
            slot.store(slot.load(Ordering::Relaxed) + n, Ordering::Relaxed);
            add_f64(sum, added, access);
            count.store(count.load(Ordering::Relaxed) + n, Ordering::Relaxed);
            seq.store(s + 2, Ordering::Release);
            return;
        }
        self.observe_in_halves(bucket, added, n, access);
    }

    #[cold]
    #[inline(never)]
    fn observe_in_halves(&self, bucket: usize, added: f64, n: u64, access: Access) {
        let begun = self.word(self.started()).fetch_add(n, Ordering::Acquire);
        let half = self.half(begun >> 63);
        let (count, sum, slot) = (
            self.word(half),
            self.word(half + 1),
            self.word(half + 2 + bucket),
        );
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

    /// Adds this shard's running totals to `reader.view` and drains its halves into
    /// `reader.drained`.
    fn read_into(&self, reader: &mut Reader) {
        let seq = self.word(SEQ);
        let copy = &mut reader.copy;
        let mut failed = 0;
        loop {
            let before = seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                copy.count = self.word(RUNNING).load(Ordering::Relaxed);
                copy.sum = f64::from_bits(self.word(RUNNING + 1).load(Ordering::Relaxed));
                for (i, b) in copy.buckets.iter_mut().enumerate() {
                    *b = self.word(RUNNING + 2 + i).load(Ordering::Relaxed);
                }
                fence(Ordering::Acquire);
                if seq.load(Ordering::Relaxed) == before {
                    break;
                }
            }
            failed += 1;
            if failed == TRIES_BEFORE_PAUSE {
                self.word(PAUSE).store(1, Ordering::Relaxed);
            }
            if failed < TRIES_BEFORE_YIELD {
                spin_hint();
            } else {
                spin_wait();
            }
        }
        reader.view.add(copy);
        self.drain_halves_into(&mut reader.drained);
        if failed >= TRIES_BEFORE_PAUSE {
            self.word(PAUSE).store(0, Ordering::Relaxed);
        }
    }

    /// Moves every observation begun in the halves so far into `totals`.
    fn drain_halves_into(&self, totals: &mut Totals) {
        debug_assert_eq!(totals.buckets.len(), self.buckets);
        let absorbed = self.word(self.absorbed()).load(Ordering::Relaxed);
        if self.word(self.started()).load(Ordering::Relaxed) & !HOT_BIT == absorbed {
            // Nothing begun since the last drain: skip the flip, which would take the line
            // from a writer. One that begins now is a later observation, drained next time.
            return;
        }
        let before = self
            .word(self.started())
            .fetch_add(HOT_BIT, Ordering::AcqRel);
        let begun = before & !HOT_BIT;
        let cold = self.half(before >> 63);
        let expected = begun - absorbed;
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
        self.word(self.absorbed()).store(begun, Ordering::Relaxed);
        // The zeroed half is published to its next writers by the next flip (AcqRel above),
        // which their `fetch_add(Acquire)` on `started` reads.
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn read(shard: &Shard, reader: &mut Reader) -> Totals {
        reader.read(|visit| visit(shard)).clone()
    }

    #[test]
    fn reads_whole_observations_from_both_paths() {
        let s = Shard::new(3);
        let mut r = Reader::new(3);
        s.observe_many(0, 0.5, 1, Access::Exclusive);
        s.observe_many(2, 10.0, 1, Access::Exclusive);
        let want = Totals {
            count: 2,
            sum: 10.5,
            buckets: vec![1, 0, 1],
        };
        assert_eq!(read(&s, &mut r), want);
        assert_eq!(read(&s, &mut r), want, "reading twice counts nothing twice");
        s.observe_many(1, 1.0, 1, Access::Shared);
        s.word(PAUSE).store(1, Ordering::Relaxed);
        s.observe_many(1, 2.0, 2, Access::Exclusive);
        s.word(PAUSE).store(0, Ordering::Relaxed);
        let want = Totals {
            count: 5,
            sum: 15.5,
            buckets: vec![1, 3, 1],
        };
        assert_eq!(read(&s, &mut r), want);
        assert_eq!(read(&s, &mut r), want);
    }

    #[test]
    fn reader_totals_stay_consistent_under_writers() {
        let shared = Shard::new(4);
        let owned = Shard::new(4);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for w in 0..3u32 {
                let (shared, owned, stop) = (&shared, &owned, &stop);
                scope.spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let (shard, access) = match w {
                            0 => (owned, Access::Exclusive),
                            _ => (shared, Access::Shared),
                        };
                        shard.observe_many((i % 4) as usize, 1.0 + w as f64, 1, access);
                        i += 1;
                    }
                });
            }
            let mut r = Reader::new(4);
            let mut last = 0;
            for _ in 0..500 {
                let t = r.read(|visit| {
                    visit(&owned);
                    visit(&shared);
                });
                assert_eq!(t.count, t.buckets.iter().sum::<u64>());
                assert!(t.sum >= t.count as f64 && t.sum <= 3.0 * t.count as f64);
                assert!(t.count >= last, "totals never go back");
                last = t.count;
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(
            owned.word(PAUSE).load(Ordering::Relaxed),
            0,
            "pause lowered"
        );
    }
}
