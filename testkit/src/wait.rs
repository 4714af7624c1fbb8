//! Waiting for a condition, with a deadline.

use std::time::{Duration, Instant};

/// Polls `f` every 50 ms until it returns true or `timeout` passes; returns the last answer.
///
/// ```
/// use std::time::Duration;
///
/// let mut n = 0;
/// assert!(aiplatform_testkit::poll(Duration::from_secs(5), || { n += 1; n == 3 }));
/// assert!(!aiplatform_testkit::poll(Duration::ZERO, || false));
/// ```
pub fn poll(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`poll`], panicking with "timed out after ... waiting for `what`" when `f` never holds.
///
/// ```should_panic
/// aiplatform_testkit::eventually(std::time::Duration::ZERO, "the impossible", || false);
/// ```
pub fn eventually(timeout: Duration, what: &str, f: impl FnMut() -> bool) {
    assert!(
        poll(timeout, f),
        "timed out after {timeout:?} waiting for {what}"
    );
}

/// [`eventually`] for a condition that yields a value: polls `f` every 20 ms until it
/// returns `Some`, and returns that value; panics after `timeout`.
///
/// ```
/// use std::time::Duration;
///
/// let mut n = 0;
/// let got = aiplatform_testkit::eventually_some(Duration::from_secs(5), "the third try", || {
///     n += 1;
///     (n == 3).then_some(n * 10)
/// });
/// assert_eq!(got, 30);
/// ```
pub fn eventually_some<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
