//! The facade's key cache: `metrics::Key` → a ready handle, found without locks.
//!
//! Every `counter!` call goes through `register_counter`, so the cache is the facade's hot
//! path. A hit is a lookup in the same lock-free index families use, keyed by the `Key`'s
//! precomputed hash and confirmed by comparing the key (pointer equality first: a macro with
//! static strings passes the same pointers every time), then a clone of an `Arc`. A thread that
//! keeps resolving the same key gets an `Arc` of its own (the per-thread cells of `cell`), so
//! two threads hammering one series never touch the same reference count; threads that resolve
//! a key now and then clone the shared one.

use std::sync::Arc;

use metrics::Key;

use crate::cell::{self, PerThread, Place};
use crate::family::index::{HasHash, Index};
use crate::metric::Metric;
use crate::thread_slot;

/// What `metrics` handles point to: one of our handles, behind an `Arc` per thread.
#[derive(Debug)]
pub(crate) struct Proxy<M>(pub(crate) M);

/// A cached key and the per-thread proxies of its series.
pub(crate) struct Entry<M: Metric> {
    key: Key,
    hash: u64,
    home: Arc<Proxy<M>>,
    proxies: PerThread<Arc<Proxy<M>>>,
}

impl<M: Metric> HasHash for Entry<M> {
    fn hash(&self) -> u64 {
        self.hash
    }
}

impl<M: Metric> Entry<M> {
    pub(crate) fn new(key: &Key, metric: M) -> Box<Self> {
        Box::new(Entry {
            key: key.to_retained(),
            hash: key.get_hash(),
            home: Arc::new(Proxy(metric)),
            proxies: PerThread::new(),
        })
    }

    /// A reference to this thread's proxy.
    #[inline(always)]
    pub(crate) fn proxy(&self) -> Arc<Proxy<M>> {
        match self.proxies.locate(thread_slot::current(), |_| {
            cell::boxed(Arc::new(Proxy(self.home.0.clone())))
        }) {
            Place::Home | Place::Shared => self.home.clone(),
            // SAFETY: own cells live as long as the entry.
            Place::Own(proxy) => unsafe { proxy.as_ref() }.clone(),
        }
    }

    #[inline(always)]
    pub(crate) fn is(&self, key: &Key) -> bool {
        same_key(&self.key, key)
    }
}

/// Keys already resolved, for one metric type.
pub(crate) type KeyCache<M> = Index<Box<Entry<M>>>;

/// `stored == query`, trying identity first: a macro with literal name and labels passes the
/// same `&'static` name and label slice on every call, so comparing two addresses settles most
/// hits.
///
/// Identity implies equality here because `stored` is our retained copy and stays alive: a
/// string or label slice at the same address is that very memory, not a reused allocation.
#[inline(always)]
fn same_key(stored: &Key, query: &Key) -> bool {
    if stored.get_hash() != query.get_hash() {
        return false;
    }
    let (ls, lq) = (stored.labels().as_slice(), query.labels().as_slice());
    let (ns, nq) = (stored.name(), query.name());
    let identical = std::ptr::eq(ls, lq) && ns.as_ptr() == nq.as_ptr() && ns.len() == nq.len();
    identical || stored == query
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Label;

    #[test]
    fn keys_compare_by_content_whatever_their_storage() {
        static LABELS: [Label; 2] = [
            Label::from_static_parts("a", "1"),
            Label::from_static_parts("b", "2"),
        ];
        let fixed = Key::from_static_parts("m", &LABELS);
        let owned = Key::from_parts(
            String::from("m"),
            vec![Label::new("b", String::from("2")), Label::new("a", "1")],
        );
        assert!(same_key(&fixed, &fixed.clone()));
        assert!(same_key(&fixed, &owned), "label order does not matter");
        let other = Key::from_parts("m", vec![Label::new("a", "1"), Label::new("b", "3")]);
        assert!(!same_key(&fixed, &other));
    }
}
