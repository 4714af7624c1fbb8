//! `fibrechannel`: Fibre Channel HBAs from `/sys/class/fc_host`.

use std::fs;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::attr::{self, is_missing};
use crate::config::Config;
use crate::error::{ParseError, ReadError};
use crate::number;
use crate::paths::Paths;

/// `statistics/` files: file, metric, HELP.
const COUNTERS: [(&str, &str, &str); 14] = [
    (
        "dumped_frames",
        "dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "error_frames_total",
        "Number of errors in frames",
    ),
    (
        "invalid_crc_count",
        "invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    (
        "rx_words",
        "rx_words_total",
        "Number of words received by host port",
    ),
    (
        "tx_frames",
        "tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "tx_words_total",
        "Number of words transmitted by host port",
    ),
    (
        "seconds_since_last_reset",
        "seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "invalid_tx_word_count",
        "invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_sync_count",
        "loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "loss_of_signal_count",
        "loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "nos_count",
        "nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    (
        "fcp_packet_aborts",
        "fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
];

/// The attribute files, in procfs' order; `node_name` is read but not exported.
const ATTRS: [&str; 11] = [
    "speed",
    "port_state",
    "port_type",
    "node_name",
    "port_id",
    "port_name",
    "fabric_name",
    "dev_loss_tmo",
    "symbolic_name",
    "supported_classes",
    "supported_speeds",
];

/// One host: procfs' `FibreChannelHost`.
#[derive(Debug, Clone, PartialEq)]
pub struct FcHost {
    /// The host name (`host0`).
    pub name: String,
    /// The attributes, indexed as `ATTRS` (the collector's table); the `0x` of the names and
    /// IDs removed.
    pub attrs: [Option<String>; 11],
    /// The counters, indexed as `COUNTERS` (the collector's table).
    pub counters: [Option<u64>; 14],
}

/// procfs' `FibreChannelClass`. `legacy` reads as procfs 0.8 (node_exporter 1.5.0) did: a
/// missing attribute file fails the read, a missing counter reads as 0.
pub fn read_fc_hosts(paths: &Paths, legacy: bool) -> Result<Vec<FcHost>, ReadError> {
    let class = paths.sys("class/fc_host");
    let mut hosts = Vec::new();
    for name in attr::sorted_names(&class)? {
        let dir = class.join(&name);
        let mut attrs: [Option<String>; 11] = Default::default();
        for (i, f) in ATTRS.iter().enumerate() {
            let mut value = match attr::sys_read(&dir.join(f)) {
                Ok(v) => v,
                Err(e) if is_missing(&e) && !legacy => continue,
                // procfs 0.8 wraps the error, so node_exporter 1.5.0 reports a failure rather
                // than no data.
                Err(ReadError::Io { path, source }) if legacy => {
                    return Err(ReadError::Io {
                        path,
                        source: std::io::Error::other(format!("failed to read file: {source}")),
                    });
                }
                Err(e) => return Err(e),
            };
            if matches!(*f, "node_name" | "port_id" | "port_name" | "fabric_name")
                && value.len() > 2
            {
                value = value.get(2..).unwrap_or_default().to_owned();
            }
            attrs[i] = Some(value);
        }
        let mut counters = [if legacy { Some(0) } else { None }; 14];
        let stats = dir.join("statistics");
        for file in attr::sorted_names(&stats)? {
            let path = stats.join(&file);
            if file == "reset_statistics"
                || !fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file())
            {
                continue;
            }
            let value = match attr::sys_read(&path) {
                Ok(v) => v,
                Err(ReadError::Io { source, .. })
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::NotFound
                            | std::io::ErrorKind::InvalidInput
                            | std::io::ErrorKind::Unsupported
                    ) || source.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(i) = COUNTERS.iter().position(|c| c.0 == file) {
                let v = number::uint_base0(&value).map_err(|kind| ReadError::Parse {
                    path: path.clone(),
                    source: ParseError::new("class/fc_host/statistics", 1, kind),
                })?;
                counters[i] = Some(v);
            }
        }
        hosts.push(FcHost {
            name,
            attrs,
            counters,
        });
    }
    Ok(hosts)
}

/// The `fibrechannel` collector.
#[derive(Debug)]
pub struct FibrechannelCollector {
    paths: Paths,
    legacy: bool,
}

impl NodeCollector for FibrechannelCollector {
    const NAME: &'static str = "fibrechannel";

    fn from_config(c: &Config) -> FibrechannelCollector {
        FibrechannelCollector {
            paths: c.paths.clone(),
            legacy: c.compat.is_debian12(),
        }
    }
}

impl BlockingCollector for FibrechannelCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let hosts = match read_fc_hosts(&self.paths, self.legacy) {
            Ok(h) => h,
            Err(e) if is_missing(&e) => {
                tracing::debug!("fibrechannel statistics not found, skipping");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut set = FamilySet::new(Naming::Standard).with_namespace("node_fibrechannel");
        for h in &hosts {
            let a = |i: usize| h.attrs[i].as_deref().unwrap_or("");
            // Label pairs sorted by name, as client_golang writes them.
            set.gauge(
                "info",
                "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
                &[
                    "dev_loss_tmo",
                    "fabric_name",
                    "fc_host",
                    "port_id",
                    "port_name",
                    "port_state",
                    "port_type",
                    "speed",
                    "supported_classes",
                    "supported_speeds",
                    "symbolic_name",
                ],
                &[
                    a(7),
                    a(6),
                    &h.name,
                    a(4),
                    a(5),
                    a(1),
                    a(2),
                    a(0),
                    a(9),
                    a(10),
                    a(8),
                ],
                1.0,
            );
            for (c, v) in COUNTERS.iter().zip(h.counters) {
                // All ones is what the driver reports for a counter it does not keep.
                // (node_exporter 1.10 dereferences a missing file's value and panics; it is
                // left out here. 1.5.0 reported it as 0.)
                if let Some(v) = v.filter(|v| *v != u64::MAX) {
                    set.add(
                        MetricKind::Counter,
                        c.1,
                        c.2,
                        &["fc_host"],
                        &[&h.name],
                        v as f64,
                    );
                }
            }
        }
        set.finish(out);
        Ok(())
    }
}
