//! Exponential backoff with full jitter (AWS' "Exponential Backoff and Jitter"): the n-th
//! retry waits a uniformly random time between zero and `min(max, initial × 2ⁿ⁻¹)`, so many
//! senders that failed together do not retry together.

use std::time::Duration;

/// Retry timing.
///
/// ```
/// use std::time::Duration;
/// use aiplatform_push::Backoff;
///
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// for attempt in 1..20 {
///     let d = b.delay(attempt);
///     assert!(d <= b.ceiling(attempt) && b.ceiling(attempt) <= Duration::from_secs(5));
/// }
/// assert_eq!(b.ceiling(3), Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling up to 10 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(10))
    }
}

impl Backoff {
    /// Ceilings start at `initial` and double up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let initial = initial.max(Duration::from_millis(1));
        Backoff {
            initial,
            max: max.max(initial),
        }
    }

    /// The largest wait before retry number `attempt` (1 for the first retry).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(30);
        self.initial
            .checked_mul(1u32 << shift)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// A random wait in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt).as_nanos() as u64;
        Duration::from_nanos(fastrand::u64(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..2000).map(|_| b.delay(10)).collect();
        let ceiling = Duration::from_secs(1);
        assert!(delays.iter().all(|d| *d <= ceiling));
        // Full jitter: both ends of the range are used.
        assert!(delays.iter().any(|d| *d < ceiling / 10));
        assert!(delays.iter().any(|d| *d > ceiling * 9 / 10));
    }

    #[test]
    fn ceilings_double_then_cap() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        let c: Vec<u128> = (1..8).map(|a| b.ceiling(a).as_millis()).collect();
        assert_eq!(c, [10, 20, 40, 80, 100, 100, 100]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_millis(100));
    }
}
