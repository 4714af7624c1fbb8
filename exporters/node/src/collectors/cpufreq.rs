//! `cpufreq`: `node_cpu_frequency_*_hertz` and `node_cpu_scaling_frequency_*_hertz` (and,
//! upstream, `node_cpu_scaling_governor`) from `/sys/devices/system/cpu/cpu*/cpufreq`.

use std::io;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::paths::Paths;
use crate::sysfs;

/// One CPU's `cpufreq` directory, in kHz as the kernel writes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuFreq {
    /// The number after `cpu`.
    pub name: String,
    /// `cpuinfo_cur_freq`.
    pub cpuinfo_cur: Option<u64>,
    /// `cpuinfo_min_freq`.
    pub cpuinfo_min: Option<u64>,
    /// `cpuinfo_max_freq`.
    pub cpuinfo_max: Option<u64>,
    /// `scaling_cur_freq`.
    pub scaling_cur: Option<u64>,
    /// `scaling_min_freq`.
    pub scaling_min: Option<u64>,
    /// `scaling_max_freq`.
    pub scaling_max: Option<u64>,
    /// `scaling_available_governors`.
    pub available_governors: String,
    /// `scaling_governor`.
    pub governor: String,
}

/// `devices/system/cpu/offline`'s list (`0-3,7`).
pub fn parse_cpu_range(text: &str) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    let num = |s: &str| s.parse::<u32>().map_err(sysfs::invalid);
    for part in text.trim_end_matches('\n').split(',') {
        if part.is_empty() {
            continue;
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b.saturating_sub(a) > 65_536 {
                    return Err(sysfs::invalid(format!("invalid cpu range: {part}")));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    Ok(out)
}

/// Reads one `cpufreq` directory with procfs's rules: a frequency file that is absent or not
/// readable is skipped, one that does not parse fails; the governor files are required.
pub fn read_cpufreq(dir: &Path, compat: Compat) -> io::Result<CpuFreq> {
    let u = |f: &str| sysfs::optional(sysfs::uint_file(&dir.join(f)));
    let mut c = CpuFreq {
        cpuinfo_cur: u("cpuinfo_cur_freq")?,
        cpuinfo_max: u("cpuinfo_max_freq")?,
        cpuinfo_min: u("cpuinfo_min_freq")?,
        ..CpuFreq::default()
    };
    u("cpuinfo_transition_latency")?;
    c.scaling_cur = u("scaling_cur_freq")?;
    c.scaling_max = u("scaling_max_freq")?;
    c.scaling_min = u("scaling_min_freq")?;
    c.available_governors = sysfs::attribute(&dir.join("scaling_available_governors"))?;
    sysfs::attribute(&dir.join("scaling_driver"))?;
    c.governor = sysfs::attribute(&dir.join("scaling_governor"))?;
    sysfs::attribute(&dir.join("related_cpus"))?;
    sysfs::attribute(&dir.join("scaling_setspeed"))?;
    if !compat.is_debian12() {
        check_stats(&dir.join("stats"))?;
    }
    Ok(c)
}

/// procfs (0.19) parses `stats/` and fails on what does not parse, though nothing is exported
/// from it.
fn check_stats(stats: &Path) -> io::Result<()> {
    sysfs::optional(sysfs::uint_file(&stats.join("total_trans")))?;
    let uint = |s: &str| crate::number::uint(s).map_err(sysfs::invalid);
    let read = |f: &str| {
        let p = stats.join(f);
        sysfs::optional(std::fs::read_to_string(&p).map_err(|e| sysfs::at(&p, e)))
    };
    if let Some(text) = read("time_in_state")? {
        for line in text.split('\n').filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() != 2 {
                return Err(sysfs::invalid(format!(
                    "unexpected number of fields in time_in_state: {f:?}"
                )));
            }
            uint(f[0])?;
            uint(f[1])?;
        }
    }
    if let Some(text) = read("trans_table")? {
        for line in text.split('\n').skip(1).filter(|l| !l.is_empty()) {
            for (i, f) in line.split_ascii_whitespace().enumerate() {
                uint(if i == 0 { f.trim_end_matches(':') } else { f })?;
            }
        }
    }
    Ok(())
}

/// Every online CPU that has a `cpufreq` directory.
pub fn system_cpufreq(cpu_dir: &Path, compat: Compat) -> io::Result<Vec<CpuFreq>> {
    let mut cpus = sysfs::glob(cpu_dir, "cpu", true);
    if !compat.is_debian12() {
        let path = cpu_dir.join("offline");
        let text = std::fs::read_to_string(&path).map_err(|e| sysfs::at(&path, e))?;
        let offline = parse_cpu_range(&text).map_err(|e| sysfs::at(&path, e))?;
        if !offline.is_empty() {
            let mut kept = Vec::with_capacity(cpus.len());
            for (name, path) in cpus {
                let n: u32 = name[3..].parse().map_err(sysfs::invalid)?;
                if !offline.contains(&n) {
                    kept.push((name, path));
                }
            }
            cpus = kept;
        }
    }
    let mut dirs = Vec::with_capacity(cpus.len());
    for (name, path) in cpus {
        let dir = path.join("cpufreq");
        match std::fs::metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(sysfs::at(&dir, e)),
            Ok(_) => dirs.push((name, dir)),
        }
    }
    read_all(&dirs, compat)
}

/// CPUs read at once by one thread. Reading a CPU's current frequency can make the kernel
/// wait for a fresh APERF/MPERF sample (up to 10 ms per CPU on some kernels), which is why
/// procfs reads the CPUs in parallel; so do we, with a few threads instead of one each.
const CPUS_PER_THREAD: usize = 16;

fn read_all(dirs: &[(String, std::path::PathBuf)], compat: Compat) -> io::Result<Vec<CpuFreq>> {
    let read = |chunk: &[(String, std::path::PathBuf)]| -> io::Result<Vec<CpuFreq>> {
        chunk
            .iter()
            .map(|(name, dir)| {
                let mut c = read_cpufreq(dir, compat)?;
                c.name = name[3..].to_owned();
                Ok(c)
            })
            .collect()
    };
    if dirs.len() <= CPUS_PER_THREAD {
        return read(dirs);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .chunks(CPUS_PER_THREAD)
            .map(|chunk| s.spawn(move || read(chunk)))
            .collect();
        let mut out = Vec::with_capacity(dirs.len());
        for h in handles {
            out.extend(h.join().expect("cpufreq reader panicked")?);
        }
        Ok(out)
    })
}

/// The `cpufreq` collector.
#[derive(Debug)]
pub struct CpuFreqCollector {
    paths: Paths,
    compat: Compat,
}

impl NodeCollector for CpuFreqCollector {
    const NAME: &'static str = "cpufreq";

    fn from_config(c: &Config) -> CpuFreqCollector {
        CpuFreqCollector {
            paths: c.paths.clone(),
            compat: c.compat,
        }
    }
}

impl BlockingCollector for CpuFreqCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let debian = self.compat.is_debian12();
        let cpus = system_cpufreq(&self.paths.sys("devices/system/cpu"), self.compat)
            .map_err(CollectError::new)?;
        let cpu = if debian { "cpu" } else { "CPU" };
        let gauge = |name: &str, help: &str| family(MetricKind::Gauge, name, help, &["cpu"]);
        let mut fams = [
            gauge(
                "node_cpu_frequency_hertz",
                &format!("Current {cpu} thread frequency in hertz."),
            ),
            gauge(
                "node_cpu_frequency_min_hertz",
                &format!("Minimum {cpu} thread frequency in hertz."),
            ),
            gauge(
                "node_cpu_frequency_max_hertz",
                &format!("Maximum {cpu} thread frequency in hertz."),
            ),
            gauge(
                "node_cpu_scaling_frequency_hertz",
                "Current scaled CPU thread frequency in hertz.",
            ),
            gauge(
                "node_cpu_scaling_frequency_min_hertz",
                "Minimum scaled CPU thread frequency in hertz.",
            ),
            gauge(
                "node_cpu_scaling_frequency_max_hertz",
                "Maximum scaled CPU thread frequency in hertz.",
            ),
        ];
        let mut governor = family(
            MetricKind::Gauge,
            "node_cpu_scaling_governor",
            "Current enabled CPU frequency governor.",
            &["cpu", "governor"],
        );
        for c in &cpus {
            let values = [
                c.cpuinfo_cur,
                c.cpuinfo_min,
                c.cpuinfo_max,
                c.scaling_cur,
                c.scaling_min,
                c.scaling_max,
            ];
            for (f, v) in fams.iter_mut().zip(values) {
                if let Some(khz) = v {
                    push(f, &[&c.name], khz as f64 * 1000.0);
                }
            }
            if !debian && !c.governor.is_empty() {
                for g in c.available_governors.split(' ') {
                    let on = if g == c.governor { 1.0 } else { 0.0 };
                    push(&mut governor, &[&c.name, g], on);
                }
            }
        }
        out.extend(fams.into_iter().chain([governor]).filter(|f| !f.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ranges() {
        assert_eq!(parse_cpu_range("0-2,5\n").unwrap(), [0, 1, 2, 5]);
        assert!(parse_cpu_range("\n").unwrap().is_empty());
        assert!(parse_cpu_range("a-1").is_err());
        assert!(parse_cpu_range("0-99999999").is_err());
    }
}
