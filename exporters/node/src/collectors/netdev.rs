//! `netdev`: `node_network_{receive,transmit}_*_total{device}` from rtnetlink (default, as
//! node_exporter's `--collector.netdev.netlink`) or `/proc/net/dev`.
//!
//! Without `--collector.netdev.enable-detailed-metrics` the kernel's counters are folded
//! into `/proc/net/dev`'s historical names, as node_exporter does: `receive_drop` =
//! dropped + missed, `receive_frame` = length + over + crc + frame errors, `transmit_carrier`
//! = aborted + carrier + heartbeat + window errors. If the netlink socket cannot be opened
//! (an SELinux policy, say) the collector falls back to `/proc/net/dev` and says so once.

use std::sync::atomic::{AtomicBool, Ordering};

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use parking_lot::Mutex;

use super::netlink::{self, Link};
use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::filter::DeviceFilter;
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::family::{family, push};

/// The Debian 12 package's `--collector.netdev.device-exclude` default.
pub const DEBIAN_DEVICE_EXCLUDE: &str = "^lo$";

/// The 16 columns of `/proc/net/dev`, with node_exporter's (detailed) names.
pub const PROC_NET_DEV_COLUMNS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errors",
    "receive_dropped",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errors",
    "transmit_dropped",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// One interface's counters, `(name, value)` in a fixed order per source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStats {
    /// Interface name.
    pub device: String,
    /// Counters, named as node_exporter's detailed metrics.
    pub stats: Vec<(&'static str, u64)>,
}

/// Parses `/proc/net/dev`: two header lines, then `name: 16 numbers`.
pub fn parse_net_dev(text: &str) -> Result<Vec<DeviceStats>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(2) {
        let err = |kind| ParseError::new("net/dev", i + 1, kind);
        let (name, rest) = line.rsplit_once(':').ok_or_else(|| {
            err(ParseErrorKind::malformed(
                "invalid net/dev line, missing colon",
                line,
            ))
        })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(err(ParseErrorKind::Missing("interface name")));
        }
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        if fields.len() < 16 {
            return Err(err(ParseErrorKind::FieldCount {
                expected: 16,
                found: fields.len(),
            }));
        }
        let mut stats = Vec::with_capacity(16);
        for (col, f) in PROC_NET_DEV_COLUMNS.iter().zip(&fields) {
            stats.push((*col, number::uint(f).map_err(err)?));
        }
        out.push(DeviceStats {
            device: name.to_owned(),
            stats,
        });
    }
    Ok(out)
}

/// A netlink link's counters with node_exporter's detailed names.
pub fn link_stats(link: &Link) -> DeviceStats {
    const NAMES: [&str; 24] = [
        "receive_packets",
        "transmit_packets",
        "receive_bytes",
        "transmit_bytes",
        "receive_errors",
        "transmit_errors",
        "receive_dropped",
        "transmit_dropped",
        "multicast",
        "collisions",
        "receive_length_errors",
        "receive_over_errors",
        "receive_crc_errors",
        "receive_frame_errors",
        "receive_fifo_errors",
        "receive_missed_errors",
        "transmit_aborted_errors",
        "transmit_carrier_errors",
        "transmit_fifo_errors",
        "transmit_heartbeat_errors",
        "transmit_window_errors",
        "receive_compressed",
        "transmit_compressed",
        "receive_nohandler",
    ];
    DeviceStats {
        device: link.name.clone(),
        stats: NAMES.iter().copied().zip(link.stats).collect(),
    }
}

/// node_exporter's `legacy()`: folds detailed counter names into `/proc/net/dev`'s.
pub fn legacy(stats: &mut Vec<(&'static str, u64)>) {
    let mut take = |key: &str| -> Option<u64> {
        let i = stats.iter().position(|(k, _)| *k == key)?;
        Some(stats.remove(i).1)
    };
    let mut add: Vec<(&'static str, u64)> = Vec::new();
    if let Some(v) = take("receive_errors") {
        add.push(("receive_errs", v));
    }
    if let Some(v) = take("receive_dropped") {
        add.push((
            "receive_drop",
            v + take("receive_missed_errors").unwrap_or(0),
        ));
    }
    if let Some(v) = take("receive_fifo_errors") {
        add.push(("receive_fifo", v));
    }
    if let Some(v) = take("receive_frame_errors") {
        let extra = take("receive_length_errors").unwrap_or(0)
            + take("receive_over_errors").unwrap_or(0)
            + take("receive_crc_errors").unwrap_or(0);
        add.push(("receive_frame", v + extra));
    }
    if let Some(v) = take("multicast") {
        add.push(("receive_multicast", v));
    }
    if let Some(v) = take("transmit_errors") {
        add.push(("transmit_errs", v));
    }
    if let Some(v) = take("transmit_dropped") {
        add.push(("transmit_drop", v));
    }
    if let Some(v) = take("transmit_fifo_errors") {
        add.push(("transmit_fifo", v));
    }
    if let Some(v) = take("collisions") {
        add.push(("transmit_colls", v));
    }
    if let Some(v) = take("transmit_carrier_errors") {
        let extra = take("transmit_aborted_errors").unwrap_or(0)
            + take("transmit_heartbeat_errors").unwrap_or(0)
            + take("transmit_window_errors").unwrap_or(0);
        add.push(("transmit_carrier", v + extra));
    }
    stats.extend(add);
}

/// The `netdev` collector.
#[derive(Debug)]
pub struct NetdevCollector {
    paths: Paths,
    filter: DeviceFilter,
    netlink: bool,
    detailed: bool,
    netlink_failed: AtomicBool,
    netlink_buf: Mutex<Vec<u8>>,
    buf: TextBuf,
}

impl NetdevCollector {
    /// A collector; `netlink` picks rtnetlink over `/proc/net/dev`, `detailed` keeps the
    /// kernel's counter names.
    pub fn new(
        paths: Paths,
        filter: DeviceFilter,
        netlink: bool,
        detailed: bool,
    ) -> NetdevCollector {
        NetdevCollector {
            paths,
            filter,
            netlink,
            detailed,
            netlink_failed: AtomicBool::new(false),
            netlink_buf: Mutex::new(Vec::new()),
            buf: TextBuf::default(),
        }
    }

    fn devices(&self) -> Result<Vec<DeviceStats>, ReadError> {
        if self.netlink && !self.netlink_failed.load(Ordering::Relaxed) {
            match netlink::dump_links(&mut self.netlink_buf.lock()) {
                Ok(links) => return Ok(links.iter().map(link_stats).collect()),
                Err(
                    e @ ReadError::Syscall {
                        call: "netlink socket",
                        ..
                    },
                ) => {
                    tracing::warn!(err = %e, "netlink unavailable, reading /proc/net/dev from now on");
                    self.netlink_failed.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        self.buf.with(&self.paths.proc("net/dev"), parse_net_dev)
    }
}

impl NodeCollector for NetdevCollector {
    const NAME: &'static str = "netdev";

    fn from_config(c: &Config) -> NetdevCollector {
        NetdevCollector::new(
            c.paths.clone(),
            c.netdev_filter.clone(),
            c.netdev_netlink,
            c.netdev_detailed,
        )
    }
}

impl BlockingCollector for NetdevCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut devices = self.devices().map_err(CollectError::new)?;
        // In label order, so the core need not sort the series.
        devices.sort_by(|a, b| a.device.cmp(&b.device));
        let mut families: Vec<(&'static str, MetricFamily)> = Vec::new();
        for mut d in devices {
            if self.filter.ignored(&d.device) {
                tracing::debug!(device = %d.device, "Ignoring device");
                continue;
            }
            if !self.detailed {
                legacy(&mut d.stats);
            }
            for (key, value) in d.stats {
                let fam = match families.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, f)) => f,
                    None => {
                        let name = format!("node_network_{key}_total");
                        let help = format!("Network device statistic {key}.");
                        families
                            .push((key, family(MetricKind::Counter, &name, &help, &["device"])));
                        &mut families.last_mut().expect("just pushed").1
                    }
                };
                push(fam, &[&d.device], value as f64);
            }
        }
        out.extend(families.into_iter().map(|(_, f)| f));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0: 100 2 0 1 0 0 0 3 50 1 0 0 0 0 0 0\n";

    #[test]
    fn proc_net_dev_and_legacy_names() {
        let mut d = parse_net_dev(NET_DEV).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].device, "lo");
        legacy(&mut d[0].stats);
        let names: Vec<&str> = d[0].stats.iter().map(|(k, _)| *k).collect();
        assert!(names.contains(&"receive_errs") && names.contains(&"transmit_drop"));
        assert!(names.contains(&"receive_fifo") && names.contains(&"transmit_carrier"));
        assert_eq!(names.len(), 16);
        assert!(parse_net_dev("h\nh\neth0 1 2\n").is_err());
        assert!(parse_net_dev("h\nh\neth0: 1 2\n").is_err());
        assert!(parse_net_dev("h\nh\neth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n").is_err());
    }

    #[test]
    fn netlink_legacy_folding() {
        let mut stats = [0u64; 24];
        stats[6] = 1; // rx_dropped
        stats[15] = 2; // rx_missed
        stats[13] = 1; // rx_frame
        stats[10] = 1; // rx_length
        stats[17] = 3; // tx_carrier
        stats[16] = 1; // tx_aborted
        let mut d = link_stats(&Link {
            name: "eth0".into(),
            stats,
        });
        legacy(&mut d.stats);
        let get = |k: &str| d.stats.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("receive_drop"), Some(3));
        assert_eq!(get("receive_frame"), Some(2));
        assert_eq!(get("transmit_carrier"), Some(4));
        assert_eq!(get("receive_nohandler"), Some(0));
        assert_eq!(d.stats.len(), 17);
    }
}
