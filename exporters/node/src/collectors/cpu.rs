//! `cpu`: `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from
//! `/proc/stat`, thermal throttle counters and isolated CPUs from sysfs.
//!
//! As node_exporter, the collector keeps the last values per CPU and never lets a counter go
//! backwards; if `idle` jumps back by 3 s or more (a CPU was hot-plugged) that CPU starts over.

use std::collections::BTreeMap;
use std::fs;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use parking_lot::Mutex;

use super::stat::{CpuTimes, parse_stat};
use crate::error::{ParseError, ParseErrorKind};
use crate::paths::Paths;
use crate::read::{TextBuf, read_string};
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{family, push};

/// An idle counter that goes back by this many seconds means the CPU was replaced.
const JUMP_BACK_SECONDS: f64 = 3.0;

/// Parses a kernel CPU list (`0-2,5`, as in `/sys/devices/system/cpu/isolated`).
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, ParseError> {
    let err = |kind| ParseError::new("cpu list", 1, kind);
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| err(ParseErrorKind::number(s)))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a || b - a > 65_536 {
                    return Err(err(ParseErrorKind::malformed("CPU range", part)));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(num(part)?),
        }
    }
    Ok(cpus)
}

/// Merges fresh per-CPU times into the cache with node_exporter's rules: a counter never
/// goes backwards, and a CPU whose idle time jumped back by 3 s or more starts over.
///
/// `keep_offline` is node_exporter 1.5.0's behaviour: CPUs are a dense list from 0 to the
/// highest number (missing ones read zero) and the cache is reset when that length changes.
/// Otherwise (upstream) only the CPUs present are kept.
pub fn merge_cpu_times(
    cache: &mut BTreeMap<u32, CpuTimes>,
    fresh: &[(u32, CpuTimes)],
    keep_offline: bool,
) {
    let mut fresh: Vec<(u32, CpuTimes)> = fresh.to_vec();
    if keep_offline {
        let len = fresh
            .iter()
            .map(|(id, _)| *id as usize + 1)
            .max()
            .unwrap_or(0);
        let mut dense = vec![CpuTimes::default(); len];
        for (id, t) in &fresh {
            dense[*id as usize] = *t;
        }
        fresh = dense
            .into_iter()
            .enumerate()
            .map(|(i, t)| (i as u32, t))
            .collect();
        if cache.len() != fresh.len() {
            cache.clear();
        }
    } else {
        cache.retain(|id, _| fresh.iter().any(|(f, _)| f == id));
    }
    for (id, n) in fresh {
        let c = cache.entry(id).or_default();
        if c.idle - n.idle >= JUMP_BACK_SECONDS {
            tracing::debug!(
                cpu = id,
                old = c.idle,
                new = n.idle,
                "CPU idle counter jumped backwards more than 3 seconds, possible hotplug event, resetting CPU stats"
            );
            *c = CpuTimes::default();
        }
        let keep = |old: &mut f64, new: f64| {
            if new >= *old {
                *old = new;
            }
        };
        keep(&mut c.idle, n.idle);
        keep(&mut c.user, n.user);
        keep(&mut c.nice, n.nice);
        keep(&mut c.system, n.system);
        keep(&mut c.iowait, n.iowait);
        keep(&mut c.irq, n.irq);
        keep(&mut c.softirq, n.softirq);
        keep(&mut c.steal, n.steal);
        keep(&mut c.guest, n.guest);
        keep(&mut c.guest_nice, n.guest_nice);
    }
}

/// Per CPU directory: its package and core, and whether it has throttle counters.
#[derive(Debug, Clone)]
struct Topology {
    dir: std::path::PathBuf,
    package: u64,
    core: u64,
}

/// The `cpu` collector.
#[derive(Debug)]
pub struct CpuCollector {
    paths: Paths,
    compat: Compat,
    guest: bool,
    isolated: Vec<u32>,
    cache: Mutex<BTreeMap<u32, CpuTimes>>,
    /// CPUs with `thermal_throttle/` (found once: the directories come with the driver).
    throttled: Mutex<Option<Vec<Topology>>>,
    buf: TextBuf,
}

impl CpuCollector {
    /// A collector reading under `paths`; `guest` adds `node_cpu_guest_seconds_total`.
    pub fn new(paths: Paths, compat: Compat, guest: bool) -> CpuCollector {
        let isolated = match read_string(&paths.sys("devices/system/cpu/isolated")) {
            Ok(text) => parse_cpu_list(&text).unwrap_or_else(|e| {
                tracing::warn!(err = %e, "unable to parse isolated CPUs");
                Vec::new()
            }),
            Err(e) => {
                tracing::debug!(err = %e, "could not open isolated file");
                Vec::new()
            }
        };
        CpuCollector {
            paths,
            compat,
            guest,
            isolated,
            cache: Mutex::new(BTreeMap::new()),
            throttled: Mutex::new(None),
            buf: TextBuf::default(),
        }
    }

    fn topology(&self) -> Vec<Topology> {
        let mut found = Vec::new();
        let Ok(entries) = fs::read_dir(self.paths.sys("devices/system/cpu")) else {
            return found;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_cpu = name
                .strip_prefix("cpu")
                .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()));
            if !is_cpu {
                continue;
            }
            let dir = e.path();
            let read = |rel: &str| {
                read_string(&dir.join(rel))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
            };
            if !dir.join("thermal_throttle").is_dir() {
                continue;
            }
            if let (Some(package), Some(core)) = (
                read("topology/physical_package_id"),
                read("topology/core_id"),
            ) {
                found.push(Topology { dir, package, core });
            }
        }
        found.sort_by(|a, b| a.dir.cmp(&b.dir));
        found
    }

    fn throttles(&self, out: &mut Vec<MetricFamily>) {
        let mut slot = self.throttled.lock();
        let cpus = slot.get_or_insert_with(|| self.topology());
        if cpus.is_empty() {
            return;
        }
        let mut packages: BTreeMap<u64, Option<u64>> = BTreeMap::new();
        let mut cores: BTreeMap<(u64, u64), Option<u64>> = BTreeMap::new();
        let count = |t: &Topology, file: &str| {
            read_string(&t.dir.join("thermal_throttle").join(file))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        for t in cpus.iter() {
            cores
                .entry((t.package, t.core))
                .or_insert_with(|| count(t, "core_throttle_count"));
            packages
                .entry(t.package)
                .or_insert_with(|| count(t, "package_throttle_count"));
        }
        let mut core_f = family(
            MetricKind::Counter,
            "node_cpu_core_throttles_total",
            "Number of times this CPU core has been throttled.",
            &["package", "core"],
        );
        for ((p, c), v) in cores {
            if let Some(v) = v {
                push(&mut core_f, &[&p.to_string(), &c.to_string()], v as f64);
            }
        }
        let mut pkg_f = family(
            MetricKind::Counter,
            "node_cpu_package_throttles_total",
            "Number of times this CPU package has been throttled.",
            &["package"],
        );
        for (p, v) in packages {
            if let Some(v) = v {
                push(&mut pkg_f, &[&p.to_string()], v as f64);
            }
        }
        out.push(core_f);
        out.push(pkg_f);
    }
}

/// The modes in label order (the core exposes series sorted by label values; emitting them
/// sorted spares it a sort and a copy of every label set).
const MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];

impl NodeCollector for CpuCollector {
    const NAME: &'static str = "cpu";

    fn from_config(c: &Config) -> CpuCollector {
        CpuCollector::new(c.paths.clone(), c.compat, c.cpu_guest)
    }
}

impl BlockingCollector for CpuCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let stat = self
            .buf
            .with(&self.paths.proc("stat"), parse_stat)
            .map_err(CollectError::new)?;
        let mut cache = self.cache.lock();
        merge_cpu_times(&mut cache, &stat.cpus, self.compat.is_debian12());
        let mut seconds = family(
            MetricKind::Counter,
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            &["cpu", "mode"],
        );
        let mut guest = family(
            MetricKind::Counter,
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            &["cpu", "mode"],
        );
        let mut cpus: Vec<(String, &CpuTimes)> =
            cache.iter().map(|(n, t)| (n.to_string(), t)).collect();
        cpus.sort_by(|a, b| a.0.cmp(&b.0));
        for (cpu, t) in &cpus {
            let values = [
                t.idle, t.iowait, t.irq, t.nice, t.softirq, t.steal, t.system, t.user,
            ];
            for (mode, v) in MODES.iter().zip(values) {
                push(&mut seconds, &[cpu, mode], v);
            }
            if self.guest {
                push(&mut guest, &[cpu, "nice"], t.guest_nice);
                push(&mut guest, &[cpu, "user"], t.guest);
            }
        }
        drop(cache);
        out.push(seconds);
        if self.guest {
            out.push(guest);
        }
        if !self.isolated.is_empty() {
            let mut f = family(
                MetricKind::Gauge,
                "node_cpu_isolated",
                "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
                &["cpu"],
            );
            let mut isolated: Vec<String> = self.isolated.iter().map(u32::to_string).collect();
            isolated.sort();
            for cpu in &isolated {
                push(&mut f, &[cpu], 1.0);
            }
            out.push(f);
        }
        self.throttles(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(idle: f64, user: f64) -> CpuTimes {
        CpuTimes {
            idle,
            user,
            ..CpuTimes::default()
        }
    }

    #[test]
    fn counters_never_go_back_and_hotplug_resets() {
        let mut cache = BTreeMap::new();
        merge_cpu_times(&mut cache, &[(0, t(100.0, 50.0))], false);
        merge_cpu_times(&mut cache, &[(0, t(99.0, 40.0))], false);
        assert_eq!(cache[&0], t(100.0, 50.0));
        merge_cpu_times(&mut cache, &[(0, t(10.0, 5.0))], false);
        assert_eq!(cache[&0], t(10.0, 5.0));
    }

    #[test]
    fn offline_cpus_per_profile() {
        let mut cache = BTreeMap::new();
        merge_cpu_times(&mut cache, &[(0, t(1.0, 1.0)), (2, t(1.0, 1.0))], true);
        assert_eq!(cache.keys().copied().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(cache[&1], CpuTimes::default());
        let mut cache = BTreeMap::new();
        merge_cpu_times(&mut cache, &[(0, t(1.0, 1.0)), (2, t(1.0, 1.0))], false);
        assert_eq!(cache.keys().copied().collect::<Vec<_>>(), [0, 2]);
        merge_cpu_times(&mut cache, &[(0, t(2.0, 1.0))], false);
        assert_eq!(cache.keys().copied().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5\n").unwrap(), [0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("3-1").is_err() && parse_cpu_list("a").is_err());
    }
}
