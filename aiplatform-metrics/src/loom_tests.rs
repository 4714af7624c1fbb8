//! Model checks of the hot-path protocols, run with
//! `RUSTFLAGS="--cfg loom" cargo test -p aiplatform-metrics --release --lib loom`.
//!
//! They cover what relies on acquire/release, fences and read-modify-write ordering: the
//! histogram shard's running totals (seqlock, with the reader's pause) and hot/cold drain, and
//! the per-thread cells. The epoch reader sections rely on a
//! store→load (Dekker) handshake through SeqCst fences, which loom does not model precisely;
//! `tests/index_stress.rs` exercises them with real threads instead.
//!
//! Every racing party, readers included, runs on a spawned thread: loom explores fewer
//! interleavings when the model's main thread races the threads it spawned (tokio-rs/loom#166),
//! and a reader on the main thread let a broken seqlock pass.

use loom::sync::Arc;
use loom::thread;

use crate::cell::{Access, CounterCell, PerThread};
use crate::histogram::shard::{Reader, Shard, Totals};
use crate::thread_slot::RETIRED;

fn sum_matching(count: u64, values: &[f64]) -> f64 {
    values[..count as usize].iter().sum()
}

fn read(shard: &Shard, reader: &mut Reader) -> Totals {
    reader.read(|visit| visit(shard)).clone()
}

/// Reads `shard` (of `buckets` buckets) `reads` times on a thread of its own; returns the
/// reader and what each read saw.
fn read_on_thread(
    shard: &Arc<Shard>,
    buckets: usize,
    reads: usize,
) -> thread::JoinHandle<(Reader, Vec<Totals>)> {
    let shard = shard.clone();
    thread::spawn(move || {
        let mut reader = Reader::new(buckets);
        let seen = (0..reads).map(|_| read(&shard, &mut reader)).collect();
        (reader, seen)
    })
}

/// The owner's path: the reader copies the running totals (pausing the writer when a copy
/// fails, which sends the second observation to the halves) and sees whole observations.
#[test]
fn loom_exclusive_shard_read_sees_whole_observations() {
    loom::model(|| {
        let shard = Arc::new(Shard::new(2));
        let writer = {
            let shard = shard.clone();
            thread::spawn(move || {
                shard.observe_many(0, 1.0, 1, Access::Exclusive);
                shard.observe_many(1, 2.0, 1, Access::Exclusive);
            })
        };
        let (mut reader, seen) = read_on_thread(&shard, 2, 1).join().unwrap();
        let totals = &seen[0];
        // Whatever prefix of the writer's observations the read caught, it caught them whole.
        assert_eq!(totals.count, totals.buckets.iter().sum::<u64>());
        assert_eq!(totals.sum, sum_matching(totals.count, &[1.0, 2.0]));
        if totals.count == 1 {
            assert_eq!(totals.buckets, vec![1, 0]);
        }
        writer.join().unwrap();
        assert_eq!(
            read(&shard, &mut reader),
            Totals {
                count: 2,
                sum: 3.0,
                buckets: vec![1, 1]
            }
        );
    });
}

/// Two reads racing one writer: each is consistent and the second never goes back.
#[test]
fn loom_exclusive_shard_reads_never_go_back() {
    loom::model(|| {
        let shard = Arc::new(Shard::new(1));
        let writer = {
            let shard = shard.clone();
            thread::spawn(move || {
                shard.observe_many(0, 1.0, 1, Access::Exclusive);
                shard.observe_many(0, 1.0, 1, Access::Exclusive);
            })
        };
        let (mut reader, seen) = read_on_thread(&shard, 1, 2).join().unwrap();
        assert!(seen[0].count <= seen[1].count);
        for t in &seen {
            assert_eq!(t.count, t.buckets[0]);
            assert_eq!(t.sum, t.count as f64);
        }
        writer.join().unwrap();
        assert_eq!(read(&shard, &mut reader).count, 2);
    });
}

#[test]
fn loom_shared_shard_two_writers_and_a_reader() {
    loom::model(|| {
        let shard = Arc::new(Shard::new(1));
        let writers: Vec<_> = [1.0, 10.0]
            .into_iter()
            .map(|v| {
                let shard = shard.clone();
                thread::spawn(move || shard.observe_many(0, v, 1, Access::Shared))
            })
            .collect();
        let (mut reader, seen) = read_on_thread(&shard, 1, 1).join().unwrap();
        let totals = &seen[0];
        assert_eq!(totals.count, totals.buckets[0]);
        let allowed: &[f64] = match totals.count {
            0 => &[0.0],
            1 => &[1.0, 10.0],
            _ => &[11.0],
        };
        assert!(
            allowed.contains(&totals.sum),
            "count {} sum {}",
            totals.count,
            totals.sum
        );
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(
            read(&shard, &mut reader),
            Totals {
                count: 2,
                sum: 11.0,
                buckets: vec![2]
            }
        );
    });
}

#[test]
fn loom_per_thread_cells_lose_nothing() {
    // Four threads: two preemptions keep the run to seconds and still interleave every pair.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let cells = Arc::new((PerThread::<CounterCell>::new(), CounterCell::default()));
        let writers: Vec<_> = [0u32, 1, RETIRED]
            .into_iter()
            .map(|slot| {
                let cells = cells.clone();
                thread::spawn(move || {
                    let (record, home) = &*cells;
                    record.update(home, slot, CounterCell::default, |c, a| c.add(1, a));
                })
            })
            .collect();
        let read = |cells: &(PerThread<CounterCell>, CounterCell)| -> u64 {
            let mut total = 0;
            cells.0.for_each(&cells.1, |c| total += c.read().0);
            total
        };
        let reading = {
            let cells = cells.clone();
            thread::spawn(move || read(&cells))
        };
        assert!(reading.join().unwrap() <= 3);
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(read(&cells), 3);
        let _ = Access::Shared;
    });
}
