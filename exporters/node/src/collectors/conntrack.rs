//! `conntrack`: `node_nf_conntrack_entries`, `_entries_limit` and the `node_nf_conntrack_stat_*`
//! gauges (summed over CPUs) from `/proc/sys/net/netfilter/nf_conntrack_{count,max}` and
//! `/proc/net/stat/nf_conntrack`. Without the netfilter module the files are absent and the
//! collector reports no data, as node_exporter does.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::scalar;
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::entropy::parse_uint_file;
use super::{NodeCollector, missing_is_no_data};
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;

/// `/proc/net/stat/nf_conntrack` summed over its per-CPU lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConntrackStat {
    /// Column 3.
    pub found: u64,
    /// Column 5.
    pub invalid: u64,
    /// Column 6.
    pub ignore: u64,
    /// Column 9.
    pub insert: u64,
    /// Column 10.
    pub insert_failed: u64,
    /// Column 11.
    pub drop: u64,
    /// Column 12.
    pub early_drop: u64,
    /// Column 17.
    pub search_restart: u64,
}

/// Parses `/proc/net/stat/nf_conntrack` as procfs does: a header line, then lines of exactly
/// 17 hexadecimal columns.
pub fn parse_conntrack_stat(text: &str) -> Result<ConntrackStat, ParseError> {
    let mut sum = ConntrackStat::default();
    for (i, line) in text.lines().enumerate().skip(1) {
        let err = |kind| ParseError::new("net/stat/nf_conntrack", i + 1, kind);
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if cols.len() != 17 {
            return Err(err(ParseErrorKind::FieldCount {
                expected: 17,
                found: cols.len(),
            }));
        }
        let hex = |j: usize| number::hex(cols[j]).map_err(err);
        hex(0)?;
        let add = |acc: &mut u64, j: usize| -> Result<(), ParseError> {
            *acc = acc.wrapping_add(hex(j)?);
            Ok(())
        };
        add(&mut sum.found, 2)?;
        add(&mut sum.invalid, 4)?;
        add(&mut sum.ignore, 5)?;
        add(&mut sum.insert, 8)?;
        add(&mut sum.insert_failed, 9)?;
        add(&mut sum.drop, 10)?;
        add(&mut sum.early_drop, 11)?;
        add(&mut sum.search_restart, 16)?;
    }
    Ok(sum)
}

const COUNT: &str = "sys/net/netfilter/nf_conntrack_count";
const MAX: &str = "sys/net/netfilter/nf_conntrack_max";

/// The `conntrack` collector.
#[derive(Debug)]
pub struct ConntrackCollector {
    paths: Paths,
    buf: TextBuf,
}

impl NodeCollector for ConntrackCollector {
    const NAME: &'static str = "conntrack";

    fn from_config(c: &Config) -> ConntrackCollector {
        ConntrackCollector {
            paths: c.paths.clone(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for ConntrackCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let gauge =
            |name: &str, help: &str, v: u64| scalar(MetricKind::Gauge, name, help, v as f64);
        let count = self
            .buf
            .with(&self.paths.proc(COUNT), |t| parse_uint_file(COUNT, t))
            .map_err(missing_is_no_data)?;
        out.push(gauge(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            count,
        ));
        let max = self
            .buf
            .with(&self.paths.proc(MAX), |t| parse_uint_file(MAX, t))
            .map_err(missing_is_no_data)?;
        out.push(gauge(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            max,
        ));
        let s = self
            .buf
            .with(
                &self.paths.proc("net/stat/nf_conntrack"),
                parse_conntrack_stat,
            )
            .map_err(missing_is_no_data)?;
        for (name, help, v) in [
            (
                "node_nf_conntrack_stat_found",
                "Number of searched entries which were successful.",
                s.found,
            ),
            (
                "node_nf_conntrack_stat_invalid",
                "Number of packets seen which can not be tracked.",
                s.invalid,
            ),
            (
                "node_nf_conntrack_stat_ignore",
                "Number of packets seen which are already connected to a conntrack entry.",
                s.ignore,
            ),
            (
                "node_nf_conntrack_stat_insert",
                "Number of entries inserted into the list.",
                s.insert,
            ),
            (
                "node_nf_conntrack_stat_insert_failed",
                "Number of entries for which list insertion was attempted but failed.",
                s.insert_failed,
            ),
            (
                "node_nf_conntrack_stat_drop",
                "Number of packets dropped due to conntrack failure.",
                s.drop,
            ),
            (
                "node_nf_conntrack_stat_early_drop",
                "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
                s.early_drop,
            ),
            (
                "node_nf_conntrack_stat_search_restart",
                "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
                s.search_restart,
            ),
        ] {
            out.push(gauge(name, help, v));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cpus_and_refuses() {
        let head = "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n";
        let line = "00000021  00000000 00000001 00000000 00000002 00000003 00000000 00000000 00000004 00000005 00000006 00000007 00000000  00000000 00000000 00000000 00000008\n";
        let s = parse_conntrack_stat(&format!("{head}{line}{line}")).unwrap();
        assert_eq!((s.found, s.invalid, s.ignore, s.insert), (2, 4, 6, 8));
        assert_eq!(
            (s.insert_failed, s.drop, s.early_drop, s.search_restart),
            (10, 12, 14, 16)
        );
        assert!(parse_conntrack_stat(&format!("{head}00000021 00000000\n")).is_err());
        assert!(
            parse_conntrack_stat(&format!("{head}{}", line.replace("00000004", "zz"))).is_err()
        );
    }
}
