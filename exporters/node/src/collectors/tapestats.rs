//! `tapestats`: SCSI tape drive statistics from `/sys/class/scsi_tape/st*/stats`, without
//! the devices `--collector.tapestats.ignored-devices` matches.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};
use clap::Args;
use regex::Regex;

use super::NodeCollector;
use crate::attr::{self, is_missing};
use crate::config::Config;
use crate::error::{ConfigError, ParseError, ReadError};
use crate::filter::regex_flag;
use crate::number;
use crate::paths::Paths;

/// `--collector.tapestats.ignored-devices` default.
pub const DEFAULT_IGNORED_DEVICES: &str = "^$";

/// The `tapestats` collector's flags.
#[derive(Debug, Clone, Args)]
pub struct TapestatsArgs {
    /// Regexp of devices to ignore for tapestats.
    #[arg(long = "collector.tapestats.ignored-devices", default_value = DEFAULT_IGNORED_DEVICES,
          value_name = "REGEX")]
    pub ignored_devices: String,
}

impl TapestatsArgs {
    /// The compiled pattern.
    pub fn config(&self) -> Result<Regex, ConfigError> {
        regex_flag("collector.tapestats.ignored-devices", &self.ignored_devices)
    }
}

/// The `stats/` files, in procfs' field order, with the metric each becomes: file, metric,
/// type, scale, HELP.
const STATS: [(&str, &str, MetricKind, f64, &str); 10] = [
    (
        "in_flight",
        "node_tape_io_now",
        MetricKind::Gauge,
        1.0,
        "The number of I/Os currently outstanding to this device.",
    ),
    (
        "io_ns",
        "node_tape_io_time_seconds_total",
        MetricKind::Counter,
        1e-9,
        "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.",
    ),
    (
        "other_cnt",
        "node_tape_io_others_total",
        MetricKind::Counter,
        1.0,
        "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total",
    ),
    (
        "read_byte_cnt",
        "node_tape_read_bytes_total",
        MetricKind::Counter,
        1.0,
        "The number of bytes read from the tape drive.",
    ),
    (
        "read_cnt",
        "node_tape_reads_completed_total",
        MetricKind::Counter,
        1.0,
        "The number of read requests issued to the tape drive.",
    ),
    (
        "read_ns",
        "node_tape_read_time_seconds_total",
        MetricKind::Counter,
        1e-9,
        "The amount of time spent waiting for read requests to complete.",
    ),
    (
        "resid_cnt",
        "node_tape_residual_total",
        MetricKind::Counter,
        1.0,
        "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.",
    ),
    (
        "write_byte_cnt",
        "node_tape_written_bytes_total",
        MetricKind::Counter,
        1.0,
        "The number of bytes written to the tape drive.",
    ),
    (
        "write_cnt",
        "node_tape_writes_completed_total",
        MetricKind::Counter,
        1.0,
        "The number of write requests issued to the tape drive.",
    ),
    (
        "write_ns",
        "node_tape_write_time_seconds_total",
        MetricKind::Counter,
        1e-9,
        "The amount of time spent waiting for write requests to complete.",
    ),
];

/// procfs' `SCSITapeClass`: each `st<N>` device and its counters (absent ones are 0).
pub fn read_tapes(paths: &Paths) -> Result<Vec<(String, [u64; 10])>, ReadError> {
    let class = paths.sys("class/scsi_tape");
    let mut tapes = Vec::new();
    for name in attr::sorted_names(&class)? {
        let valid = name
            .strip_prefix("st")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !valid {
            continue;
        }
        let stats = class.join(&name).join("stats");
        let mut counters = [0u64; 10];
        for file in attr::sorted_names(&stats)? {
            let path = stats.join(&file);
            let value = attr::sys_read(&path)?;
            if let Some(i) = STATS.iter().position(|s| s.0 == file) {
                counters[i] = number::uint_base0(&value).map_err(|kind| ReadError::Parse {
                    path: path.clone(),
                    source: ParseError::new("class/scsi_tape/stats", 1, kind),
                })?;
            }
        }
        tapes.push((name, counters));
    }
    Ok(tapes)
}

/// The `tapestats` collector.
#[derive(Debug)]
pub struct TapestatsCollector {
    paths: Paths,
    ignored: Regex,
}

impl NodeCollector for TapestatsCollector {
    const NAME: &'static str = "tapestats";

    fn from_config(c: &Config) -> TapestatsCollector {
        TapestatsCollector {
            paths: c.paths.clone(),
            ignored: c.tapestats_ignored.clone(),
        }
    }
}

impl BlockingCollector for TapestatsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let tapes = match read_tapes(&self.paths) {
            Ok(t) => t,
            Err(e) if is_missing(&e) => {
                tracing::debug!("scsi_tape stats not found, skipping");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut families: Vec<MetricFamily> = STATS
            .iter()
            .map(|s| family(s.2, s.1, s.4, &["device"]))
            .collect();
        for (name, counters) in &tapes {
            if self.ignored.is_match(name) {
                continue;
            }
            for ((f, s), v) in families.iter_mut().zip(&STATS).zip(counters) {
                push(f, &[name], *v as f64 * s.3);
            }
        }
        out.extend(families.into_iter().filter(|f| !f.is_empty()));
        Ok(())
    }
}
