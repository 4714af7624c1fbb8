//! client_golang's process collector: CPU, memory, file descriptors and start time of this
//! process, read from `/proc/self` on Linux.
//!
//! Names, types and HELP are client_golang's (`prometheus/process_collector.go`); values are
//! computed as its procfs path does: CPU seconds from `utime + stime` at `USER_HZ` = 100,
//! resident memory as pages times the page size, the start time as the boot time (`btime` in
//! `/proc/stat`) plus the process's start in ticks, and unlimited limits as 2^64 − 1. As in
//! client_golang with `ReportErrors: false`, what cannot be read is left out. The client_golang
//! ≥ 1.20 additions (`process_network_*_bytes_total`) are not produced. On other operating
//! systems the collector produces nothing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aiplatform_metrics::collect::Collector;
use aiplatform_metrics::{MetricFamily, MetricKind};

/// `USER_HZ`, which the kernel uses for `/proc` tick counts (procfs hard-codes it too).
const USER_HZ: f64 = 100.0;

/// The names, types and HELP strings client_golang uses, in its `Describe` order.
pub const PROCESS_FAMILIES: [(&str, MetricKind, &str); 7] = [
    (
        "process_cpu_seconds_total",
        MetricKind::Counter,
        "Total user and system CPU time spent in seconds.",
    ),
    (
        "process_open_fds",
        MetricKind::Gauge,
        "Number of open file descriptors.",
    ),
    (
        "process_max_fds",
        MetricKind::Gauge,
        "Maximum number of open file descriptors.",
    ),
    (
        "process_virtual_memory_bytes",
        MetricKind::Gauge,
        "Virtual memory size in bytes.",
    ),
    (
        "process_virtual_memory_max_bytes",
        MetricKind::Gauge,
        "Maximum amount of virtual memory available in bytes.",
    ),
    (
        "process_resident_memory_bytes",
        MetricKind::Gauge,
        "Resident memory size in bytes.",
    ),
    (
        "process_start_time_seconds",
        MetricKind::Gauge,
        "Start time of the process since unix epoch in seconds.",
    ),
];

/// Reports this process's `process_*` metrics; an [`aiplatform_metrics::collect::Collector`].
///
/// ```
/// use aiplatform_metrics::Registry;
/// use aiplatform_prometheus::ProcessCollector;
///
/// let registry = Registry::new();
/// registry.register_collector(ProcessCollector::new());
/// # #[cfg(target_os = "linux")]
/// assert!(registry.collect().family("process_resident_memory_bytes").is_some());
/// ```
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    /// The `/proc` mount (replaceable for tests).
    proc_root: PathBuf,
    /// Which process: `self` or a pid.
    pid: String,
    page_size: f64,
    /// `btime` never changes while the machine runs: read `/proc/stat` (large on many-core
    /// hosts) once.
    boot_time: OnceLock<u64>,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

impl ProcessCollector {
    /// Reads `/proc/self`.
    pub fn new() -> ProcessCollector {
        ProcessCollector {
            proc_root: PathBuf::from("/proc"),
            pid: "self".to_owned(),
            page_size: page_size(),
            boot_time: OnceLock::new(),
        }
    }

    /// Reads `<proc_root>/<pid>` and `<proc_root>/stat` instead (a fixture tree, or another
    /// process).
    pub fn with_root(proc_root: impl Into<PathBuf>, pid: impl Into<String>) -> ProcessCollector {
        ProcessCollector {
            proc_root: proc_root.into(),
            pid: pid.into(),
            page_size: page_size(),
            boot_time: OnceLock::new(),
        }
    }

    fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.proc_root.join(&self.pid).join(file)).ok()
    }

    /// The values, as far as they can be read.
    pub(crate) fn sample(&self) -> ProcessSample {
        let mut s = ProcessSample::default();
        if let Some(stat) = self.read("stat").as_deref().and_then(parse_stat) {
            s.cpu_seconds = Some((stat.utime + stat.stime) as f64 / USER_HZ);
            s.virtual_memory = Some(stat.vsize as f64);
            s.resident_memory = Some(stat.rss as f64 * self.page_size);
            s.start_time = self
                .boot_time()
                .map(|btime| btime as f64 + stat.starttime as f64 / USER_HZ);
        }
        s.open_fds = count_entries(&self.proc_root.join(&self.pid).join("fd")).map(|n| n as f64);
        if let Some(limits) = self.read("limits").as_deref().map(parse_limits) {
            s.max_fds = limits.open_files.map(|v| v as f64);
            s.virtual_memory_max = limits.address_space.map(|v| v as f64);
        }
        s
    }
}

impl ProcessCollector {
    fn boot_time(&self) -> Option<u64> {
        if let Some(b) = self.boot_time.get() {
            return Some(*b);
        }
        let b = std::fs::read_to_string(self.proc_root.join("stat"))
            .ok()
            .as_deref()
            .and_then(parse_boot_time)?;
        Some(*self.boot_time.get_or_init(|| b))
    }
}

impl Collector for ProcessCollector {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        if !cfg!(target_os = "linux") && self.proc_root == Path::new("/proc") {
            return;
        }
        let s = self.sample();
        let values = [
            s.cpu_seconds,
            s.open_fds,
            s.max_fds,
            s.virtual_memory,
            s.virtual_memory_max,
            s.resident_memory,
            s.start_time,
        ];
        for ((name, kind, help), value) in PROCESS_FAMILIES.iter().zip(values) {
            let Some(value) = value else { continue };
            let mut f = MetricFamily::builder(*kind, name, help)
                .build()
                .expect("static family description is valid");
            let none: &[&str] = &[];
            match kind {
                MetricKind::Counter => f.push_counter(none, value),
                _ => f.push_gauge(none, value),
            }
            .expect("no labels");
            out.push(f);
        }
    }
}

/// One reading of the process's values; `None` where the source could not be read.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ProcessSample {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) open_fds: Option<f64>,
    pub(crate) max_fds: Option<f64>,
    pub(crate) virtual_memory: Option<f64>,
    pub(crate) virtual_memory_max: Option<f64>,
    pub(crate) resident_memory: Option<f64>,
    pub(crate) start_time: Option<f64>,
}

/// The fields of `/proc/<pid>/stat` the collector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// User time, in ticks.
    pub(crate) utime: u64,
    /// System time, in ticks.
    pub(crate) stime: u64,
    /// Start time after boot, in ticks.
    pub(crate) starttime: u64,
    /// Virtual memory size, in bytes.
    pub(crate) vsize: u64,
    /// Resident set size, in pages.
    pub(crate) rss: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field n is index n − 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    // rss is signed in the kernel's format; a negative value reads as 0 pages.
    let rss = match fields.get(24 - 3)? {
        s if s.starts_with('-') => 0,
        s => s.parse().ok()?,
    };
    Some(ProcStat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        vsize: field(23)?,
        rss,
    })
}

/// The soft limits the collector reports from `/proc/<pid>/limits`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `Max open files`.
    pub(crate) open_files: Option<u64>,
    /// `Max address space`, bytes.
    pub(crate) address_space: Option<u64>,
}

/// Parses `/proc/<pid>/limits`; `unlimited` is 2^64 − 1, as procfs reports it.
pub(crate) fn parse_limits(text: &str) -> Limits {
    let soft = |line: &str, name: &str| -> Option<u64> {
        let value = line.strip_prefix(name)?.split_whitespace().next()?;
        if value == "unlimited" {
            Some(u64::MAX)
        } else {
            value.parse().ok()
        }
    };
    let mut limits = Limits::default();
    for line in text.lines() {
        if let Some(v) = soft(line, "Max open files") {
            limits.open_files = Some(v);
        } else if let Some(v) = soft(line, "Max address space") {
            limits.address_space = Some(v);
        }
    }
    limits
}

/// The `btime` line of `/proc/stat`: boot time, seconds since the epoch.
pub(crate) fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn count_entries(dir: &Path) -> Option<usize> {
    Some(std::fs::read_dir(dir).ok()?.count())
}

#[cfg(target_os = "linux")]
fn page_size() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as f64 } else { 4096.0 }
}

#[cfg(not(target_os = "linux"))]
fn page_size() -> f64 {
    4096.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STAT: &str = "4242 (my (odd) exporter) S 1 4242 4242 0 -1 4194560 1516 0 3 0 250 75 0 0 20 0 9 0 123456 1073741824 2560 18446744073709551615 1 1 0 0 0 0 0 4096 17991 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
Max cpu time              unlimited            unlimited            seconds   \n\
Max open files            1024                 524288               files     \n\
Max address space         unlimited            unlimited            bytes     \n";

    #[test]
    fn stat_fields() {
        assert_eq!(
            parse_stat(STAT),
            Some(ProcStat {
                utime: 250,
                stime: 75,
                starttime: 123456,
                vsize: 1073741824,
                rss: 2560,
            })
        );
        assert_eq!(parse_stat("1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn limits() {
        assert_eq!(
            parse_limits(LIMITS),
            Limits {
                open_files: Some(1024),
                address_space: Some(u64::MAX),
            }
        );
        assert_eq!(parse_limits("garbage"), Limits::default());
    }

    #[test]
    fn boot_time() {
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"),
            Some(1700000000)
        );
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[test]
    fn fixture_tree() {
        let root = std::env::temp_dir().join(format!("proc-fixture-{}", std::process::id()));
        let me = root.join("4242");
        std::fs::create_dir_all(me.join("fd")).unwrap();
        for fd in ["0", "1", "2", "5"] {
            std::fs::write(me.join("fd").join(fd), "").unwrap();
        }
        std::fs::write(me.join("stat"), STAT).unwrap();
        std::fs::write(me.join("limits"), LIMITS).unwrap();
        std::fs::write(root.join("stat"), "cpu 1 2\nbtime 1700000000\n").unwrap();
        let c = ProcessCollector::with_root(&root, "4242");
        let s = c.sample();
        assert_eq!(s.cpu_seconds, Some(3.25));
        assert_eq!(s.open_fds, Some(4.0));
        assert_eq!(s.max_fds, Some(1024.0));
        assert_eq!(s.virtual_memory, Some(1073741824.0));
        assert_eq!(s.virtual_memory_max, Some(u64::MAX as f64));
        assert_eq!(s.resident_memory, Some(2560.0 * page_size()));
        assert_eq!(s.start_time, Some(1700000000.0 + 1234.56));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process() {
        let s = ProcessCollector::new().sample();
        assert!(s.resident_memory.unwrap() > 0.0);
        assert!(s.open_fds.unwrap() >= 3.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86400.0 * 365.0,
            "{start}"
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,400}") {
            let _ = parse_stat(&text);
            let _ = parse_limits(&text);
            let _ = parse_boot_time(&text);
        }

        #[test]
        fn stat_round_trip(name in "[ -~]{0,20}", utime in any::<u32>(), stime in any::<u32>(), start in any::<u32>(), vsize in any::<u64>(), rss in any::<u32>()) {
            let text = format!("1 ({name}) S 1 1 1 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 {start} {vsize} {rss} 0\n");
            let s = parse_stat(&text).unwrap();
            prop_assert_eq!((s.utime, s.stime, s.starttime, s.vsize, s.rss), (u64::from(utime), u64::from(stime), u64::from(start), vsize, u64::from(rss)));
        }
    }
}
