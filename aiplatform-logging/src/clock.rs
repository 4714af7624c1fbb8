//! Where event timestamps come from, so tests can pin them and compare whole lines.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time for `@timestamp`.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that always reads the same instant: for golden tests of whole output lines.
///
/// ```
/// use aiplatform_logging::{Clock, FixedClock};
///
/// let clock = FixedClock::from_unix_millis(1_767_323_045_678);
/// assert_eq!(clock.rfc3339(), "2026-01-02T03:04:05.678Z");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(SystemTime);

impl FixedClock {
    /// A clock stopped at `unix_millis` milliseconds after the Unix epoch.
    pub fn from_unix_millis(unix_millis: u64) -> FixedClock {
        FixedClock(UNIX_EPOCH + Duration::from_millis(unix_millis))
    }

    /// The instant rendered the way `@timestamp` renders it.
    pub fn rfc3339(&self) -> String {
        let mut buf = [0u8; 24];
        String::from_utf8_lossy(rfc3339_millis(self.0, &mut buf)).into_owned()
    }
}

impl fmt::Debug for FixedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FixedClock").field(&self.rfc3339()).finish()
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds): what Logstash parses without a zone guess.
/// Times before 1970 render as the epoch.
pub(crate) fn rfc3339_millis(t: SystemTime, buf: &mut [u8; 24]) -> &[u8] {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let millis = d.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, dd) = civil_from_days(days as i64);
    let (hh, mi, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    let y = y.clamp(0, 9999) as u32;
    let put = |buf: &mut [u8; 24], at: usize, v: u32, width: usize| {
        let mut v = v;
        for k in (0..width).rev() {
            buf[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(buf, 0, y, 4);
    buf[4] = b'-';
    put(buf, 5, m, 2);
    buf[7] = b'-';
    put(buf, 8, dd, 2);
    buf[10] = b'T';
    put(buf, 11, hh as u32, 2);
    buf[13] = b':';
    put(buf, 14, mi as u32, 2);
    buf[16] = b':';
    put(buf, 17, ss as u32, 2);
    buf[19] = b'.';
    put(buf, 20, millis, 3);
    buf[23] = b'Z';
    &buf[..]
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(ms: u64) -> String {
        FixedClock::from_unix_millis(ms).rfc3339()
    }

    #[test]
    fn known_instants() {
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(fmt(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(fmt(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
        assert_eq!(fmt(4_102_444_800_001), "2100-01-01T00:00:00.001Z");
    }

    #[test]
    fn before_epoch_is_clamped() {
        let mut buf = [0u8; 24];
        let t = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_millis(t, &mut buf), b"1970-01-01T00:00:00.000Z");
    }
}
