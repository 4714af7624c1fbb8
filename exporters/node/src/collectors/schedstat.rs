//! `schedstat`: per-CPU scheduler statistics from `/proc/schedstat`.

use std::sync::LazyLock;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};
use regex::Regex;

use super::NodeCollector;
use crate::attr::is_missing;
use crate::config::Config;
use crate::paths::Paths;
use crate::read::TextBuf;

/// One `cpuN` line: running and waiting nanoseconds, timeslices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedstatCpu {
    /// The CPU number as written.
    pub cpu: String,
    /// Time spent running, in nanoseconds.
    pub running_ns: u64,
    /// Time spent waiting to run, in nanoseconds.
    pub waiting_ns: u64,
    /// Timeslices run.
    pub timeslices: u64,
}

/// Parses `/proc/schedstat` as procfs does: the first match of its `cpuN` pattern on each
/// line; lines that do not match, or whose numbers overflow, are skipped.
pub fn parse_schedstat(text: &str) -> Vec<SchedstatCpu> {
    static CPU_LINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"cpu(\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)")
            .expect("valid pattern")
    });
    text.lines()
        .filter_map(|line| {
            let m = CPU_LINE.captures(line)?;
            Some(SchedstatCpu {
                cpu: m[1].to_owned(),
                running_ns: m[8].parse().ok()?,
                waiting_ns: m[9].parse().ok()?,
                timeslices: m[10].parse().ok()?,
            })
        })
        .collect()
}

/// The `schedstat` collector.
#[derive(Debug)]
pub struct SchedstatCollector {
    paths: Paths,
    buf: TextBuf,
}

impl NodeCollector for SchedstatCollector {
    const NAME: &'static str = "schedstat";

    fn from_config(c: &Config) -> SchedstatCollector {
        SchedstatCollector {
            paths: c.paths.clone(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for SchedstatCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let cpus = match self
            .buf
            .with(&self.paths.proc("schedstat"), |t| Ok(parse_schedstat(t)))
        {
            Ok(c) => c,
            Err(e) if is_missing(&e) => {
                tracing::debug!("schedstat file does not exist");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut running = family(
            MetricKind::Counter,
            "node_schedstat_running_seconds_total",
            "Number of seconds CPU spent running a process.",
            &["cpu"],
        );
        let mut waiting = family(
            MetricKind::Counter,
            "node_schedstat_waiting_seconds_total",
            "Number of seconds spent by processing waiting for this CPU.",
            &["cpu"],
        );
        let mut slices = family(
            MetricKind::Counter,
            "node_schedstat_timeslices_total",
            "Number of timeslices executed by CPU.",
            &["cpu"],
        );
        for c in &cpus {
            push(&mut running, &[&c.cpu], c.running_ns as f64 / 1e9);
            push(&mut waiting, &[&c.cpu], c.waiting_ns as f64 / 1e9);
            push(&mut slices, &[&c.cpu], c.timeslices as f64);
        }
        out.extend(
            [running, waiting, slices]
                .into_iter()
                .filter(|f| !f.is_empty()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lines_only() {
        let v = parse_schedstat(
            "version 15\ntimestamp 4294\ncpu0 0 0 0 0 0 0 2011133428 1011195431 17466\ndomain0 3 0\ncpu1 0 0 0 0 0 0 99999999999999999999 1 2\n",
        );
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].running_ns, v[0].waiting_ns, v[0].timeslices),
            (2011133428, 1011195431, 17466)
        );
    }
}
