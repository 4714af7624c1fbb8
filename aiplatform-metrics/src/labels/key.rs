//! Label values condensed to words: the series index's hash and its fast equality test.
//!
//! A value of up to 16 bytes is read as two (overlapping) words; together with its length they
//! *are* the value (every byte is covered), so comparing keys compares content. Longer values
//! get a keyed digest of all their bytes plus their last word, and are still compared byte by
//! byte when the keys agree. Identity never rests on a hash.
//!
//! The hash is keyed with a per-process random seed: label values often come from outside
//! (paths, user agents), and nobody can precompute values that collide and lengthen probe
//! chains.

use std::mem::MaybeUninit;

/// One label value, condensed.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ValueKey {
    pub(crate) lo: u64,
    pub(crate) hi: u64,
    pub(crate) len: u32,
}

/// Keys of up to this many values are kept on the stack during a lookup; longer lists are
/// compared byte by byte.
pub(crate) const INLINE_KEYS: usize = 8;

/// What the series index needs from a lookup: its hash and, per value, its key and text.
pub trait Lookup {
    /// The hash the index probes with.
    fn hash(&self) -> u64;
    /// Number of values.
    fn len(&self) -> usize;
    /// Value `i`.
    fn value(&self, i: usize) -> &str;
    /// The key of value `i`, when it was computed (always for `i < INLINE_KEYS`).
    fn key(&self, i: usize) -> Option<&ValueKey>;
}

/// A lookup by borrowed values: their keys and hash, computed on the stack.
#[doc(hidden)]
pub struct Query<'a, V> {
    pub(crate) values: &'a [V],
    /// The first `min(values.len(), INLINE_KEYS)` entries are initialised.
    keys: [MaybeUninit<ValueKey>; INLINE_KEYS],
    pub(crate) hash: u64,
}

impl<'a, V: AsRef<str>> Query<'a, V> {
    #[inline(always)]
    pub(crate) fn new(values: &'a [V]) -> Self {
        let seed = seed();
        let mut keys = [MaybeUninit::uninit(); INLINE_KEYS];
        let mut acc = Mixer::new(seed, values.len());
        for (i, v) in values.iter().enumerate() {
            let key = value_key(v.as_ref().as_bytes(), seed);
            if let Some(slot) = keys.get_mut(i) {
                slot.write(key);
            }
            acc.add(&key);
        }
        Query {
            values,
            keys,
            hash: acc.finish(),
        }
    }
}

impl<V> std::fmt::Debug for Query<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl<V: AsRef<str>> Lookup for Query<'_, V> {
    #[inline(always)]
    fn hash(&self) -> u64 {
        self.hash
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.values.len()
    }

    #[inline(always)]
    fn value(&self, i: usize) -> &str {
        self.values[i].as_ref()
    }

    #[inline(always)]
    fn key(&self, i: usize) -> Option<&ValueKey> {
        // SAFETY: `new` initialised every entry below `min(len, INLINE_KEYS)`.
        (i < self.values.len())
            .then(|| self.keys.get(i))
            .flatten()
            .map(|k| unsafe { k.assume_init_ref() })
    }
}

/// Combines value keys into the index hash. Each value is mixed under a key that depends on
/// its position, and the results are summed: the multiplies do not wait on each other.
pub(crate) struct Mixer {
    seed: u64,
    acc: u64,
    position: u64,
}

impl Mixer {
    #[inline(always)]
    pub(crate) fn new(seed: u64, len: usize) -> Self {
        Mixer {
            seed,
            acc: seed ^ len as u64,
            position: seed,
        }
    }

    #[inline(always)]
    pub(crate) fn add(&mut self, key: &ValueKey) {
        self.acc = self.acc.wrapping_add(folded_multiply(
            key.lo ^ self.position,
            key.hi ^ u64::from(key.len) ^ MUL_B,
        ));
        self.position = self.position.wrapping_add(MUL_A);
    }

    #[inline(always)]
    pub(crate) fn finish(&self) -> u64 {
        folded_multiply(self.acc, MUL_A ^ self.seed)
    }
}

/// The hash of a value list, as [`Query::new`] computes it.
pub(crate) fn hash_values<V: AsRef<str>>(values: &[V]) -> u64 {
    Query::new(values).hash
}

/// Condenses one value.
#[inline(always)]
pub(crate) fn value_key(b: &[u8], seed: u64) -> ValueKey {
    let len = b.len();
    let p = b.as_ptr();
    // SAFETY: every read below stays inside `b`: the branches check `len` first.
    let (lo, hi) = unsafe {
        if len >= 8 {
            if len <= 16 {
                (read_u64(p), read_u64(p.add(len - 8)))
            } else {
                let mut acc = seed;
                let mut i = 0;
                while i + 16 <= len {
                    acc = folded_multiply(read_u64(p.add(i)) ^ acc, read_u64(p.add(i + 8)) ^ MUL_B);
                    i += 16;
                }
                (acc, read_u64(p.add(len - 8)))
            }
        } else if len >= 4 {
            (u64::from(read_u32(p)), u64::from(read_u32(p.add(len - 4))))
        } else if len > 0 {
            // For 1 to 3 bytes, the first, middle and last byte are every byte.
            (
                u64::from(*p) << 16 | u64::from(*p.add(len / 2)) << 8 | u64::from(*p.add(len - 1)),
                0,
            )
        } else {
            (0, 0)
        }
    };
    ValueKey {
        lo,
        hi,
        len: len as u32,
    }
}

/// Whether a stored value (its key and text) equals a queried one (its key and text).
#[inline(always)]
pub(crate) fn same_value<'s, 'q>(
    stored: &ValueKey,
    stored_text: impl FnOnce() -> &'s [u8],
    query: &ValueKey,
    query_text: impl FnOnce() -> &'q [u8],
) -> bool {
    stored == query && (query.len <= 16 || stored_text() == query_text())
}

const MUL_A: u64 = 0x2d35_8dcc_aa6c_78a5;
const MUL_B: u64 = 0x8bb8_4b93_962e_acc9;

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The process's hash key, drawn once from the standard library's random hasher keys.
#[inline(always)]
pub(crate) fn seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: AtomicU64 = AtomicU64::new(0);
    let s = SEED.load(Ordering::Relaxed);
    if s != 0 {
        return s;
    }
    let keys = std::collections::hash_map::RandomState::new();
    let fresh = std::hash::BuildHasher::hash_one(&keys, 0x5eed_u64) | 1;
    match SEED.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => fresh,
        Err(existing) => existing,
    }
}

/// # Safety
///
/// `p..p + 8` must be readable.
#[inline(always)]
unsafe fn read_u64(p: *const u8) -> u64 {
    // SAFETY: the caller guarantees 8 readable bytes; alignment is not required.
    unsafe { std::ptr::read_unaligned(p.cast::<u64>()) }
}

/// # Safety
///
/// `p..p + 4` must be readable.
#[inline(always)]
unsafe fn read_u32(p: *const u8) -> u32 {
    // SAFETY: the caller guarantees 4 readable bytes; alignment is not required.
    unsafe { std::ptr::read_unaligned(p.cast::<u32>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ValueKey {
        value_key(s.as_bytes(), seed())
    }

    #[test]
    fn short_keys_are_the_content() {
        let words: Vec<String> = (0..40)
            .map(|n| "x".repeat(n / 2) + &"y".repeat(n % 3))
            .collect();
        for a in &words {
            for b in &words {
                if a.len() <= 16 && b.len() <= 16 {
                    assert_eq!(key(a) == key(b), a == b, "{a:?} {b:?}");
                }
            }
        }
        assert_ne!(key("abcdefghij"), key("abcdefghiJ"));
        assert_ne!(key("abcde"), key("abXde"));
        assert_ne!(key("ab"), key("aab"));
        assert_ne!(key(""), key("\0"));
    }

    #[test]
    fn long_values_still_compare_bytes() {
        let a = "x".repeat(40);
        let mut b = a.clone();
        b.replace_range(20..21, "y");
        let (ka, kb) = (key(&a), key(&b));
        assert!(same_value(&ka, || a.as_bytes(), &ka, || a.as_bytes()));
        assert!(!same_value(&ka, || a.as_bytes(), &kb, || b.as_bytes()));
        // Equal keys but different middles: only the byte comparison can tell.
        let mut c = a.clone();
        c.replace_range(20..21, "z");
        let kc = key(&c);
        assert_eq!(kb.len, kc.len);
        assert!(!same_value(&kb, || b.as_bytes(), &kb, || c.as_bytes()));
    }

    #[test]
    fn hashing_separates_values() {
        assert_ne!(hash_values(&["ab", "c"]), hash_values(&["a", "bc"]));
        assert_ne!(hash_values(&["", "a"]), hash_values(&["a", ""]));
        assert_ne!(hash_values(&["a"]), hash_values(&["a", ""]));
        assert_ne!(hash_values(&["a", "b"]), hash_values(&["b", "a"]));
        assert_eq!(
            hash_values(&["ab", "c"]),
            hash_values(&[String::from("ab"), "c".into()])
        );
    }

    #[test]
    fn hash_spreads_similar_values() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            seen.insert(hash_values(&["GET", &format!("/api/v1/item/{i}"), "200"]) & 0xffff_ffff);
        }
        assert!(seen.len() > 99_990, "{} distinct of 100000", seen.len());
    }
}
