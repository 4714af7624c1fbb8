//! Model checks of the hot-path protocols, run with
//! `RUSTFLAGS="--cfg loom" cargo test -p aiplatform-metrics --release --lib loom`.
//!
//! They cover what relies on acquire/release and read-modify-write ordering: the histogram
//! shard's hot/cold drain and the per-thread cells. The epoch reader sections rely on a
//! store→load (Dekker) handshake through SeqCst fences, which loom does not model precisely;
//! `tests/index_stress.rs` exercises them with real threads instead.

use loom::sync::Arc;
use loom::thread;

use crate::cell::{Access, CounterCell, PerThread};
use crate::histogram::shard::{Shard, Totals};
use crate::thread_slot::RETIRED;

fn sum_matching(count: u64, values: &[f64]) -> f64 {
    values[..count as usize].iter().sum()
}

#[test]
fn loom_exclusive_shard_drain_sees_whole_observations() {
    loom::model(|| {
        let shard = Arc::new(Shard::new(2));
        let writer = {
            let shard = shard.clone();
            thread::spawn(move || {
                shard.observe_many(0, 1.0, 1, Access::Exclusive);
                shard.observe_many(1, 2.0, 1, Access::Exclusive);
            })
        };
        let mut totals = Totals::new(2);
        shard.drain_into(&mut totals);
        // Whatever prefix of the writer's observations the drain caught, it caught them whole.
        assert_eq!(totals.count, totals.buckets.iter().sum::<u64>());
        assert_eq!(totals.sum, sum_matching(totals.count, &[1.0, 2.0]));
        writer.join().unwrap();
        shard.drain_into(&mut totals);
        assert_eq!(
            totals,
            Totals {
                count: 2,
                sum: 3.0,
                buckets: vec![1, 1]
            }
        );
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
        let mut totals = Totals::new(1);
        shard.drain_into(&mut totals);
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
        shard.drain_into(&mut totals);
        assert_eq!(
            totals,
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
    loom::model(|| {
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
        let read = |cells: &(PerThread<CounterCell>, CounterCell)| {
            let mut total = 0;
            cells.0.for_each(&cells.1, |c| total += c.read().0);
            total
        };
        assert!(read(&cells) <= 3);
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(read(&cells), 3);
        let _ = Access::Shared;
    });
}
