//! `processes` (off by default): process and thread counts by state, and the PID and thread
//! limits, from every `/proc/<pid>/stat` and `/proc/<pid>/task/<tid>/stat`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push, scalar};
use aiplatform_prometheus::{BlockingCollector, CollectError, DefaultState, ScrapeContext};

use super::NodeCollector;
use crate::attr::{self, is_missing};
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::paths::Paths;

/// The types of the 42 fields procfs 0.19 scans after the command name: `s`tring, `i`nteger,
/// `u`nsigned. A stat line that does not scan fails the whole collection, as upstream.
const STAT_FIELDS: &[u8] = b"siiiiiuuuuuuuiiiiiiuuiuuuuuuuuuuuuuiuuuuii";

/// The 40 fields procfs 0.8 (node_exporter 1.5.0) scanned.
const STAT_FIELDS_LEGACY: &[u8] = b"siiiiiuuuuuuuiiiiiiuuiuuuuuuuuuuuuuiiuuu";

/// What the collector needs from `/proc/<pid>/stat`: the state letter and thread count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z`, ...
    pub state: String,
    /// Threads in the process.
    pub num_threads: i64,
}

/// Parses a `stat` file as procfs' `Proc.Stat` does: the command name is between the first
/// `(` and the last `)`, and 42 typed fields must follow.
pub fn parse_proc_stat(text: &str) -> Result<ProcStat, ParseError> {
    parse_proc_stat_as(text, false)
}

/// [`parse_proc_stat`]; `legacy` checks the fields procfs 0.8 (node_exporter 1.5.0) scanned.
pub fn parse_proc_stat_as(text: &str, legacy: bool) -> Result<ProcStat, ParseError> {
    let sig = if legacy {
        STAT_FIELDS_LEGACY
    } else {
        STAT_FIELDS
    };
    let err = |kind| ParseError::new("pid/stat", 1, kind);
    let (Some(_), Some(r)) = (text.find('('), text.rfind(')')) else {
        return Err(err(ParseErrorKind::malformed("command name", text)));
    };
    let rest = text.get(r + 2..).unwrap_or("");
    let fields: Vec<&str> = rest.split_ascii_whitespace().take(sig.len()).collect();
    if fields.len() < sig.len() {
        return Err(err(ParseErrorKind::FieldCount {
            expected: sig.len(),
            found: fields.len(),
        }));
    }
    for (field, kind) in fields.iter().zip(sig) {
        let ok = match kind {
            b'i' => field.parse::<i64>().is_ok(),
            b'u' => field.parse::<u64>().is_ok(),
            _ => true,
        };
        if !ok {
            return Err(err(ParseErrorKind::number(field)));
        }
    }
    Ok(ProcStat {
        state: fields[0].to_owned(),
        num_threads: fields[17]
            .parse()
            .map_err(|_| err(ParseErrorKind::number(fields[17])))?,
    })
}

/// The numeric entries of a `/proc`-like directory (procfs' `AllProcs`).
fn pids(dir: &Path) -> Result<Vec<i64>, ReadError> {
    let mut out: Vec<i64> = attr::sorted_names(dir)?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// A process or thread that went away between listing and reading (upstream's
/// `isIgnoredError`: not found, or ESRCH).
fn vanished(e: &ReadError) -> bool {
    is_missing(e)
        || matches!(e, ReadError::Io { source, .. } if source.raw_os_error() == Some(libc::ESRCH))
}

fn read_stat(path: &Path, legacy: bool) -> Result<ProcStat, ReadError> {
    let text = fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_proc_stat_as(&String::from_utf8_lossy(&text), legacy).map_err(|source| ReadError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// The counts one collection produces.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Processes read.
    pub pids: u64,
    /// Threads, summed from the processes' thread counts.
    pub threads: i64,
    /// Processes by state.
    pub states: BTreeMap<String, u64>,
    /// Threads by state.
    pub thread_states: BTreeMap<String, u64>,
}

/// Counts processes and threads under the procfs root, as node_exporter's
/// `getAllocatedThreads`.
pub fn count(paths: &Paths, legacy: bool) -> Result<Counts, ReadError> {
    let proc_dir = paths.proc("");
    let mut c = Counts::default();
    for pid in pids(&proc_dir)? {
        let stat = match read_stat(&proc_dir.join(format!("{pid}/stat")), legacy) {
            Ok(s) => s,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(e),
        };
        c.pids += 1;
        *c.states.entry(stat.state.clone()).or_default() += 1;
        c.threads += stat.num_threads;
        let task_dir = proc_dir.join(format!("{pid}/task"));
        let tids = match pids(&task_dir) {
            Ok(t) => t,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(e),
        };
        for tid in tids {
            if tid == pid {
                *c.thread_states.entry(stat.state.clone()).or_default() += 1;
                continue;
            }
            match read_stat(&task_dir.join(format!("{tid}/stat")), legacy) {
                Ok(t) => *c.thread_states.entry(t.state).or_default() += 1,
                Err(e) if vanished(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(c)
}

/// The `processes` collector.
#[derive(Debug)]
pub struct ProcessesCollector {
    paths: Paths,
    legacy: bool,
}

impl NodeCollector for ProcessesCollector {
    const NAME: &'static str = "processes";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    fn from_config(c: &Config) -> ProcessesCollector {
        ProcessesCollector {
            paths: c.paths.clone(),
            legacy: c.compat.is_debian12(),
        }
    }
}

impl BlockingCollector for ProcessesCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let c = match count(&self.paths, self.legacy) {
            Ok(c) => c,
            Err(e) if is_missing(&e) => return Err(CollectError::NoData),
            Err(e) => return Err(CollectError::new(e)),
        };
        let limit = |file: &str| {
            attr::read_uint(&self.paths.proc(file), "sys/kernel").map_err(CollectError::new)
        };
        let max_threads = limit("sys/kernel/threads-max")?;
        let pid_max = limit("sys/kernel/pid_max")?;
        out.push(scalar(
            MetricKind::Gauge,
            "node_processes_threads",
            "Allocated threads in system",
            c.threads as f64,
        ));
        out.push(scalar(
            MetricKind::Gauge,
            "node_processes_max_threads",
            "Limit of threads in the system",
            max_threads as f64,
        ));
        let mut states = family(
            MetricKind::Gauge,
            "node_processes_state",
            "Number of processes in each state.",
            &["state"],
        );
        for (s, n) in &c.states {
            push(&mut states, &[s], *n as f64);
        }
        let mut thread_states = family(
            MetricKind::Gauge,
            "node_processes_threads_state",
            "Number of threads in each state.",
            &["thread_state"],
        );
        for (s, n) in &c.thread_states {
            push(&mut thread_states, &[s], *n as f64);
        }
        out.extend(
            [states, thread_states]
                .into_iter()
                .filter(|f| !f.is_empty()),
        );
        out.push(scalar(
            MetricKind::Gauge,
            "node_processes_pids",
            "Number of PIDs",
            c.pids as f64,
        ));
        out.push(scalar(
            MetricKind::Gauge,
            "node_processes_max_processes",
            "Number of max PIDs limit",
            pid_max as f64,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines() {
        let line = "1 (sys temd) S 0 1 1 0 -1 4194560 74525 7004347 103 1914 277 497 19633 6452 20 0 7 0 4 23719936 3287 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let s = parse_proc_stat(line).unwrap();
        assert_eq!((s.state.as_str(), s.num_threads), ("S", 7));
        assert!(parse_proc_stat("1 (x) S 0 1\n").is_err());
        assert!(parse_proc_stat("no parens").is_err());
        assert!(parse_proc_stat(&line.replace(" 4194560 ", " -4 ")).is_err());
        // procfs 0.8 read 40 fields.
        let short: String = line.split(' ').take(43).collect::<Vec<_>>().join(" ");
        assert!(parse_proc_stat(&short).is_err() && parse_proc_stat_as(&short, true).is_ok());
    }
}
