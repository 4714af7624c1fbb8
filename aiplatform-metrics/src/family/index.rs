//! The series index of a family: label values → series, read without locks.
//!
//! An open-addressing table of pointers, probed linearly. Readers run inside an epoch section
//! ([`crate::epoch::pin`]) and never write shared memory: a lookup is a hash, a few loads and a
//! comparison of the label values (the hash only narrows the search; identity is the full value
//! list, so two label sets can never be mistaken for each other).
//!
//! Writers (inserting, removing) take the index's mutex. A removed slot becomes a tombstone
//! that probes walk past; a table that grows or fills with tombstones is copied into a fresh one
//! and published with one store. Removed series and replaced tables go to limbo and are freed
//! after a grace period, so a reader that loaded a pointer before it was unlinked can still
//! follow it.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::epoch::{Guard, Limbo};
use crate::series::{Owner, Series, Storage};

/// What an index stores: an owning pointer to an entry that knows its hash.
pub(crate) trait Owned: Sized + Send + Sync {
    type Target: Send + Sync;

    /// Gives up ownership as a raw pointer (aligned to at least 8, so never [`TOMBSTONE`]).
    fn into_raw(self) -> *mut Self::Target;

    /// Takes back ownership given up by [`Owned::into_raw`].
    ///
    /// # Safety
    ///
    /// `p` must come from `into_raw` and not have been taken back before.
    unsafe fn from_raw(p: *mut Self::Target) -> Self;

    fn hash(target: &Self::Target) -> u64;
}

impl<S: Storage> Owned for Owner<S> {
    type Target = Series<S>;

    fn into_raw(self) -> *mut Series<S> {
        Owner::into_raw(self)
    }

    unsafe fn from_raw(p: *mut Series<S>) -> Self {
        // SAFETY: forwarded contract.
        unsafe { Owner::from_raw(p) }
    }

    fn hash(target: &Series<S>) -> u64 {
        target.hash
    }
}

impl<T: Send + Sync + HasHash> Owned for Box<T> {
    type Target = T;

    fn into_raw(self) -> *mut T {
        Box::into_raw(self)
    }

    unsafe fn from_raw(p: *mut T) -> Self {
        // SAFETY: forwarded contract.
        unsafe { Box::from_raw(p) }
    }

    fn hash(target: &T) -> u64 {
        target.hash()
    }
}

/// A boxed index entry's hash.
pub(crate) trait HasHash {
    fn hash(&self) -> u64;
}

/// A removed slot. Series are 128-byte aligned, so no series lives at address 1.
const TOMBSTONE: usize = 1;

struct Table<T> {
    mask: usize,
    slots: Box<[AtomicPtr<T>]>,
}

impl<T> Table<T> {
    fn with_capacity(cap: usize) -> Box<Self> {
        debug_assert!(cap.is_power_of_two());
        Box::new(Table {
            mask: cap - 1,
            slots: (0..cap)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        })
    }
}

/// A series index: `Index<Owner<S>>` maps label values to series.
pub(crate) struct Index<O: Owned> {
    table: AtomicPtr<Table<O::Target>>,
    len: AtomicUsize,
    writer: Mutex<Writer<O>>,
}

pub(crate) struct Writer<O: Owned> {
    tombstones: usize,
    old_tables: Limbo<Box<Table<O::Target>>>,
    removed: Limbo<O>,
}

impl<O: Owned> Index<O> {
    pub(crate) fn new() -> Self {
        Index {
            table: AtomicPtr::new(Box::into_raw(Table::with_capacity(8))),
            len: AtomicUsize::new(0),
            writer: Mutex::new(Writer {
                tombstones: 0,
                old_tables: Limbo::default(),
                removed: Limbo::default(),
            }),
        }
    }

    /// Live series. Acquire: every insert it counts is visible to a following `find`.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// The entry with this hash that `matches` accepts, if indexed. The reference lives as
    /// long as `guard`.
    #[inline(always)]
    pub(crate) fn find<'g>(
        &'g self,
        hash: u64,
        matches: impl Fn(&O::Target) -> bool,
        _guard: &'g Guard,
    ) -> Option<&'g O::Target> {
        // SAFETY: the table pointer is never null and a replaced table is freed only after
        // every section open at its replacement (ours included) has closed.
        let table = unsafe { &*self.table.load(Ordering::Acquire) };
        let mut i = hash as usize & table.mask;
        loop {
            let p = table.slots[i].load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            if p as usize != TOMBSTONE {
                // SAFETY: as for the table: unlinked series outlive the sections that saw them.
                let s = unsafe { &*p };
                if O::hash(s) == hash && matches(s) {
                    return Some(s);
                }
            }
            i = (i + 1) & table.mask;
        }
    }

    /// Locks the index for writing.
    pub(crate) fn write(&self) -> WriteGuard<'_, O> {
        let mut state = self.writer.lock();
        // Writers are rare, so each one also frees what has left its grace period.
        drop(state.old_tables.collect_expired());
        drop(state.removed.collect_expired());
        WriteGuard { index: self, state }
    }
}

/// Exclusive write access to an [`Index`].
pub(crate) struct WriteGuard<'a, O: Owned> {
    index: &'a Index<O>,
    state: MutexGuard<'a, Writer<O>>,
}

impl<'a, O: Owned> WriteGuard<'a, O> {
    fn table(&self) -> &'a Table<O::Target> {
        // SAFETY: only writers replace (and retire) the table, and we are the writer; callers
        // do not keep the reference across `rebuild`.
        unsafe { &*self.index.table.load(Ordering::Relaxed) }
    }

    /// Finds an entry under the lock.
    pub(crate) fn find(
        &self,
        hash: u64,
        matches: impl Fn(&O::Target) -> bool,
    ) -> Option<&'a O::Target> {
        self.slot_of(hash, matches).map(|(_, s)| s)
    }

    fn slot_of(
        &self,
        hash: u64,
        matches: impl Fn(&O::Target) -> bool,
    ) -> Option<(usize, &'a O::Target)> {
        let table = self.table();
        let mut i = hash as usize & table.mask;
        loop {
            let p = table.slots[i].load(Ordering::Relaxed);
            if p.is_null() {
                return None;
            }
            if p as usize != TOMBSTONE {
                // SAFETY: indexed series are alive while they are indexed, and only this writer
                // could unlink them; the caller's guard covers the rest of `'a`.
                let s: &'a O::Target = unsafe { &*p };
                if O::hash(s) == hash && matches(s) {
                    return Some((i, s));
                }
            }
            i = (i + 1) & table.mask;
        }
    }

    /// Indexes a new series (its values must not be indexed yet) and returns it.
    pub(crate) fn insert(&mut self, owner: O) -> &'a O::Target {
        let live = self.index.len.load(Ordering::Relaxed);
        if (live + self.state.tombstones + 1) * 2 > self.table().slots.len() {
            self.rebuild((live + 1) * 2);
        }
        let p = owner.into_raw();
        // SAFETY: just created from a live owner.
        let hash = O::hash(unsafe { &*p });
        let table = self.table();
        let mut i = hash as usize & table.mask;
        loop {
            let cur = table.slots[i].load(Ordering::Relaxed);
            if cur.is_null() || cur as usize == TOMBSTONE {
                if !cur.is_null() {
                    self.state.tombstones -= 1;
                }
                table.slots[i].store(p, Ordering::Release);
                break;
            }
            i = (i + 1) & table.mask;
        }
        // Release: pairs with `len`, after the entry is published.
        self.index.len.fetch_add(1, Ordering::Release);
        // SAFETY: just indexed; see `slot_of`.
        unsafe { &*p }
    }

    /// Unlinks the series `target` (by address) and hands back the index's reference to it;
    /// the caller decides when to drop it (after a grace period) via [`WriteGuard::retire`].
    pub(crate) fn unlink(&mut self, target: &O::Target) -> Option<O> {
        let (i, s) = self.slot_of(O::hash(target), |s| std::ptr::eq(s, target))?;
        let table = self.table();
        table.slots[i].store(TOMBSTONE as *mut O::Target, Ordering::Release);
        self.state.tombstones += 1;
        self.index.len.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the slot held the index's reference, created by `Owned::into_raw`.
        Some(unsafe { O::from_raw(s as *const O::Target as *mut O::Target) })
    }

    /// Drops `owners` once no reader can reach them.
    pub(crate) fn retire(&mut self, owners: Vec<O>) {
        self.state.removed.retire(owners);
    }

    /// Every indexed entry.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&'a O::Target)) {
        for slot in self.table().slots.iter() {
            let p = slot.load(Ordering::Relaxed);
            if !p.is_null() && p as usize != TOMBSTONE {
                // SAFETY: see `slot_of`.
                f(unsafe { &*p });
            }
        }
    }

    /// Copies live entries into a table with room for `at_least` entries at ≤ 50 % load.
    fn rebuild(&mut self, at_least: usize) {
        let fresh = Table::<O::Target>::with_capacity((at_least * 2).next_power_of_two().max(8));
        let old = self.table();
        for slot in old.slots.iter() {
            let p = slot.load(Ordering::Relaxed);
            if p.is_null() || p as usize == TOMBSTONE {
                continue;
            }
            // SAFETY: live entry, see `slot_of`.
            let hash = O::hash(unsafe { &*p });
            let mut i = hash as usize & fresh.mask;
            while !fresh.slots[i].load(Ordering::Relaxed).is_null() {
                i = (i + 1) & fresh.mask;
            }
            fresh.slots[i].store(p, Ordering::Relaxed);
        }
        let old = self
            .index
            .table
            .swap(Box::into_raw(fresh), Ordering::AcqRel);
        self.state.tombstones = 0;
        // SAFETY: `old` came from Box::into_raw and is no longer reachable for new readers;
        // its entries moved to the new table, so retiring the box frees only the slot array.
        self.state
            .old_tables
            .retire(vec![unsafe { Box::from_raw(old) }]);
    }
}

impl<O: Owned> Drop for Index<O> {
    fn drop(&mut self) {
        // No reader can hold `&self` any more, so nothing needs a grace period.
        // SAFETY: the table came from Box::into_raw; each live slot holds one `Owner`.
        let table = unsafe { Box::from_raw(*self.table.get_mut()) };
        for slot in table.slots.iter() {
            let p = slot.load(Ordering::Relaxed);
            if !p.is_null() && p as usize != TOMBSTONE {
                // SAFETY: see above.
                drop(unsafe { O::from_raw(p) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::CounterStorage;
    use crate::epoch::pin;
    use crate::labels::{LabelSet, Lookup, Query, hash_values};

    fn owner(values: &[&str]) -> Owner<CounterStorage> {
        let names: Vec<String> = (0..values.len()).map(|i| format!("l{i}")).collect();
        Owner::new(Series::new(
            hash_values(values),
            LabelSet::new(&names, values),
            &(),
            0,
        ))
    }

    #[test]
    fn insert_find_unlink_across_growth() {
        let index = Index::<Owner<CounterStorage>>::new();
        let keys: Vec<[String; 2]> = (0..500)
            .map(|i| [format!("k{i}"), format!("{}", i % 7)])
            .collect();
        {
            let mut w = index.write();
            for k in &keys {
                let refs: Vec<&str> = k.iter().map(String::as_str).collect();
                assert!(
                    w.find(hash_values(&refs), |s| s.labels.matches_values(&refs))
                        .is_none()
                );
                w.insert(owner(&refs));
            }
        }
        assert_eq!(index.len(), 500);
        let g = pin();
        for k in &keys {
            let s = index
                .find(hash_values(k), |s| s.labels.matches_values(k), &g)
                .expect("indexed");
            assert!(s.labels.matches_values(k));
        }
        assert!(
            index
                .find(
                    hash_values(&["nope", "1"]),
                    |s| s.labels.matches_values(&["nope", "1"]),
                    &g
                )
                .is_none()
        );
        drop(g);
        let mut w = index.write();
        for k in keys.iter().step_by(2) {
            let s = w
                .find(hash_values(k), |s| s.labels.matches_values(k))
                .unwrap();
            let removed = w.unlink(s).unwrap();
            w.retire(vec![removed]);
        }
        drop(w);
        assert_eq!(index.len(), 250);
        let g = pin();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                index
                    .find(hash_values(k), |s| s.labels.matches_values(k), &g)
                    .is_some(),
                i % 2 == 1,
                "{k:?}"
            );
        }
    }

    #[test]
    fn colliding_hashes_are_told_apart_by_values() {
        let index = Index::<Owner<CounterStorage>>::new();
        let a = Owner::new(Series::new(42, LabelSet::new(&["l"], &["a"]), &(), 0));
        let b = Owner::new(Series::new(42, LabelSet::new(&["l"], &["b"]), &(), 0));
        let mut w = index.write();
        w.insert(a);
        w.insert(b);
        drop(w);
        let g = pin();
        fn forced<'a>(v: &'a [&'static str; 1]) -> Query<'a, &'static str> {
            let mut q = Query::new(v);
            q.hash = 42;
            q
        }
        let (a, b, c) = (["a"], ["b"], ["c"]);
        let (qa, qb, qc) = (forced(&a), forced(&b), forced(&c));
        let find = |q: &Query<'_, &'static str>| index.find(q.hash(), |s| s.labels.matches(q), &g);
        assert_eq!(find(&qa).unwrap().labels.value(0), "a");
        assert_eq!(find(&qb).unwrap().labels.value(0), "b");
        assert!(find(&qc).is_none());
    }

    #[test]
    fn tombstones_are_reused_and_purged() {
        let index = Index::<Owner<CounterStorage>>::new();
        for round in 0..200 {
            let v = format!("v{round}");
            let mut w = index.write();
            let s = w.insert(owner(&[&v]));
            let o = w.unlink(s).unwrap();
            w.retire(vec![o]);
        }
        assert_eq!(index.len(), 0);
        // SAFETY: test-only peek at the table size; no concurrent writer.
        let table = unsafe { &*index.table.load(Ordering::Relaxed) };
        let cap = table.slots.len();
        assert!(cap <= 16, "churn must not grow the table: {cap}");
    }
}
