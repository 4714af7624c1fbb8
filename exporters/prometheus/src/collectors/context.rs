//! What a collector knows about the scrape it serves: its deadline, whether the scrape was
//! abandoned, and the request's query parameters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Passed to every collector run: its name, its deadline and the scrape's query.
///
/// Cheap to clone; clones share the cancellation flag.
///
/// ```
/// use std::time::{Duration, Instant};
/// use aiplatform_prometheus::ScrapeContext;
///
/// let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(5))
///     .with_query(vec![("target".to_owned(), "db1:5432".to_owned())]);
/// assert_eq!(ctx.query("target"), Some("db1:5432"));
/// assert!(!ctx.is_cancelled());
/// assert!(ctx.remaining() <= Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct ScrapeContext {
    shared: Arc<Shared>,
    collector: Arc<str>,
    deadline: Instant,
}

#[derive(Debug)]
struct Shared {
    cancelled: AtomicBool,
    query: Vec<(String, String)>,
}

impl ScrapeContext {
    /// A context with this deadline, no collector name and no query (for probes and tests).
    pub fn new(deadline: Instant) -> ScrapeContext {
        ScrapeContext {
            shared: Arc::new(Shared {
                cancelled: AtomicBool::new(false),
                query: Vec::new(),
            }),
            collector: Arc::from(""),
            deadline,
        }
    }

    /// The same context carrying these query parameters (a fresh cancellation flag).
    pub fn with_query(self, query: Vec<(String, String)>) -> ScrapeContext {
        ScrapeContext {
            shared: Arc::new(Shared {
                cancelled: AtomicBool::new(self.is_cancelled()),
                query,
            }),
            ..self
        }
    }

    /// The context one collector gets: its name and its own deadline.
    pub(crate) fn for_collector(&self, name: Arc<str>, deadline: Instant) -> ScrapeContext {
        ScrapeContext {
            shared: self.shared.clone(),
            collector: name,
            deadline: deadline.min(self.deadline),
        }
    }

    /// The collector's registered name (empty outside a [`CollectorSet`](crate::CollectorSet)).
    pub fn collector(&self) -> &str {
        &self.collector
    }

    /// When this collector's result stops being waited for.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left until [`deadline`](Self::deadline) (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether the result is no longer wanted: the deadline passed, or the scrape ended (the
    /// client went away, or the response was sent without this collector).
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    /// Marks every clone cancelled.
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::Relaxed);
    }

    /// The first value of a query parameter (`/probe?target=...`).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.shared
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter, in order.
    pub fn query_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.shared
            .query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_deadline_never_exceeds_the_scrape() {
        let now = Instant::now();
        let ctx = ScrapeContext::new(now + Duration::from_secs(2));
        let c = ctx.for_collector("cpu".into(), now + Duration::from_secs(10));
        assert_eq!(c.deadline(), now + Duration::from_secs(2));
        assert_eq!(c.collector(), "cpu");
        let c = ctx.for_collector("cpu".into(), now + Duration::from_secs(1));
        assert_eq!(c.deadline(), now + Duration::from_secs(1));
    }

    #[test]
    fn cancellation_is_shared_and_deadline_cancels() {
        let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(60));
        let c = ctx.for_collector("a".into(), Instant::now() + Duration::from_secs(60));
        assert!(!c.is_cancelled());
        ctx.cancel();
        assert!(c.is_cancelled());
        let past = ScrapeContext::new(Instant::now());
        assert!(past.is_cancelled());
        assert_eq!(past.remaining(), Duration::ZERO);
    }

    #[test]
    fn query_values() {
        let ctx = ScrapeContext::new(Instant::now()).with_query(vec![
            ("a".into(), "1".into()),
            ("b".into(), "2".into()),
            ("a".into(), "3".into()),
        ]);
        assert_eq!(ctx.query("a"), Some("1"));
        assert_eq!(ctx.query_all("a").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(ctx.query("c"), None);
    }
}
