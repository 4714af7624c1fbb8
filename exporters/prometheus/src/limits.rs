//! Admission: the cap on concurrent scrapes (`--web.max-requests`) and the web config's
//! `rate_limit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::web_config::RateLimit;

/// At most `max` scrapes at once (0: unlimited), as client_golang's `MaxRequestsInFlight`:
/// a scrape past the cap is refused at once rather than queued.
#[derive(Debug)]
pub(crate) struct ScrapeLimiter {
    max: usize,
    current: Arc<AtomicUsize>,
}

/// One admitted scrape; the slot is released on drop.
#[derive(Debug)]
pub(crate) struct ScrapePermit {
    current: Option<Arc<AtomicUsize>>,
}

impl Drop for ScrapePermit {
    fn drop(&mut self) {
        if let Some(c) = &self.current {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl ScrapeLimiter {
    pub(crate) fn new(max: usize) -> ScrapeLimiter {
        ScrapeLimiter {
            max,
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The cap (0: unlimited).
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// A slot, or `None` when `max` scrapes are already running.
    pub(crate) fn try_acquire(&self) -> Option<ScrapePermit> {
        if self.max == 0 {
            return Some(ScrapePermit { current: None });
        }
        self.current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| ScrapePermit {
                current: Some(self.current.clone()),
            })
    }

    /// The body client_golang sends with the 503.
    pub(crate) fn refusal_body(&self) -> String {
        format!(
            "Limit of concurrent requests reached ({}), try again later.\n",
            self.max
        )
    }
}

/// A token bucket: one token per `interval`, at most `burst` stored (golang.org/x/time/rate).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    state: Mutex<Option<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub(crate) fn new() -> RateLimiter {
        RateLimiter {
            state: Mutex::new(None),
        }
    }

    /// Whether a request may proceed under `limit` (re-read from the config each time; a
    /// changed limit starts a full bucket).
    pub(crate) fn allow(&self, limit: RateLimit, now: Instant) -> bool {
        let mut state = self.state.lock();
        let bucket = match &mut *state {
            Some(b) if b.limit == limit => b,
            slot => slot.insert(Bucket {
                limit,
                tokens: f64::from(limit.burst),
                last: now,
            }),
        };
        let earned = now.saturating_duration_since(bucket.last).as_secs_f64()
            / limit.interval.max(Duration::from_nanos(1)).as_secs_f64();
        bucket.tokens = (bucket.tokens + earned).min(f64::from(limit.burst));
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_and_release() {
        let l = ScrapeLimiter::new(2);
        let a = l.try_acquire().unwrap();
        let _b = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        drop(a);
        assert!(l.try_acquire().is_some());
        assert_eq!(
            l.refusal_body(),
            "Limit of concurrent requests reached (2), try again later.\n"
        );
    }

    #[test]
    fn zero_is_unlimited() {
        let l = ScrapeLimiter::new(0);
        let permits: Vec<_> = (0..1000).map(|_| l.try_acquire().unwrap()).collect();
        assert_eq!(permits.len(), 1000);
    }

    #[test]
    fn token_bucket() {
        let r = RateLimiter::new();
        let limit = RateLimit {
            interval: Duration::from_secs(1),
            burst: 2,
        };
        let t0 = Instant::now();
        assert!(r.allow(limit, t0));
        assert!(r.allow(limit, t0));
        assert!(!r.allow(limit, t0));
        assert!(!r.allow(limit, t0 + Duration::from_millis(500)));
        assert!(r.allow(limit, t0 + Duration::from_millis(1000)));
        assert!(!r.allow(limit, t0 + Duration::from_millis(1000)));
        // Zero burst refuses everything, as x/time/rate does.
        let r = RateLimiter::new();
        let none = RateLimit {
            interval: Duration::from_secs(1),
            burst: 0,
        };
        assert!(!r.allow(none, t0 + Duration::from_secs(10)));
    }
}
