//! `time`: `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}` and the clock
//! sources of `/sys/devices/system/clocksource`.

use std::ffi::CStr;
use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::ReadError;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::family::{family, push, scalar};

/// One `clocksourceN` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockSource {
    /// `available_clocksource`, split on whitespace.
    pub available: Vec<String>,
    /// `current_clocksource`, trimmed.
    pub current: String,
}

/// Parses `available_clocksource` and `current_clocksource`.
pub fn parse_clocksource(available: &str, current: &str) -> ClockSource {
    ClockSource {
        available: available
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        current: current.trim().to_owned(),
    }
}

fn read_clocksources_with(
    paths: &Paths,
    read: &mut dyn FnMut(&std::path::Path, &mut String) -> Result<(), ReadError>,
) -> Result<Vec<ClockSource>, ReadError> {
    let dir = paths.sys("devices/system/clocksource");
    let mut names: Vec<std::path::PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| {
                e.file_name().to_str().is_some_and(|n| {
                    n.strip_prefix("clocksource")
                        .is_some_and(|d| d.starts_with(|c: char| c.is_ascii_digit()))
                })
            })
            .map(|e| e.path())
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    names.sort();
    let (mut available, mut current) = (String::new(), String::new());
    names
        .iter()
        .map(|d| {
            read(&d.join("available_clocksource"), &mut available)?;
            read(&d.join("current_clocksource"), &mut current)?;
            Ok(parse_clocksource(&available, &current))
        })
        .collect()
}

/// The local time zone's abbreviation and offset from UTC in seconds at `unix_seconds`.
pub fn zone_at(unix_seconds: i64) -> (String, i64) {
    let t: libc::time_t = unix_seconds as libc::time_t;
    // SAFETY: tm is plain old data.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok || tm.tm_zone.is_null() {
        return ("UTC".to_owned(), 0);
    }
    // SAFETY: tm_zone points at a NUL-terminated string owned by the C library.
    let zone = unsafe { CStr::from_ptr(tm.tm_zone) }
        .to_string_lossy()
        .into_owned();
    (zone, tm.tm_gmtoff as i64)
}

/// The `time` collector.
#[derive(Debug)]
pub struct TimeCollector {
    paths: Paths,
    files: TextBuf,
}

impl TimeCollector {
    /// A collector reading clock sources under `paths`.
    pub fn new(paths: Paths) -> TimeCollector {
        // localtime_r does not promise to read TZ; tzset once does.
        // SAFETY: tzset has no preconditions.
        unsafe { tzset() };
        TimeCollector {
            paths,
            files: TextBuf::default(),
        }
    }
}

unsafe extern "C" {
    fn tzset();
}

impl NodeCollector for TimeCollector {
    const NAME: &'static str = "time";

    fn from_config(c: &Config) -> TimeCollector {
        TimeCollector::new(c.paths.clone())
    }
}

impl BlockingCollector for TimeCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let nanos = now.as_nanos() as f64;
        out.push(scalar(
            MetricKind::Gauge,
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            nanos / 1e9,
        ));
        let (zone, offset) = zone_at(now.as_secs() as i64);
        let mut z = family(
            MetricKind::Gauge,
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
            &["time_zone"],
        );
        push(&mut z, &[&zone], offset as f64);
        out.push(z);
        let mut read = |path: &std::path::Path, out: &mut String| self.files.read_to(path, out);
        let sources = read_clocksources_with(&self.paths, &mut read).map_err(CollectError::new)?;
        let mut available = family(
            MetricKind::Gauge,
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
            &["clocksource", "device"],
        );
        let mut current = family(
            MetricKind::Gauge,
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
            &["clocksource", "device"],
        );
        for (i, s) in sources.iter().enumerate() {
            let device = i.to_string();
            let mut names: Vec<&String> = s.available.iter().collect();
            names.sort();
            for a in names {
                push(&mut available, &[a, &device], 1.0);
            }
            push(&mut current, &[&s.current, &device], 1.0);
        }
        out.push(available);
        out.push(current);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocksource_files() {
        let c = parse_clocksource("tsc kvm-clock acpi_pm \n", "tsc\n");
        assert_eq!(c.available, ["tsc", "kvm-clock", "acpi_pm"]);
        assert_eq!(c.current, "tsc");
    }

    #[test]
    fn zone_is_named() {
        let (zone, offset) = zone_at(0);
        assert!(!zone.is_empty());
        assert!(offset.abs() <= 14 * 3600);
    }
}
