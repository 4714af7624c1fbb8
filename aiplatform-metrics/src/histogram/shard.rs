//! Where histogram observations land, written so that a reader always sees whole observations.
//!
//! A histogram series records in two kinds of place, each giving the reader a consistent view:
//!
//! **Running totals under a sequence word** ([`Running`]): the series' home cell and the own
//! cells of threads that keep writing it. Only one thread writes such a cell, so it keeps
//! cumulative count, sum and buckets and brackets each update with two stores to a sequence
//! word (odd while writing), a seqlock. The reader copies the totals and keeps the copy only if
//! the sequence word was even and unchanged around it. A writer in a tight loop could make
//! every copy fail, so after a few failed tries the reader raises `PAUSE`: the writer then
//! records into the shared halves below instead, the running totals stop moving, and the next
//! copy succeeds. The reader lowers `PAUSE` once it has its copy.
//!
//! **Two shared halves** ([`Shared`], client_golang's hot/cold scheme), for every other writer
//! and for a paused one. A word `started` holds the hot half's index in its top bit and counts
//! observations begun; each half holds a completion count, a sum and the buckets. An
//! observation: `started.fetch_add(n)` (picks the hot half and counts itself), adds to its
//! bucket and sum, then adds `n` to the half's completion count with release ordering. The
//! reader flips the top bit, waits until the cold half's completion count equals the
//! observations begun in all (only in-flight ones are missing, and they finish without waiting
//! on anyone), reads the cold half, which then holds every shared observation begun before the
//! flip, adds it into the hot half and zeroes it for its next turn. When nothing was begun since
//! its last flip, the reader instead copies the hot half without flipping, validating the copy
//! against `started` as a seqlock would: a collection then takes no line from the writers.
//!
//! Every observation lands whole in one place, and the reader takes a prefix of each, so
//! count, sum and buckets always agree. The owner's common path costs loads and stores on
//! lines only it writes: about the price of a counter increment plus the bucket search.

use crate::cell::{Access, add_f64};
use crate::sync::{AtomicU64, Ordering, fence, spin_hint, spin_wait};

/// Running totals: word 0 is the writer's sequence (odd while it writes), word 1 is nonzero
/// while the reader asks the writer to use the shared halves; then count, sum bits, and one
/// count per bucket.
const SEQ: usize = 0;
const PAUSE: usize = 1;
const COUNT: usize = 2;
const SUM: usize = 3;
const FIRST_BUCKET: usize = 4;

/// The shared part: word 0 serialises readers, word 1 is `started` (hot bit and observations
/// begun), word 2 is the observations begun as of the last flip (reader-only); then the two
/// halves, each a completion count, sum bits and one count per bucket.
const LOCK: usize = 0;
const STARTED: usize = 1;
const ABSORBED: usize = 2;
const HALVES: usize = 3;

const HOT_BIT: u64 = 1 << 63;

/// Failed copies of the running totals before the reader raises `PAUSE`.
const TRIES_BEFORE_PAUSE: u32 = if cfg!(loom) { 1 } else { 4 };
/// Failed copies the reader retries at once (the writer's step is a few instructions) before
/// it yields the CPU, in case the writer was preempted mid-step.
const TRIES_BEFORE_YIELD: u32 = 64;

/// Words of a running-totals cell for `buckets` buckets (the `+Inf` one included).
pub(crate) const fn running_words(buckets: usize) -> usize {
    FIRST_BUCKET + buckets
}

/// Words of the shared part for `buckets` buckets.
pub(crate) const fn shared_words(buckets: usize) -> usize {
    HALVES + 2 * (2 + buckets)
}

/// Observations a reader has added up: a count, a sum and per-bucket counts (not cumulative;
/// the last is `+Inf`).
#[derive(Debug)]
pub(crate) struct Acc<'a> {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) buckets: &'a mut [u64],
}

impl Acc<'_> {
    fn add(&mut self, count: u64, sum: f64, buckets: &[u64]) {
        self.count += count;
        self.sum += sum;
        for (a, b) in self.buckets.iter_mut().zip(buckets) {
            *a += b;
        }
    }
}

/// A cell of running totals that one thread at a time writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Running<'a> {
    words: &'a [AtomicU64],
}

impl<'a> Running<'a> {
    /// The cell made of `words` ([`running_words`] of them).
    #[inline(always)]
    pub(crate) fn new(words: &'a [AtomicU64]) -> Self {
        debug_assert!(words.len() > FIRST_BUCKET);
        Running { words }
    }

    /// The cell at `first`.
    ///
    /// # Safety
    ///
    /// `first` must point at [`running_words`]`(buckets)` words that stay allocated for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn from_raw(first: *const AtomicU64, buckets: usize) -> Self {
        // SAFETY: by the caller's contract.
        Running::new(unsafe { std::slice::from_raw_parts(first, running_words(buckets)) })
    }

    #[inline(always)]
    fn word(&self, i: usize) -> &'a AtomicU64 {
        debug_assert!(i < self.words.len());
        // SAFETY: every index this module computes is below `running_words(buckets)`, the
        // length of `words` (callers pass bucket indexes below `buckets`).
        unsafe { self.words.get_unchecked(i) }
    }

    fn buckets(&self) -> usize {
        self.words.len() - FIRST_BUCKET
    }

    /// Records `n` observations summing to `added` in `bucket` as one step (a reader sees all
    /// of them or none), unless the reader asked this cell's writer to step aside: then returns
    /// false and records nothing. Only the thread the cell belongs to may call it.
    #[inline(always)]
    pub(crate) fn observe(&self, bucket: usize, added: f64, n: u64) -> bool {
        debug_assert!(bucket < self.buckets());
        if self.word(PAUSE).load(Ordering::Relaxed) != 0 {
            return false;
        }
        let seq = self.word(SEQ);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let (count, sum, slot) = (
            self.word(COUNT),
            self.word(SUM),
            self.word(FIRST_BUCKET + bucket),
        );
        slot.store(slot.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        add_f64(sum, added, Access::Exclusive);
        count.store(count.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        seq.store(s + 2, Ordering::Release);
        true
    }

    /// Adds a consistent copy of the totals to `acc`; `copy` (one entry per bucket) is
    /// scratch.
    pub(crate) fn read_into(&self, acc: &mut Acc<'_>, copy: &mut [u64]) {
        let seq = self.word(SEQ);
        let mut failed = 0;
        let (count, sum) = loop {
            let before = seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let count = self.word(COUNT).load(Ordering::Relaxed);
                let sum = f64::from_bits(self.word(SUM).load(Ordering::Relaxed));
                for (i, b) in copy.iter_mut().enumerate() {
                    *b = self.word(FIRST_BUCKET + i).load(Ordering::Relaxed);
                }
                fence(Ordering::Acquire);
                if seq.load(Ordering::Relaxed) == before {
                    break (count, sum);
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
        };
        if failed >= TRIES_BEFORE_PAUSE {
            // The copy is taken: observations from now on are later ones, wherever they land.
            self.word(PAUSE).store(0, Ordering::Relaxed);
        }
        acc.add(count, sum, copy);
    }

    /// Whether the reader currently asks this cell's writer to step aside.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn paused(&self) -> bool {
        self.word(PAUSE).load(Ordering::Relaxed) != 0
    }

    /// Raises or lowers the reader's request (tests only).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn set_paused(&self, paused: bool) {
        self.word(PAUSE).store(u64::from(paused), Ordering::Relaxed);
    }
}

/// The part of a histogram series every thread without a cell of its own writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shared<'a> {
    words: &'a [AtomicU64],
    buckets: usize,
}

/// Held by the one reader of a series at a time.
#[derive(Debug)]
pub(crate) struct ReadLock<'a>(&'a AtomicU64);

impl Drop for ReadLock<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

impl<'a> Shared<'a> {
    /// The shared part made of `words` ([`shared_words`]`(buckets)` of them).
    #[inline(always)]
    pub(crate) fn new(words: &'a [AtomicU64], buckets: usize) -> Self {
        debug_assert_eq!(words.len(), shared_words(buckets));
        Shared { words, buckets }
    }

    #[inline(always)]
    fn word(&self, i: usize) -> &'a AtomicU64 {
        debug_assert!(i < self.words.len());
        // SAFETY: every index this module computes is below `shared_words(buckets)`.
        unsafe { self.words.get_unchecked(i) }
    }

    #[inline(always)]
    fn half(&self, hot: u64) -> usize {
        HALVES + (hot as usize) * (2 + self.buckets)
    }

    /// Records `n` observations summing to `added` in `bucket`, from any thread.
    #[inline(never)]
    pub(crate) fn observe(&self, bucket: usize, added: f64, n: u64) {
        debug_assert!(bucket < self.buckets);
        let begun = self.word(STARTED).fetch_add(n, Ordering::Acquire);
        // As a seqlock writer: a reader that copies the hot half without flipping validates
        // its copy against `started`, so what follows must not be seen before the increment.
        fence(Ordering::Release);
        let half = self.half(begun >> 63);
        self.word(half + 2 + bucket).fetch_add(n, Ordering::Relaxed);
        add_f64(self.word(half + 1), added, Access::Shared);
        self.word(half).fetch_add(n, Ordering::Release);
    }

    /// Waits until no other reader of this series is reading.
    pub(crate) fn lock(&self) -> ReadLock<'a> {
        let lock = self.word(LOCK);
        while lock
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_wait();
        }
        ReadLock(lock)
    }

    /// Adds every shared observation begun so far to `acc`, whole; `copy` (one entry per
    /// bucket) is scratch. The caller holds the read lock.
    pub(crate) fn read_into(&self, _lock: &ReadLock<'_>, acc: &mut Acc<'_>, copy: &mut [u64]) {
        debug_assert_eq!(copy.len(), self.buckets);
        let started = self.word(STARTED);
        let absorbed = self.word(ABSORBED).load(Ordering::Relaxed);
        let first = started.load(Ordering::Acquire);
        if first & !HOT_BIT == absorbed {
            if absorbed == 0 {
                return; // never written
            }
            // Nothing begun since the last flip: the hot half holds every observation.
            let hot = self.half(first >> 63);
            let count = self.word(hot).load(Ordering::Relaxed);
            let sum = f64::from_bits(self.word(hot + 1).load(Ordering::Relaxed));
            for (i, b) in copy.iter_mut().enumerate() {
                *b = self.word(hot + 2 + i).load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if started.load(Ordering::Relaxed) == first {
                debug_assert_eq!(count, absorbed);
                acc.add(count, sum, copy);
                return;
            }
            // A writer began meanwhile; flip after all.
        }
        let before = started.fetch_add(HOT_BIT, Ordering::AcqRel);
        let begun = before & !HOT_BIT;
        let cold = self.half(before >> 63);
        let hot = self.half((before >> 63) ^ 1);
        let count = self.word(cold);
        while count.load(Ordering::Acquire) != begun {
            spin_wait();
        }
        let sum = self.word(cold + 1);
        let sum_value = f64::from_bits(sum.load(Ordering::Relaxed));
        acc.count += begun;
        acc.sum += sum_value;
        for (i, total) in acc.buckets.iter_mut().enumerate() {
            let slot = self.word(cold + 2 + i);
            let v = slot.load(Ordering::Relaxed);
            if v != 0 {
                *total += v;
                self.word(hot + 2 + i).fetch_add(v, Ordering::Relaxed);
                slot.store(0, Ordering::Relaxed);
            }
        }
        add_f64(self.word(hot + 1), sum_value, Access::Shared);
        sum.store(0, Ordering::Relaxed);
        // The hot half now holds every observation begun before the flip, plus those begun
        // since; at the next flip its completion count reaches the new total.
        self.word(hot).fetch_add(begun, Ordering::Relaxed);
        count.store(0, Ordering::Relaxed);
        self.word(ABSORBED).store(begun, Ordering::Relaxed);
        // The zeroed half is published to its next writers by the next flip (AcqRel above),
        // which their `fetch_add(Acquire)` on `started` reads.
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn words(n: usize) -> Box<[AtomicU64]> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    /// Count, sum and buckets of one running cell plus a shared part, read once.
    fn read(running: &Running<'_>, shared: &Shared<'_>) -> (u64, f64, Vec<u64>) {
        let b = shared.buckets;
        let (mut view, mut copy) = (vec![0; b], vec![0; b]);
        let mut acc = Acc {
            count: 0,
            sum: 0.0,
            buckets: &mut view,
        };
        let lock = shared.lock();
        running.read_into(&mut acc, &mut copy);
        shared.read_into(&lock, &mut acc, &mut copy);
        let (count, sum) = (acc.count, acc.sum);
        (count, sum, view)
    }

    #[test]
    fn reads_whole_observations_from_both_paths() {
        let (rw, sw) = (words(running_words(3)), words(shared_words(3)));
        let (r, s) = (Running::new(&rw), Shared::new(&sw, 3));
        assert!(r.observe(0, 0.5, 1));
        assert!(r.observe(2, 10.0, 1));
        assert_eq!(read(&r, &s), (2, 10.5, vec![1, 0, 1]));
        assert_eq!(
            read(&r, &s),
            (2, 10.5, vec![1, 0, 1]),
            "nothing counted twice"
        );
        s.observe(1, 1.0, 1);
        r.set_paused(true);
        assert!(!r.observe(1, 4.0, 2), "a paused writer steps aside");
        s.observe(1, 4.0, 2);
        r.set_paused(false);
        let want = (5, 15.5, vec![1, 3, 1]);
        assert_eq!(
            read(&r, &s),
            want,
            "the first read of new shared ones flips"
        );
        assert_eq!(read(&r, &s), want, "the second copies the hot half");
        s.observe(0, 0.25, 1);
        assert_eq!(read(&r, &s), (6, 15.75, vec![2, 3, 1]));
        assert_eq!(read(&r, &s), (6, 15.75, vec![2, 3, 1]));
    }

    #[test]
    fn reader_totals_stay_consistent_under_writers() {
        let (ow, sw) = (words(running_words(4)), words(shared_words(4)));
        let (owned, shared) = (Running::new(&ow), Shared::new(&sw, 4));
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for w in 0..3u32 {
                let stop = &stop;
                scope.spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let v = 1.0 + w as f64;
                        let b = (i % 4) as usize;
                        if w != 0 || !owned.observe(b, v, 1) {
                            shared.observe(b, v, 1);
                        }
                        i += 1;
                    }
                });
            }
            let mut last = 0;
            for _ in 0..500 {
                let (count, sum, buckets) = read(&owned, &shared);
                assert_eq!(count, buckets.iter().sum::<u64>());
                assert!(sum >= count as f64 && sum <= 3.0 * count as f64);
                assert!(count >= last, "totals never go back");
                last = count;
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        assert!(!owned.paused(), "pause lowered");
    }
}
