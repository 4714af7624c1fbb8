//! A map keyed by hashes computed before the lookup.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` whose keys are 64-bit hashes already: the key is its own hash, so a lookup
/// hashes nothing twice.
///
/// The caches of this crate and of the exporters hash a name (or a description) once with a
/// keyed hasher, then look the hash up here and compare the stored entries exactly, so a
/// collision costs a comparison, never a wrong answer.
///
/// ```
/// use aiplatform_metrics::collect::PrehashedMap;
///
/// let mut by_hash: PrehashedMap<&str> = PrehashedMap::default();
/// by_hash.insert(0x9e37_79b9_7f4a_7c15, "requests_total");
/// assert_eq!(by_hash.get(&0x9e37_79b9_7f4a_7c15), Some(&"requests_total"));
/// ```
pub type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<Prehashed>>;

/// The [`Hasher`] of [`PrehashedMap`]: passes a `u64` key through unchanged.
///
/// Other input (never written by a `u64` key) is folded in so the hasher stays a total
/// function.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
