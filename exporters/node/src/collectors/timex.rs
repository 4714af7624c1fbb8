//! `timex`: the kernel clock's NTP state from `adjtimex(2)` (`node_timex_offset_seconds`,
//! `node_timex_sync_status`, ...), with node_exporter's unit conversions. The system call is
//! behind [`Adjtimex`] so that tests can stand in fixed values.

use std::fmt;
use std::io;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::scalar;
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;

/// The fields of `struct timex` node_exporter reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timex {
    /// Time offset (µs, or ns with `STA_NANO`).
    pub offset: i64,
    /// Frequency offset (ppm with 16-bit fraction).
    pub freq: i64,
    /// Maximum error (µs).
    pub maxerror: i64,
    /// Estimated error (µs).
    pub esterror: i64,
    /// Status bits.
    pub status: i64,
    /// PLL time constant.
    pub constant: i64,
    /// Microseconds between clock ticks.
    pub tick: i64,
    /// PPS frequency (ppm with 16-bit fraction).
    pub ppsfreq: i64,
    /// PPS jitter (µs, or ns with `STA_NANO`).
    pub jitter: i64,
    /// PPS interval duration (seconds, log2).
    pub shift: i64,
    /// PPS stability (ppm with 16-bit fraction).
    pub stabil: i64,
    /// PPS jitter limit exceeded.
    pub jitcnt: i64,
    /// PPS calibration intervals.
    pub calcnt: i64,
    /// PPS calibration errors.
    pub errcnt: i64,
    /// PPS stability limit exceeded.
    pub stbcnt: i64,
    /// TAI offset.
    pub tai: i64,
}

/// `adjtimex(2)` in read-only mode: the clock state (the return value) and `struct timex`.
pub trait Adjtimex: Send + Sync + fmt::Debug + 'static {
    /// Reads the kernel clock's state.
    fn adjtimex(&self) -> io::Result<(i32, Timex)>;
}

/// The real system call.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemAdjtimex;

impl Adjtimex for SystemAdjtimex {
    fn adjtimex(&self) -> io::Result<(i32, Timex)> {
        // SAFETY: timex is plain old data; modes 0 only reads.
        let mut t: libc::timex = unsafe { std::mem::zeroed() };
        // SAFETY: `t` is a valid, writable timex.
        let state = unsafe { libc::adjtimex(&mut t) };
        if state < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((
            state,
            Timex {
                offset: t.offset as i64,
                freq: t.freq as i64,
                maxerror: t.maxerror as i64,
                esterror: t.esterror as i64,
                status: i64::from(t.status),
                constant: t.constant as i64,
                tick: t.tick as i64,
                ppsfreq: t.ppsfreq as i64,
                jitter: t.jitter as i64,
                shift: i64::from(t.shift),
                stabil: t.stabil as i64,
                jitcnt: t.jitcnt as i64,
                calcnt: t.calcnt as i64,
                errcnt: t.errcnt as i64,
                stbcnt: t.stbcnt as i64,
                tai: i64::from(t.tai),
            },
        ))
    }
}

/// The clock is not synchronised (`TIME_ERROR`).
const TIME_ERROR: i32 = 5;
/// Offsets in nanoseconds rather than microseconds.
const STA_NANO: i64 = 0x2000;
/// ppm with a 16-bit fraction, as a ratio.
const PPM16FRAC: f64 = 1_000_000.0 * 65_536.0;

/// Every family, in node_exporter's order: (kind, name, HELP, value).
pub fn timex_values(state: i32, t: &Timex) -> [(MetricKind, &'static str, &'static str, f64); 17] {
    use MetricKind::{Counter, Gauge};
    let divisor = if t.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let sync = if state == TIME_ERROR { 0.0 } else { 1.0 };
    [
        (
            Gauge,
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            sync,
        ),
        (
            Gauge,
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        (
            Gauge,
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        (
            Gauge,
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / 1e6,
        ),
        (
            Gauge,
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / 1e6,
        ),
        (
            Gauge,
            "node_timex_status",
            "Value of the status array bits.",
            t.status as f64,
        ),
        (
            Gauge,
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant as f64,
        ),
        (
            Gauge,
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / 1e6,
        ),
        (
            Gauge,
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        (
            Gauge,
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        (
            Gauge,
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            t.shift as f64,
        ),
        (
            Gauge,
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
        (
            Counter,
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt as f64,
        ),
        (
            Counter,
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            t.calcnt as f64,
        ),
        (
            Counter,
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            t.errcnt as f64,
        ),
        (
            Counter,
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt as f64,
        ),
        (
            Gauge,
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            t.tai as f64,
        ),
    ]
}

/// The `timex` collector.
#[derive(Debug)]
pub struct TimexCollector {
    source: std::sync::Arc<dyn Adjtimex>,
}

impl NodeCollector for TimexCollector {
    const NAME: &'static str = "timex";

    fn from_config(c: &Config) -> TimexCollector {
        TimexCollector {
            source: c.adjtimex.clone(),
        }
    }
}

impl BlockingCollector for TimexCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let (state, t) = match self.source.adjtimex() {
            Ok(v) => v,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                tracing::debug!(err = %e, "Not collecting timex metrics");
                return Err(CollectError::NoData);
            }
            Err(e) => {
                return Err(CollectError::new(format!(
                    "failed to retrieve adjtimex stats: {e}"
                )));
            }
        };
        for (kind, name, help, v) in timex_values(state, &t) {
            out.push(scalar(kind, name, help, v));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        let t = Timex {
            offset: 1500,
            freq: 65536,
            tick: 10000,
            status: STA_NANO,
            ..Timex::default()
        };
        let v = timex_values(TIME_ERROR, &t);
        assert_eq!(v[0].3, 0.0);
        assert_eq!(v[1].3, 1.5e-6);
        assert_eq!(v[2].3, 1.000001);
        assert_eq!(v[7].3, 0.01);
        let v = timex_values(
            0,
            &Timex {
                offset: 1500,
                ..Timex::default()
            },
        );
        assert_eq!((v[0].3, v[1].3), (1.0, 0.0015));
        assert!(SystemAdjtimex.adjtimex().is_ok());
    }
}
