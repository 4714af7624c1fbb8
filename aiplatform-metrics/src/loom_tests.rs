//! Model checks of the hot-path protocols, run with
//! `RUSTFLAGS="--cfg loom" cargo test -p aiplatform-metrics --release --lib loom`.
//!
//! They cover what relies on acquire/release, fences and read-modify-write ordering: a
//! histogram's running totals (seqlock, with the reader's pause), its shared halves (flip,
//! merge, and the copy without a flip), the per-thread cells (ownership, promotion of a steady
//! writer from the shared cell to a cell of its own, the directory that finds own cells, and a
//! cell passed on with its thread slot). The epoch reader sections rely on a store→load
//! (Dekker) handshake through SeqCst fences, which loom does not model precisely;
//! `tests/concurrency.rs` exercises them with real threads instead, and `tests/thread_cells.rs`
//! runs the arenas and promotion under real threads.
//!
//! Every racing party, readers included, runs on a spawned thread: loom explores fewer
//! interleavings when the model's main thread races the threads it spawned (tokio-rs/loom#166),
//! and a reader on the main thread let a broken seqlock pass.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

use crate::cell::{self, PerThread, Place, add_exclusive, promotion::PROMOTE_AFTER};
use crate::histogram::shard::{Acc, Running, Shared, running_words, shared_words};
use crate::thread_slot::RETIRED;

fn words(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

/// What a read of a histogram saw.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    count: u64,
    sum: f64,
    buckets: Vec<u64>,
}

/// A histogram series as the crate lays it out: home running totals, own cells found through
/// a `PerThread` record, and a shared part.
struct Hist {
    cells: PerThread<AtomicU64>,
    home: Box<[AtomicU64]>,
    shared: Box<[AtomicU64]>,
    buckets: usize,
}

impl Hist {
    fn new(buckets: usize) -> Self {
        Hist {
            cells: PerThread::new(),
            home: words(running_words(buckets)),
            shared: words(shared_words(buckets)),
            buckets,
        }
    }

    fn shared(&self) -> Shared<'_> {
        Shared::new(&self.shared, self.buckets)
    }

    /// What `Histogram::observe` does, as thread slot `slot`.
    fn observe(&self, slot: u32, bucket: usize, v: f64) {
        let buckets = self.buckets;
        let running = match self
            .cells
            .locate(slot, |slot| cell::words(slot, running_words(buckets)))
        {
            Place::Home => Running::new(&self.home),
            // SAFETY: own cells hold `running_words(buckets)` words and live as long as `self`.
            Place::Own(c) => unsafe { Running::from_raw(c.as_ptr(), buckets) },
            Place::Shared => return self.shared().observe(bucket, v, 1),
        };
        if !running.observe(bucket, v, 1) {
            self.shared().observe(bucket, v, 1);
        }
    }

    /// What a collection does: home, own cells, then the shared part, under the read lock.
    fn read(&self) -> Seen {
        let b = self.buckets;
        let (mut view, mut copy) = (vec![0; b], vec![0; b]);
        let mut acc = Acc {
            count: 0,
            sum: 0.0,
            buckets: &mut view,
        };
        let shared = self.shared();
        let lock = shared.lock();
        Running::new(&self.home).read_into(&mut acc, &mut copy);
        self.cells.for_each_own(|_, c| {
            // SAFETY: as in `observe`.
            unsafe { Running::from_raw(c.as_ptr(), b) }.read_into(&mut acc, &mut copy)
        });
        shared.read_into(&lock, &mut acc, &mut copy);
        let (count, sum) = (acc.count, acc.sum);
        drop(lock);
        Seen {
            count,
            sum,
            buckets: view,
        }
    }
}

/// A counter series as the crate lays it out: home word, shared word, own words.
struct Count {
    cells: PerThread<AtomicU64>,
    home: AtomicU64,
    shared: AtomicU64,
}

impl Count {
    fn new() -> Self {
        Count {
            cells: PerThread::new(),
            home: AtomicU64::new(0),
            shared: AtomicU64::new(0),
        }
    }

    /// What `Counter::inc` does, as thread slot `slot`.
    fn inc(&self, slot: u32) {
        match self.cells.locate(slot, |slot| cell::words(slot, 1)) {
            Place::Home => add_exclusive(&self.home, 1),
            // SAFETY: own cells live as long as `self`.
            Place::Own(c) => add_exclusive(unsafe { c.as_ref() }, 1),
            Place::Shared => {
                self.shared.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn total(&self) -> u64 {
        let mut total = self.home.load(Ordering::Relaxed) + self.shared.load(Ordering::Relaxed);
        // SAFETY: as in `inc`.
        self.cells
            .for_each_own(|_, c| total += unsafe { c.as_ref() }.load(Ordering::Relaxed));
        total
    }
}

/// Reads `h` `reads` times on a thread of its own.
fn read_on_thread(h: &Arc<Hist>, reads: usize) -> thread::JoinHandle<Vec<Seen>> {
    let h = h.clone();
    thread::spawn(move || (0..reads).map(|_| h.read()).collect())
}

/// Count, sum and buckets agree, for observations of bucket `i` all equal to `value(i)`.
fn assert_whole(seen: &Seen, value: impl Fn(usize) -> f64) {
    assert_eq!(seen.count, seen.buckets.iter().sum::<u64>(), "{seen:?}");
    let sum: f64 = seen
        .buckets
        .iter()
        .enumerate()
        .map(|(i, &n)| n as f64 * value(i))
        .sum();
    assert_eq!(seen.sum, sum, "{seen:?}");
}

/// The owner's path: the reader copies the running totals (pausing the writer when a copy
/// fails, which sends the second observation to the shared halves) and sees whole
/// observations.
#[test]
fn loom_running_totals_read_sees_whole_observations() {
    loom::model(|| {
        let h = Arc::new(Hist::new(2));
        let writer = {
            let h = h.clone();
            thread::spawn(move || {
                h.observe(0, 0, 1.0);
                h.observe(0, 1, 2.0);
            })
        };
        let seen = read_on_thread(&h, 1).join().unwrap();
        assert_whole(&seen[0], |i| (i + 1) as f64);
        if seen[0].count == 1 {
            assert_eq!(seen[0].buckets, vec![1, 0], "the first one first");
        }
        writer.join().unwrap();
        assert_eq!(
            h.read(),
            Seen {
                count: 2,
                sum: 3.0,
                buckets: vec![1, 1]
            }
        );
    });
}

/// Two reads racing one writer: each is consistent and the second never goes back.
#[test]
fn loom_running_totals_reads_never_go_back() {
    loom::model(|| {
        let h = Arc::new(Hist::new(1));
        h.observe(0, 0, 1.0); // slot 0 owns the home cell
        let writer = {
            let h = h.clone();
            thread::spawn(move || {
                h.observe(0, 0, 1.0);
                h.observe(0, 0, 1.0);
            })
        };
        let seen = read_on_thread(&h, 2).join().unwrap();
        assert!(seen[0].count <= seen[1].count);
        for s in &seen {
            assert_whole(s, |_| 1.0);
        }
        writer.join().unwrap();
        assert_eq!(h.read().count, 3);
    });
}

/// Two threads without cells of their own write the shared halves while a reader flips them.
#[test]
fn loom_shared_halves_two_writers_and_a_reader() {
    loom::model(|| {
        let h = Arc::new(Hist::new(1));
        let writers: Vec<_> = [1.0, 10.0]
            .into_iter()
            .map(|v| {
                let h = h.clone();
                thread::spawn(move || h.shared().observe(0, v, 1))
            })
            .collect();
        let seen = &read_on_thread(&h, 1).join().unwrap()[0];
        assert_eq!(seen.count, seen.buckets[0]);
        let allowed: &[f64] = match seen.count {
            0 => &[0.0],
            1 => &[1.0, 10.0],
            _ => &[11.0],
        };
        assert!(allowed.contains(&seen.sum), "{seen:?}");
        for w in writers {
            w.join().unwrap();
        }
        let want = Seen {
            count: 2,
            sum: 11.0,
            buckets: vec![2],
        };
        assert_eq!(h.read(), want);
        assert_eq!(
            h.read(),
            want,
            "merged into the hot half, nothing counted twice"
        );
    });
}

/// After a flip, a reader copies the hot half without flipping while a writer may begin on
/// it: the copy is validated against `started`, and a flip follows when it fails.
#[test]
fn loom_shared_halves_copy_without_flip_races_a_writer() {
    loom::model(|| {
        let h = Arc::new(Hist::new(2));
        h.shared().observe(0, 1.0, 1);
        assert_eq!(h.read().count, 1); // flips and merges: the next read may copy
        let writer = {
            let h = h.clone();
            thread::spawn(move || h.shared().observe(1, 2.0, 1))
        };
        let seen = read_on_thread(&h, 2).join().unwrap();
        for s in &seen {
            assert_whole(s, |i| (i + 1) as f64);
            assert!((1..=2).contains(&s.count), "{s:?}");
        }
        assert!(seen[0].count <= seen[1].count);
        writer.join().unwrap();
        assert_eq!(
            h.read(),
            Seen {
                count: 2,
                sum: 3.0,
                buckets: vec![1, 1]
            }
        );
    });
}

/// A thread that keeps writing a series it does not own moves from the shared halves to a
/// cell of its own, while a reader reads: every read is whole and nothing is lost.
#[test]
fn loom_histogram_promotion_keeps_reads_whole() {
    loom::model(|| {
        let h = Arc::new(Hist::new(2));
        h.observe(0, 0, 1.0); // slot 0 owns the home cell
        let writer = {
            let h = h.clone();
            thread::spawn(move || {
                for _ in 0..PROMOTE_AFTER {
                    h.observe(1, 1, 2.0);
                }
            })
        };
        let seen = read_on_thread(&h, 1).join().unwrap();
        assert_whole(&seen[0], |i| (i + 1) as f64);
        writer.join().unwrap();
        let n = u64::from(PROMOTE_AFTER);
        let mut own = 0;
        h.cells.for_each_own(|slot, _| {
            assert_eq!(slot, 1);
            own += 1;
        });
        assert_eq!(own, 1, "the steady writer got a cell");
        assert_eq!(
            h.read(),
            Seen {
                count: 1 + n,
                sum: 1.0 + 2.0 * n as f64,
                buckets: vec![1, n]
            }
        );
    });
}

/// Two threads race to own the home cell while a thread without a slot adds to the shared
/// cell and a reader sums: no increment is lost and the sum never goes back.
#[test]
fn loom_counter_cells_lose_nothing() {
    // Four threads: two preemptions keep the run to seconds and still interleave every pair.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let c = Arc::new(Count::new());
        let writers: Vec<_> = [0u32, 1, RETIRED]
            .into_iter()
            .map(|slot| {
                let c = c.clone();
                thread::spawn(move || c.inc(slot))
            })
            .collect();
        let reading = {
            let c = c.clone();
            thread::spawn(move || [c.total(), c.total()])
        };
        let [first, second] = reading.join().unwrap();
        assert!(first <= second && second <= 3);
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(c.total(), 3);
    });
}

/// A steady writer moves from the shared cell to a cell of its own while a reader sums: the
/// sum never goes back and ends exact.
#[test]
fn loom_counter_promotion_loses_nothing() {
    loom::model(|| {
        let c = Arc::new(Count::new());
        c.inc(0); // slot 0 owns the home cell
        let n = u64::from(PROMOTE_AFTER);
        let writer = {
            let c = c.clone();
            thread::spawn(move || {
                for _ in 0..n {
                    c.inc(1);
                }
            })
        };
        let reading = {
            let c = c.clone();
            thread::spawn(move || [c.total(), c.total()])
        };
        let [first, second] = reading.join().unwrap();
        assert!(1 <= first && first <= second && second <= 1 + n);
        writer.join().unwrap();
        assert_eq!(c.total(), 1 + n);
        assert!(matches!(
            c.cells.locate(1, |_| unreachable!()),
            Place::Own(_)
        ));
    });
}

/// Two slots earn cells at the same time: they race to install the directory (and, being in
/// the same chunk, its chunk); each ends up with its own cell and nothing is lost.
#[test]
fn loom_two_promotions_race_to_install_the_directory() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let c = Arc::new(Count::new());
        c.inc(0); // slot 0 owns the home cell
        let n = u64::from(PROMOTE_AFTER);
        let writers: Vec<_> = [1u32, 2]
            .into_iter()
            .map(|slot| {
                let c = c.clone();
                thread::spawn(move || {
                    for _ in 0..n {
                        c.inc(slot);
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let mut own = Vec::new();
        c.cells.for_each_own(|slot, _| own.push(slot));
        assert_eq!(own, [1, 2]);
        assert_eq!(c.total(), 1 + 2 * n);
    });
}

/// A thread's cells pass to the next thread that takes its slot: the newcomer writes the
/// cell with plain stores, racing only the reader, and the count carries on.
#[test]
fn loom_a_cell_passes_on_with_its_slot() {
    loom::model(|| {
        let c = Arc::new(Count::new());
        c.inc(0);
        let n = u64::from(PROMOTE_AFTER);
        let first = {
            let c = c.clone();
            thread::spawn(move || {
                for _ in 0..n {
                    c.inc(3);
                }
            })
        };
        // The slot pool hands slot 3 on only after its thread has exited; join orders it here.
        first.join().unwrap();
        let next = {
            let c = c.clone();
            thread::spawn(move || {
                assert!(matches!(
                    c.cells.locate(3, |_| unreachable!("the cell is inherited")),
                    Place::Own(_)
                ));
                c.inc(3);
            })
        };
        let reading = {
            let c = c.clone();
            thread::spawn(move || c.total())
        };
        let seen = reading.join().unwrap();
        assert!(seen == 1 + n || seen == 2 + n, "{seen}");
        next.join().unwrap();
        assert_eq!(c.total(), 2 + n);
    });
}
