//! Classic histogram bucket bounds: defaults, generators and validation.

use std::sync::Arc;

use crate::error::BucketsError;

/// The upper bounds of a classic histogram's buckets, strictly increasing and finite; the
/// `+Inf` bucket is implied.
///
/// ```
/// use aiplatform_metrics::Buckets;
///
/// assert_eq!(Buckets::default().bounds().len(), 11);
/// assert_eq!(Buckets::linear(1.0, 1.0, 3).unwrap().bounds(), &[1.0, 2.0, 3.0]);
/// assert_eq!(Buckets::exponential(1.0, 10.0, 3).unwrap().bounds(), &[1.0, 10.0, 100.0]);
/// assert!(Buckets::new([2.0, 1.0]).is_err());
/// // A trailing +Inf is accepted and dropped: it is always there.
/// assert_eq!(Buckets::new([1.0, f64::INFINITY]).unwrap().bounds(), &[1.0]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets(Arc<[f64]>);

/// Prometheus' default buckets, tuned for request latencies in seconds.
///
/// ```
/// use aiplatform_metrics::{Buckets, DEFAULT_BUCKETS};
/// assert_eq!(Buckets::default().bounds(), &DEFAULT_BUCKETS);
/// ```
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Default for Buckets {
    /// [`DEFAULT_BUCKETS`].
    fn default() -> Self {
        Buckets(Arc::from(DEFAULT_BUCKETS))
    }
}

impl Buckets {
    /// Custom bounds: finite, strictly increasing; a trailing `+Inf` is dropped.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Result<Buckets, BucketsError> {
        let mut v: Vec<f64> = bounds.into_iter().collect();
        if v.last() == Some(&f64::INFINITY) {
            v.pop();
        }
        for &b in &v {
            if !b.is_finite() {
                return Err(BucketsError::NotFinite(b));
            }
        }
        for w in v.windows(2) {
            if w[1] <= w[0] {
                return Err(BucketsError::NotIncreasing {
                    prev: w[0],
                    next: w[1],
                });
            }
        }
        Ok(Buckets(v.into()))
    }

    /// `count` bounds `start, start + width, ...`.
    pub fn linear(start: f64, width: f64, count: usize) -> Result<Buckets, BucketsError> {
        if count == 0 {
            return Err(BucketsError::Empty);
        }
        if width.is_nan() || width <= 0.0 {
            return Err(BucketsError::NonPositiveWidth(width));
        }
        Buckets::new((0..count).map(|i| start + width * i as f64))
    }

    /// `count` bounds `start, start * factor, start * factor², ...`.
    pub fn exponential(start: f64, factor: f64, count: usize) -> Result<Buckets, BucketsError> {
        if count == 0 {
            return Err(BucketsError::Empty);
        }
        if !(start > 0.0 && factor > 1.0) {
            return Err(BucketsError::BadExponential { start, factor });
        }
        let mut b = start;
        Buckets::new((0..count).map(|_| {
            let cur = b;
            b *= factor;
            cur
        }))
    }

    /// The finite upper bounds, ascending.
    pub fn bounds(&self) -> &[f64] {
        &self.0
    }

    pub(crate) fn shared(&self) -> Arc<[f64]> {
        self.0.clone()
    }
}

/// Bounds laid out for finding an observation's bucket quickly: padded with `+Inf` to a
/// multiple of four, so the search runs in fixed four-wide steps without a remainder loop.
#[derive(Debug, Clone)]
pub(crate) struct BucketIndex {
    padded: Arc<[f64]>,
    len: usize,
}

impl BucketIndex {
    pub(crate) fn new(bounds: &[f64]) -> Self {
        let mut padded = bounds.to_vec();
        padded.resize(bounds.len().div_ceil(4).max(1) * 4, f64::INFINITY);
        BucketIndex {
            padded: padded.into(),
            len: bounds.len(),
        }
    }

    /// The finite bounds.
    pub(crate) fn bounds(&self) -> &[f64] {
        &self.padded[..self.len]
    }

    /// Number of buckets, `+Inf` included.
    pub(crate) fn buckets(&self) -> usize {
        self.len + 1
    }

    /// Index of the bucket `v` falls in: the first bound with `v <= bound`, or the `+Inf`
    /// bucket (where NaN goes too).
    #[inline(always)]
    pub(crate) fn find(&self, v: f64) -> usize {
        if self.padded.len() <= 32 {
            // Branch-free: count the bounds `v` is above. Padding bounds are +Inf, above which
            // only NaN is; clamping keeps NaN in the +Inf bucket.
            count_above(&self.padded, v).min(self.len)
        } else {
            self.bounds().partition_point(|&b| v > b || v.is_nan())
        }
    }
}

/// How many of `bounds` (a multiple of four long) `v` is not at or below.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn count_above(bounds: &[f64], v: f64) -> usize {
    use std::arch::x86_64::{
        _mm_add_epi64, _mm_castpd_si128, _mm_cmpnle_pd, _mm_loadu_pd, _mm_set1_pd,
        _mm_setzero_si128, _mm_storeu_si128, _mm_sub_epi64,
    };
    debug_assert_eq!(bounds.len() % 4, 0);
    // SAFETY: SSE2 is part of the x86_64 baseline; loads stay inside `bounds` (4 per step).
    unsafe {
        let x = _mm_set1_pd(v);
        let (mut a, mut b) = (_mm_setzero_si128(), _mm_setzero_si128());
        let p = bounds.as_ptr();
        let mut i = 0;
        while i < bounds.len() {
            // "not less than or equal" is true above the bound and for NaN; each true lane
            // is all ones (-1), subtracted to count it.
            a = _mm_sub_epi64(
                a,
                _mm_castpd_si128(_mm_cmpnle_pd(x, _mm_loadu_pd(p.add(i)))),
            );
            b = _mm_sub_epi64(
                b,
                _mm_castpd_si128(_mm_cmpnle_pd(x, _mm_loadu_pd(p.add(i + 2)))),
            );
            i += 4;
        }
        let mut lanes = [0u64; 2];
        _mm_storeu_si128(lanes.as_mut_ptr().cast(), _mm_add_epi64(a, b));
        (lanes[0] + lanes[1]) as usize
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn count_above(bounds: &[f64], v: f64) -> usize {
    bounds
        .iter()
        .map(|&b| usize::from(v > b || v.is_nan()))
        .sum()
}

/// Index of the bucket `v` falls in, for plain bound lists (tests and one-off use).
#[cfg(test)]
pub(crate) fn bucket_index(bounds: &[f64], v: f64) -> usize {
    BucketIndex::new(bounds).find(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(
            matches!(Buckets::new([1.0, f64::NAN]), Err(BucketsError::NotFinite(b)) if b.is_nan())
        );
        assert!(matches!(
            Buckets::new([f64::NEG_INFINITY]),
            Err(BucketsError::NotFinite(_))
        ));
        assert_eq!(
            Buckets::new([1.0, 1.0]),
            Err(BucketsError::NotIncreasing {
                prev: 1.0,
                next: 1.0
            })
        );
        assert_eq!(Buckets::new([]).unwrap().bounds(), &[] as &[f64]);
        assert_eq!(
            Buckets::linear(0.0, 0.0, 2),
            Err(BucketsError::NonPositiveWidth(0.0))
        );
        assert_eq!(Buckets::linear(0.0, 1.0, 0), Err(BucketsError::Empty));
        assert!(Buckets::exponential(0.0, 2.0, 3).is_err());
        assert!(Buckets::exponential(1.0, 1.0, 3).is_err());
        assert_eq!(
            Buckets::exponential(0.5, 2.0, 4).unwrap().bounds(),
            &[0.5, 1.0, 2.0, 4.0]
        );
    }

    #[test]
    fn bucket_index_uses_le_semantics() {
        let b = [1.0, 2.0, 5.0];
        assert_eq!(bucket_index(&b, 0.5), 0);
        assert_eq!(bucket_index(&b, 1.0), 0);
        assert_eq!(bucket_index(&b, 1.5), 1);
        assert_eq!(bucket_index(&b, 5.0), 2);
        assert_eq!(bucket_index(&b, 5.1), 3);
        assert_eq!(bucket_index(&b, f64::INFINITY), 3);
        assert_eq!(bucket_index(&b, f64::NEG_INFINITY), 0);
        assert_eq!(bucket_index(&b, f64::NAN), 3);
        assert_eq!(bucket_index(&[], 1.0), 0);
    }

    #[test]
    fn large_bound_lists_agree_with_the_linear_scan() {
        let bounds: Vec<f64> = (0..100).map(|i| i as f64 * 0.5).collect();
        for v in [-1.0, 0.0, 0.25, 0.5, 7.3, 49.5, 49.6, 1e9, f64::NAN] {
            let linear: usize = bounds
                .iter()
                .map(|&b| usize::from(v > b || v.is_nan()))
                .sum();
            assert_eq!(bucket_index(&bounds, v), linear, "{v}");
        }
    }
}
