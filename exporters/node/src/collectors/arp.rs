//! `arp`: `node_arp_entries{device}` from `/proc/net/arp`.
//!
//! node_exporter 1.10 reads the same table over netlink by default
//! (`--collector.arp.netlink`), skipping `NUD_NOARP` entries to match `/proc/net/arp`; the
//! file gives the same counts, so it is read whatever that flag says.

use std::collections::BTreeMap;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::{NodeCollector, missing_is_no_data};
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::filter::DeviceFilter;
use crate::paths::Paths;
use crate::read::TextBuf;

/// Counts `/proc/net/arp` entries per device (the last column), skipping the header, as
/// node_exporter does; a line with fewer than six columns is an error.
pub fn parse_arp(text: &str) -> Result<BTreeMap<&str, u32>, ParseError> {
    let mut entries = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let columns: Vec<&str> = line.split_ascii_whitespace().collect();
        if columns.len() < 6 {
            return Err(ParseError::new(
                "net/arp",
                i + 1,
                ParseErrorKind::FieldCount {
                    expected: 6,
                    found: columns.len(),
                },
            ));
        }
        if columns[0] != "IP" {
            *entries.entry(columns[columns.len() - 1]).or_insert(0) += 1;
        }
    }
    Ok(entries)
}

/// The `arp` collector.
#[derive(Debug)]
pub struct ArpCollector {
    paths: Paths,
    filter: DeviceFilter,
    buf: TextBuf,
}

impl NodeCollector for ArpCollector {
    const NAME: &'static str = "arp";

    fn from_config(c: &Config) -> ArpCollector {
        ArpCollector {
            paths: c.paths.clone(),
            filter: c.arp_filter.clone(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for ArpCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut f = family(
            MetricKind::Gauge,
            "node_arp_entries",
            "ARP entries by device",
            &["device"],
        );
        self.buf
            .with(&self.paths.proc("net/arp"), |text| {
                for (device, n) in parse_arp(text)? {
                    if !self.filter.ignored(device) {
                        push(&mut f, &[device], f64::from(n));
                    }
                }
                Ok(())
            })
            .map_err(missing_is_no_data)?;
        out.push(f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_device() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    192.168.1.1      0x1         0x2         00:11:22:33:44:55     *        eth0\n\
                    192.168.1.2      0x1         0x2         00:11:22:33:44:56     *        eth0\n\
                    10.0.0.1         0x1         0x2         00:11:22:33:44:57     *        eth1\n";
        let e = parse_arp(text).unwrap();
        assert_eq!((e["eth0"], e["eth1"], e.len()), (2, 1, 2));
        assert!(parse_arp("IP address HW type\n").is_err());
        assert!(parse_arp("").unwrap().is_empty());
    }
}
