//! Families: one metric name, many series told apart by label values.

pub(crate) mod index;

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::desc::Descriptor;
use crate::epoch::{self, Guard, Limbo};
use crate::error::LabelCountError;
use crate::labels::{LabelSet, LabelValues, Lookup, hash_values};
use crate::metric::{Metric, sealed::MetricImpl};
use crate::series::{Handle, Owner, Series, Storage};
use crate::snapshot::{LabelList, MetricFamily, SeriesLabels};
use index::Index;

/// The label value every label of the overflow series carries. A family that reaches its
/// series limit sends new label sets there instead of growing.
///
/// ```
/// use aiplatform_metrics::{OVERFLOW_LABEL_VALUE, Opts, Registry};
///
/// let registry = Registry::new();
/// let users = registry.register(Opts::counter("logins_total", "Logins.").label_names(&["user"]).max_series(1)).unwrap();
/// users.with(&["ann"]).inc();
/// users.with(&["bob"]).inc(); // past the limit
/// assert_eq!(users.with(&[OVERFLOW_LABEL_VALUE]).get(), 1.0);
/// ```
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// How many series ahead a collection prefetches.
const PREFETCH_DISTANCE: usize = 8;

/// The default per-family series limit (see [`Opts::max_series`](crate::Opts::max_series)).
///
/// ```
/// assert_eq!(aiplatform_metrics::DEFAULT_MAX_SERIES, 10_000);
/// ```
pub const DEFAULT_MAX_SERIES: usize = 10_000;

type StorageOf<M> = <M as MetricImpl>::Storage;
type ConfigOf<M> = <StorageOf<M> as Storage>::Config;

/// All series of one metric, keyed by label values.
///
/// Get a handle to one series with [`Family::with`] and keep it where the code is hot; an
/// update through a handle never touches the family. For one-off updates,
/// [`Family::apply`] looks the series up and runs a closure on it without cloning a handle.
///
/// Lookups take no lock and write no shared memory. Label values are compared in full, never
/// by hash alone.
///
/// ```
/// use aiplatform_metrics::Registry;
///
/// let registry = Registry::new();
/// let requests = registry
///     .counter_family("http_requests_total", "Requests served.", &["method", "status"])
///     .unwrap();
/// let ok = requests.with(&["GET", "200"]); // keep this handle on a hot path
/// ok.inc();
/// requests.apply(&["POST", "500"], |c| c.inc());
/// assert_eq!(requests.len(), 2);
/// assert!(requests.try_with(&["GET"]).is_err());
/// ```
pub struct Family<M: Metric> {
    core: Arc<FamilyCore<M>>,
}

impl<M: Metric> std::panic::UnwindSafe for Family<M> {}
impl<M: Metric> std::panic::RefUnwindSafe for Family<M> {}

impl<M: Metric> Clone for Family<M> {
    fn clone(&self) -> Self {
        Family {
            core: self.core.clone(),
        }
    }
}

impl<M: Metric> std::fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.core.desc.name)
            .field("labels", &self.core.desc.label_names)
            .field("series", &self.len())
            .finish()
    }
}

pub(crate) struct FamilyCore<M: Metric> {
    pub(crate) desc: Arc<Descriptor>,
    config: ConfigOf<M>,
    index: Index<Owner<StorageOf<M>>>,
    max_series: usize,
    expire_after: Option<Duration>,
    overflow: OnceLock<Owner<StorageOf<M>>>,
    overflowed: AtomicU64,
    expired: AtomicU64,
    members: Mutex<Members<StorageOf<M>>>,
    clock: Instant,
}

/// The sorted member list collections read, rebuilt when membership changed.
struct Members<S: Storage> {
    list: Arc<MemberList<S>>,
    added: Vec<Owner<S>>,
    dirty: bool,
    /// Expired series waiting out their grace period, with their fingerprint at expiry.
    expiring: Limbo<(Owner<S>, u64)>,
}

/// The series of a family in exposition order, with their label text copied into one buffer
/// so that encoding reads it sequentially instead of visiting every series.
struct MemberList<S: Storage> {
    owners: Box<[Owner<S>]>,
    text: Box<str>,
    /// `ends[i]`: end of series `i`'s text in `text` (it starts where `i - 1` ends).
    ends: Box<[u32]>,
}

impl<S: Storage> MemberList<S> {
    fn new(owners: Vec<Owner<S>>) -> Self {
        let mut text =
            String::with_capacity(owners.iter().map(|o| o.labels.rendered().len()).sum());
        let ends = owners
            .iter()
            .map(|o| {
                text.push_str(o.labels.rendered());
                u32::try_from(text.len()).expect("label text of one family larger than 4 GiB")
            })
            .collect();
        MemberList {
            owners: owners.into_boxed_slice(),
            text: text.into_boxed_str(),
            ends,
        }
    }
}

impl<S: Storage> LabelList for MemberList<S> {
    fn len(&self) -> usize {
        self.owners.len()
    }

    fn labels(&self, i: usize) -> &LabelSet {
        &self.owners[i].labels
    }

    fn rendered_all(&self) -> (&[u8], &[u32]) {
        (self.text.as_bytes(), &self.ends)
    }
}

impl<M: Metric> FamilyCore<M> {
    pub(crate) fn new(
        desc: Descriptor,
        config: ConfigOf<M>,
        max_series: usize,
        expire_after: Option<Duration>,
    ) -> Self {
        FamilyCore {
            desc: Arc::new(desc),
            config,
            index: Index::new(),
            max_series: max_series.max(1),
            expire_after,
            overflow: OnceLock::new(),
            overflowed: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            members: Mutex::new(Members {
                list: Arc::new(MemberList::new(Vec::new())),
                added: Vec::new(),
                dirty: false,
                expiring: Limbo::default(),
            }),
            clock: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Runs `f` on the series for these label values, creating it if needed.
    #[inline]
    fn lookup<L: Lookup, R>(
        &self,
        q: L,
        f: impl FnOnce(&Series<StorageOf<M>>) -> R,
    ) -> Result<R, LabelCountError> {
        let expected = self.desc.label_names.len();
        if q.len() != expected {
            return Err(LabelCountError {
                metric: self.desc.name.to_string(),
                expected,
                got: q.len(),
            });
        }
        let guard = epoch::pin();
        let series = match self.index.find(q.hash(), |s| s.labels.matches(&q), &guard) {
            Some(s) => s,
            None => self.miss(&q, &guard),
        };
        Ok(f(series))
    }

    #[cold]
    #[inline(never)]
    fn miss<'g, L: Lookup>(&'g self, q: &L, guard: &'g Guard) -> &'g Series<StorageOf<M>> {
        let values: Vec<&str> = (0..q.len()).map(|i| q.value(i)).collect();
        if !values.is_empty() && values.iter().all(|&v| v == OVERFLOW_LABEL_VALUE) {
            return self.overflow_series();
        }
        if self.index.len() >= self.max_series {
            // Full. The insert that filled it may have been of this very label set, made by
            // another thread since our lookup: every insert `len` counts is visible now.
            if let Some(s) = self.index.find(q.hash(), |s| s.labels.matches(q), guard) {
                return s;
            }
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return self.overflow_series();
        }
        let mut w = self.index.write();
        if let Some(s) = w.find(q.hash(), |s| s.labels.matches(q)) {
            return s;
        }
        if self.index.len() >= self.max_series {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return self.overflow_series();
        }
        let labels = LabelSet::new(&self.desc.label_names, &values);
        let owner = Owner::new(Series::new(q.hash(), labels, &self.config, self.now_ms()));
        let member = owner.clone();
        let s = w.insert(owner);
        self.members.lock().added.push(member);
        s
    }

    fn overflow_series(&self) -> &Series<StorageOf<M>> {
        self.overflow.get_or_init(|| {
            let values = vec![OVERFLOW_LABEL_VALUE; self.desc.label_names.len()];
            let labels = LabelSet::new(&self.desc.label_names, &values);
            let owner = Owner::new(Series::new(
                hash_values(&values),
                labels,
                &self.config,
                self.now_ms(),
            ));
            self.members.lock().added.push(owner.clone());
            owner
        })
    }

    fn remove<L: Lookup>(&self, q: L) -> bool {
        if q.len() != self.desc.label_names.len() {
            return false;
        }
        let mut w = self.index.write();
        let Some(s) = w.find(q.hash(), |s| s.labels.matches(&q)) else {
            return false;
        };
        let owner = w.unlink(s).expect("found under the same lock");
        owner.unlinked.store(true, Ordering::Relaxed);
        w.retire(vec![owner]);
        self.members.lock().dirty = true;
        true
    }

    fn clear(&self) {
        let mut w = self.index.write();
        let mut all = Vec::new();
        w.for_each(|s| all.push(s));
        let owners: Vec<_> = all.into_iter().filter_map(|s| w.unlink(s)).collect();
        for o in &owners {
            o.unlinked.store(true, Ordering::Relaxed);
        }
        w.retire(owners);
        self.members.lock().dirty = true;
    }

    /// The current member list, rebuilt first if series came or went.
    fn members(&self) -> Arc<MemberList<StorageOf<M>>> {
        let mut m = self.members.lock();
        if m.dirty || !m.added.is_empty() {
            let mut added = std::mem::take(&mut m.added);
            added.retain(|o| !o.unlinked.load(Ordering::Relaxed));
            added.sort_by(|a, b| a.labels.cmp(&b.labels));
            let old = m
                .list
                .owners
                .iter()
                .filter(|o| !o.unlinked.load(Ordering::Relaxed));
            let mut merged = Vec::with_capacity(m.list.owners.len() + added.len());
            let mut added = added.into_iter().peekable();
            for o in old {
                while let Some(a) = added.next_if(|a| a.labels < o.labels) {
                    merged.push(a);
                }
                merged.push(o.clone());
            }
            merged.extend(added);
            m.list = Arc::new(MemberList::new(merged));
            m.dirty = false;
        }
        m.list.clone()
    }

    /// Fills `out` (built by [`FamilyCore::empty_snapshot`]) with every series' value, and
    /// expires idle series.
    pub(crate) fn collect_into(&self, out: &mut MetricFamily) {
        let list = self.members();
        out.points.clear();
        out.counts.clear();
        out.floats.clear();
        out.series = SeriesLabels::Listed(list.clone());
        out.points.reserve(list.owners.len());
        let Some(ttl) = self.expire_after else {
            let owners = &list.owners;
            for (i, owner) in owners.iter().enumerate() {
                // Series are scattered on the heap: ask for the ones a few steps ahead now, so
                // their lines arrive while this one is read.
                if let Some(ahead) = owners.get(i + PREFETCH_DISTANCE) {
                    ahead.prefetch();
                }
                M::read(owner, out);
            }
            return;
        };
        let now = self.now_ms();
        let ttl_ms = ttl.as_millis() as u64;
        let overflow = self.overflow.get().map(|o| o.as_ptr());
        let mut idle = Vec::new();
        for owner in list.owners.iter() {
            let print = M::read(owner, out);
            if owner.seen.load(Ordering::Relaxed) != print {
                owner.seen.store(print, Ordering::Relaxed);
                owner.changed_at.store(now, Ordering::Relaxed);
            } else if now.saturating_sub(owner.changed_at.load(Ordering::Relaxed)) >= ttl_ms
                && owner.has_no_handles()
                && Some(owner.as_ptr()) != overflow
            {
                idle.push(owner.clone());
            }
        }
        drop(list);
        self.expire(idle);
    }

    /// Unlinks idle series, and settles those whose grace period has passed: dropped if still
    /// idle and unheld, put back if something wrote to or grabbed them during the race.
    fn expire(&self, idle: Vec<Owner<StorageOf<M>>>) {
        let mut w = self.index.write();
        let mut m = self.members.lock();
        let mut retiring = Vec::new();
        for o in idle {
            if o.has_no_handles()
                && let Some(indexed) = w.unlink(&*o)
            {
                o.unlinked.store(true, Ordering::Relaxed);
                retiring.push((indexed, o.seen.load(Ordering::Relaxed)));
            }
        }
        if !retiring.is_empty() {
            m.dirty = true;
            m.expiring.retire(retiring);
        }
        for (owner, print) in m.expiring.collect_expired() {
            let mut scratch = self.empty_snapshot();
            let now_print = M::read(&owner, &mut scratch);
            let raced = !owner.has_no_handles() || now_print != print;
            if raced && w.find(owner.hash, |s| s.labels == owner.labels).is_none() {
                owner.unlinked.store(false, Ordering::Relaxed);
                m.added.push(owner.clone());
                w.insert(owner);
            } else {
                self.expired.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// An empty snapshot family for this family, to fill with [`FamilyCore::collect_into`].
    pub(crate) fn empty_snapshot(&self) -> MetricFamily {
        let bounds = StorageOf::<M>::bounds(&self.config);
        MetricFamily::listed(
            self.desc.clone(),
            Arc::new(MemberList::<StorageOf<M>>::new(Vec::new())),
            bounds,
        )
    }

    pub(crate) fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    pub(crate) fn expired(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }
}

impl<M: Metric> Family<M> {
    pub(crate) fn from_core(core: Arc<FamilyCore<M>>) -> Self {
        Family { core }
    }

    /// A handle to the series with these label values (in declared order), created on first
    /// use. Past the series limit, new label sets get the overflow series.
    ///
    /// # Panics
    ///
    /// If the number of values differs from the number of label names; see
    /// [`Family::try_with`].
    #[inline]
    pub fn with<L: LabelValues + ?Sized>(&self, values: &L) -> M {
        self.try_with(values).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Family::with`], with an error instead of a panic for a wrong number of values.
    #[inline]
    pub fn try_with<L: LabelValues + ?Sized>(&self, values: &L) -> Result<M, LabelCountError> {
        self.core
            .lookup(values.prepare(), |s| M::from_handle(Handle::acquire(s)))
    }

    /// Runs `f` on the series with these label values without cloning a handle: the cheapest
    /// way to update a series you do not keep.
    ///
    /// # Panics
    ///
    /// If the number of values differs from the number of label names; see
    /// [`Family::try_apply`].
    #[inline]
    pub fn apply<L: LabelValues + ?Sized, R>(&self, values: &L, f: impl FnOnce(&M) -> R) -> R {
        self.try_apply(values, f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Family::apply`], with an error instead of a panic for a wrong number of values.
    #[inline]
    pub fn try_apply<L: LabelValues + ?Sized, R>(
        &self,
        values: &L,
        f: impl FnOnce(&M) -> R,
    ) -> Result<R, LabelCountError> {
        self.core.lookup(values.prepare(), |s| {
            // SAFETY: the lookup's reader section keeps `s` alive until `f` returns, and the
            // borrowed handle is never dropped (ManuallyDrop), so no count is released.
            let borrowed = unsafe { Handle::borrowed(s) };
            let metric = ManuallyDrop::new(M::from_handle(ManuallyDrop::into_inner(borrowed)));
            f(&metric)
        })
    }

    /// Removes the series with these values; returns whether it existed. Handles to it keep
    /// working, but their updates are no longer exported.
    pub fn remove<L: LabelValues + ?Sized>(&self, values: &L) -> bool {
        self.core.remove(values.prepare())
    }

    /// Removes every series (the overflow series stays).
    pub fn clear(&self) {
        self.core.clear();
    }

    /// Number of series, the overflow series not included.
    pub fn len(&self) -> usize {
        self.core.index.len()
    }

    /// Whether the family has no series yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The family name (counters without `_total`).
    pub fn name(&self) -> &str {
        &self.core.desc.name
    }

    /// Label names, in the order values are given.
    pub fn label_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.core.desc.label_names.iter().map(|n| &**n)
    }

    /// Whether `metric` is this family's overflow series.
    #[cfg(feature = "facade")]
    pub(crate) fn is_overflow(&self, metric: &M) -> bool {
        self.core
            .overflow
            .get()
            .is_some_and(|o| std::ptr::eq(o.as_ptr(), metric.series_ptr()))
    }

    /// How many lookups the series limit redirected to the overflow series.
    pub fn overflowed(&self) -> u64 {
        self.core.overflowed()
    }

    /// How many series were removed for being idle.
    pub fn expired(&self) -> u64 {
        self.core.expired()
    }
}
