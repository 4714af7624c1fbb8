//! `stat`: boot time, context switches, forks, interrupts and runnable/blocked processes
//! from `/proc/stat` (and, with `--collector.stat.softirq`, softirqs per vector). The `cpu`
//! lines of the same file are parsed here too, for the `cpu` collector.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::family::{family, push, scalar};

/// Clock ticks per second of `/proc/stat` (`USER_HZ`, 100 on every Linux architecture).
pub const USER_HZ: f64 = 100.0;

/// One `cpuN` line, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// user (guest time included, as the kernel counts it).
    pub user: f64,
    /// nice (guest_nice included).
    pub nice: f64,
    /// system.
    pub system: f64,
    /// idle.
    pub idle: f64,
    /// iowait.
    pub iowait: f64,
    /// irq.
    pub irq: f64,
    /// softirq.
    pub softirq: f64,
    /// steal.
    pub steal: f64,
    /// guest.
    pub guest: f64,
    /// guest_nice.
    pub guest_nice: f64,
}

/// The softirq vectors of the `softirq` line, in the kernel's order.
pub const SOFTIRQ_VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

/// `/proc/stat`, as procfs parses it (absent lines read as zero).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcStat {
    /// Per-CPU times, `(cpu number, times)`, in file order.
    pub cpus: Vec<(u32, CpuTimes)>,
    /// `intr`: total interrupts serviced.
    pub intr: u64,
    /// `ctxt`.
    pub ctxt: u64,
    /// `btime`.
    pub btime: u64,
    /// `processes`: forks since boot.
    pub processes: u64,
    /// `procs_running`.
    pub procs_running: u64,
    /// `procs_blocked`.
    pub procs_blocked: u64,
    /// `softirq` per vector ([`SOFTIRQ_VECTORS`]).
    pub softirq: [u64; 10],
}

/// Parses `/proc/stat`.
pub fn parse_stat(text: &str) -> Result<ProcStat, ParseError> {
    let mut stat = ProcStat::default();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("stat", i + 1, kind);
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(first)) = (parts.next(), parts.next()) else {
            continue;
        };
        let uint = |s: &str| number::uint(s).map_err(err);
        match key {
            "btime" => stat.btime = uint(first)?,
            "intr" => {
                stat.intr = uint(first)?;
                for n in parts {
                    uint(n)?;
                }
            }
            "ctxt" => stat.ctxt = uint(first)?,
            "processes" => stat.processes = uint(first)?,
            "procs_running" => stat.procs_running = uint(first)?,
            "procs_blocked" => stat.procs_blocked = uint(first)?,
            "softirq" => {
                uint(first)?;
                for slot in &mut stat.softirq {
                    let v = parts
                        .next()
                        .ok_or_else(|| err(ParseErrorKind::Missing("softirq vectors")))?;
                    *slot = uint(v)?;
                }
            }
            cpu if cpu.starts_with("cpu") => {
                let times = parse_cpu_times(first, parts).map_err(err)?;
                match &cpu[3..] {
                    "" => {}
                    n => {
                        let id: u32 = n.parse().map_err(|_| err(ParseErrorKind::number(n)))?;
                        stat.cpus.push((id, times));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(stat)
}

/// The numbers of a `cpu` line: as many as present (at most ten), missing ones zero.
fn parse_cpu_times<'a>(
    first: &'a str,
    rest: impl Iterator<Item = &'a str>,
) -> Result<CpuTimes, ParseErrorKind> {
    let mut v = [0.0f64; 10];
    for (slot, text) in v.iter_mut().zip(std::iter::once(first).chain(rest)) {
        *slot = number::float(text)? / USER_HZ;
    }
    Ok(CpuTimes {
        user: v[0],
        nice: v[1],
        system: v[2],
        idle: v[3],
        iowait: v[4],
        irq: v[5],
        softirq: v[6],
        steal: v[7],
        guest: v[8],
        guest_nice: v[9],
    })
}

/// The `stat` collector.
#[derive(Debug)]
pub struct StatCollector {
    paths: Paths,
    softirq: bool,
    buf: TextBuf,
}

impl StatCollector {
    /// A collector reading under `paths`; `softirq` adds `node_softirqs_total`.
    pub fn new(paths: Paths, softirq: bool) -> StatCollector {
        StatCollector {
            paths,
            softirq,
            buf: TextBuf::default(),
        }
    }
}

impl NodeCollector for StatCollector {
    const NAME: &'static str = "stat";

    fn from_config(c: &Config) -> StatCollector {
        StatCollector::new(c.paths.clone(), c.stat_softirq)
    }
}

impl BlockingCollector for StatCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let s = self
            .buf
            .with(&self.paths.proc("stat"), parse_stat)
            .map_err(CollectError::new)?;
        use MetricKind::{Counter, Gauge};
        out.push(scalar(
            Counter,
            "node_intr_total",
            "Total number of interrupts serviced.",
            s.intr as f64,
        ));
        out.push(scalar(
            Counter,
            "node_context_switches_total",
            "Total number of context switches.",
            s.ctxt as f64,
        ));
        out.push(scalar(
            Counter,
            "node_forks_total",
            "Total number of forks.",
            s.processes as f64,
        ));
        out.push(scalar(
            Gauge,
            "node_boot_time_seconds",
            "Node boot time, in unixtime.",
            s.btime as f64,
        ));
        out.push(scalar(
            Gauge,
            "node_procs_running",
            "Number of processes in runnable state.",
            s.procs_running as f64,
        ));
        out.push(scalar(
            Gauge,
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            s.procs_blocked as f64,
        ));
        if self.softirq {
            let mut f = family(
                Counter,
                "node_softirqs_total",
                "Number of softirq calls.",
                &["vector"],
            );
            let mut vectors: Vec<(&str, u64)> =
                SOFTIRQ_VECTORS.iter().copied().zip(s.softirq).collect();
            vectors.sort();
            for (name, v) in vectors {
                push(&mut f, &[name], v as f64);
            }
            out.push(f);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  10 20 30 40 50 60 70 80 90 100\n\
cpu0 1 2 3 4 5 6 7 8 9 10\n\
cpu2 100 0 0 0\n\
intr 123 1 2 3\n\
ctxt 456\n\
btime 1600000000\n\
processes 789\n\
procs_running 2\n\
procs_blocked 1\n\
softirq 55 1 2 3 4 5 6 7 8 9 10\n";

    #[test]
    fn parses_every_line() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.cpus[0].0, 0);
        assert_eq!(s.cpus[0].1.user, 0.01);
        assert_eq!(s.cpus[0].1.guest_nice, 0.1);
        assert_eq!(
            s.cpus[1],
            (
                2,
                CpuTimes {
                    user: 1.0,
                    ..CpuTimes::default()
                }
            )
        );
        assert_eq!(
            (s.intr, s.ctxt, s.btime, s.processes),
            (123, 456, 1600000000, 789)
        );
        assert_eq!((s.procs_running, s.procs_blocked), (2, 1));
        assert_eq!(s.softirq[9], 10);
    }

    #[test]
    fn refuses_garbage_numbers() {
        assert!(parse_stat("ctxt x\n").is_err());
        assert!(parse_stat("cpu0 1 x\n").is_err());
        assert!(parse_stat("cpux 1 2\n").is_err());
        assert!(parse_stat("softirq 1 2 3\n").is_err());
        assert!(parse_stat("ctxt\n").unwrap().ctxt == 0);
    }
}
