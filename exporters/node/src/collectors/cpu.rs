//! `cpu`: `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from
//! `/proc/stat`, thermal throttle counters and isolated CPUs from sysfs; with
//! `--collector.cpu.info`, `node_cpu_info` per CPU and the first CPU's flags and bugs
//! (`node_cpu_flag_info`, `node_cpu_bug_info`, each only with its include pattern) from
//! `/proc/cpuinfo`.
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
use crate::number;
use crate::paths::Paths;
use crate::read::{TextBuf, read_string};
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{family, push};
use regex::Regex;

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

/// What `node_cpu_info` and friends read of one `/proc/cpuinfo` processor block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo {
    /// `processor`.
    pub processor: u32,
    /// `vendor_id` (or `vendor`).
    pub vendor_id: String,
    /// `cpu family`.
    pub family: String,
    /// `model`.
    pub model: String,
    /// `model name`.
    pub model_name: String,
    /// `stepping`.
    pub stepping: String,
    /// `microcode`.
    pub microcode: String,
    /// `cpu MHz`.
    pub mhz: f64,
    /// `cache size`.
    pub cache_size: String,
    /// `physical id`.
    pub physical_id: String,
    /// `core id`.
    pub core_id: String,
    /// `flags`.
    pub flags: Vec<String>,
    /// `bugs`.
    pub bugs: Vec<String>,
}

/// Parses x86 `/proc/cpuinfo` as procfs does: the first non-empty line must be a
/// `processor` line, each `processor` starts a block, `key: value` lines fill it in, and a
/// number field that is not a number fails the whole file.
pub fn parse_cpuinfo(text: &str) -> Result<Vec<CpuInfo>, ParseError> {
    let mut lines = text
        .lines()
        .enumerate()
        .skip_while(|(_, l)| l.trim().is_empty());
    let err = |i: usize, kind| ParseError::new("cpuinfo", i + 1, kind);
    let (i, first) = lines
        .next()
        .ok_or_else(|| err(0, ParseErrorKind::Missing("processor line")))?;
    let processor =
        |i: usize, v: &str| go_uint32(v).ok_or_else(|| err(i, ParseErrorKind::number(v)));
    let Some(("processor", v)) = first.split_once(": ").map(|(k, v)| (k.trim(), v)) else {
        return Err(err(i, ParseErrorKind::malformed("processor line", first)));
    };
    let mut cpus = vec![CpuInfo {
        processor: processor(i, v)?,
        ..CpuInfo::default()
    }];
    for (i, line) in lines {
        let Some((key, v)) = line.split_once(": ") else {
            continue;
        };
        let number = |v: &str| -> Result<(), ParseError> {
            go_uint32(v)
                .map(|_| ())
                .ok_or_else(|| err(i, ParseErrorKind::number(v)))
        };
        let float = |v: &str| number::float(v).map_err(|k| err(i, k));
        let key = key.trim();
        if key == "processor" {
            cpus.push(CpuInfo {
                processor: processor(i, v)?,
                ..CpuInfo::default()
            });
            continue;
        }
        let c = cpus.last_mut().expect("one block at least");
        match key {
            "vendor" | "vendor_id" => c.vendor_id = v.to_owned(),
            "cpu family" => c.family = v.to_owned(),
            "model" => c.model = v.to_owned(),
            "model name" => c.model_name = v.to_owned(),
            "stepping" => c.stepping = v.to_owned(),
            "microcode" => c.microcode = v.to_owned(),
            "cpu MHz" => c.mhz = float(v)?,
            "cache size" => c.cache_size = v.to_owned(),
            "physical id" => c.physical_id = v.to_owned(),
            "core id" => c.core_id = v.to_owned(),
            "flags" => c.flags = v.split_ascii_whitespace().map(str::to_owned).collect(),
            "bugs" => c.bugs = v.split_ascii_whitespace().map(str::to_owned).collect(),
            "siblings" | "cpu cores" | "cpuid level" | "clflush size" | "cache_alignment" => {
                number(v)?
            }
            "bogomips" => {
                float(v)?;
            }
            _ => {}
        }
    }
    Ok(cpus)
}

/// Go's `strconv.ParseUint(s, 0, 32)`.
fn go_uint32(s: &str) -> Option<u32> {
    u32::try_from(number::uint_base0(s).ok()?).ok()
}

/// `--collector.cpu.info` and its filters.
#[derive(Debug, Clone, Default)]
pub struct CpuInfoConfig {
    /// `--collector.cpu.info` (also on when a filter is given).
    pub enabled: bool,
    /// `--collector.cpu.info.flags-include`: `node_cpu_flag_info` only with it.
    pub flags_include: Option<Regex>,
    /// `--collector.cpu.info.bugs-include`: `node_cpu_bug_info` only with it.
    pub bugs_include: Option<Regex>,
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
    info: CpuInfoConfig,
    cache: Mutex<BTreeMap<u32, CpuTimes>>,
    /// CPUs with `thermal_throttle/` (found once: the directories come with the driver).
    throttled: Mutex<Option<Vec<Topology>>>,
    buf: TextBuf,
}

impl CpuCollector {
    /// A collector reading under `paths`; `guest` adds `node_cpu_guest_seconds_total`.
    pub fn new(paths: Paths, compat: Compat, guest: bool) -> CpuCollector {
        CpuCollector::with_info(paths, compat, guest, CpuInfoConfig::default())
    }

    /// A collector that also reports `/proc/cpuinfo` as `info` says.
    pub fn with_info(
        paths: Paths,
        compat: Compat,
        guest: bool,
        info: CpuInfoConfig,
    ) -> CpuCollector {
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
            info,
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
            &["core", "package"],
        );
        for ((p, c), v) in cores {
            if let Some(v) = v {
                push(&mut core_f, &[&c.to_string(), &p.to_string()], v as f64);
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

impl CpuCollector {
    fn cpu_info(&self, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let cpus = self
            .buf
            .with(&self.paths.proc("cpuinfo"), parse_cpuinfo)
            .map_err(CollectError::new)?;
        // Label names sorted, as client_golang writes them.
        let mut info = family(
            MetricKind::Gauge,
            "node_cpu_info",
            "CPU information from /proc/cpuinfo.",
            &[
                "cachesize",
                "core",
                "cpu",
                "family",
                "microcode",
                "model",
                "model_name",
                "package",
                "stepping",
                "vendor",
            ],
        );
        for c in &cpus {
            push(
                &mut info,
                &[
                    &c.cache_size,
                    &c.core_id,
                    &c.processor.to_string(),
                    &c.family,
                    &c.microcode,
                    &c.model,
                    &c.model_name,
                    &c.physical_id,
                    &c.stepping,
                    &c.vendor_id,
                ],
                1.0,
            );
        }
        out.push(info);
        if !self.compat.is_debian12() {
            // node_exporter 1.6 and later, with the cpufreq collector on (its default).
            let mut freq = family(
                MetricKind::Gauge,
                "node_cpu_frequency_hertz",
                "CPU frequency in hertz from /proc/cpuinfo.",
                &["core", "cpu", "package"],
            );
            for c in &cpus {
                push(
                    &mut freq,
                    &[&c.core_id, &c.processor.to_string(), &c.physical_id],
                    c.mhz * 1e6,
                );
            }
            out.push(freq);
        }
        let Some(first) = cpus.first() else {
            return Ok(());
        };
        for (filter, values, name, help, label) in [
            (
                &self.info.flags_include,
                &first.flags,
                "node_cpu_flag_info",
                "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
                "flag",
            ),
            (
                &self.info.bugs_include,
                &first.bugs,
                "node_cpu_bug_info",
                "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.",
                "bug",
            ),
        ] {
            let Some(re) = filter else { continue };
            let mut f = family(MetricKind::Gauge, name, help, &[label]);
            for v in values.iter().filter(|v| re.is_match(v)) {
                push(&mut f, &[v], 1.0);
            }
            if !f.is_empty() {
                out.push(f);
            }
        }
        Ok(())
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
        CpuCollector::with_info(c.paths.clone(), c.compat, c.cpu_guest, c.cpu_info.clone())
    }
}

impl BlockingCollector for CpuCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        if self.info.enabled {
            self.cpu_info(out)?;
        }
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
    fn cpuinfo() {
        let text = "\nprocessor\t: 0\nvendor_id\t: GenuineIntel\ncpu MHz\t\t: 2400.000\nflags\t\t: fpu vme sse\nbugs\t\t: spectre_v1\npower management:\n\nprocessor\t: 1\ncore id\t\t: 1\n";
        let c = parse_cpuinfo(text).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].vendor_id.as_str(), c[0].mhz),
            ("GenuineIntel", 2400.0)
        );
        assert_eq!(c[0].flags, ["fpu", "vme", "sse"]);
        assert_eq!((c[1].processor, c[1].core_id.as_str()), (1, "1"));
        assert!(parse_cpuinfo("vendor_id: x\n").is_err());
        assert!(parse_cpuinfo("processor\t: 0\ncpu MHz\t: fast\n").is_err());
        assert!(parse_cpuinfo("processor\t: x\n").is_err());
        assert!(parse_cpuinfo("").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5\n").unwrap(), [0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("3-1").is_err() && parse_cpu_list("a").is_err());
    }
}
