//! `softnet`: per-CPU packet processing counters from `/proc/net/softnet_stat`
//! (`node_softnet_{processed,dropped,times_squeezed}_total`; current node_exporter adds
//! `cpu_collision_total`, `received_rps_total`, `flow_limit_count_total` and `backlog_len`).

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};

use super::{NodeCollector, missing_is_no_data};
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;

/// One line (one CPU) of `softnet_stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SoftnetStat {
    /// Column 1.
    pub processed: u32,
    /// Column 2.
    pub dropped: u32,
    /// Column 3.
    pub time_squeezed: u32,
    /// Column 9.
    pub cpu_collision: u32,
    /// Column 10 (Linux 2.6.39), else 0.
    pub received_rps: u32,
    /// Column 11 (Linux 4.18), else 0.
    pub flow_limit_count: u32,
    /// Column 12 (Linux 5.14), else 0.
    pub backlog_len: u32,
    /// The CPU: column 13 (Linux 5.14), else the line number from 0.
    pub index: u32,
}

/// Parses `softnet_stat` as procfs does: at least nine hexadecimal columns per line.
pub fn parse_softnet(text: &str) -> Result<Vec<SoftnetStat>, ParseError> {
    let mut stats = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("net/softnet_stat", i + 1, kind);
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if cols.len() < 9 {
            return Err(err(ParseErrorKind::FieldCount {
                expected: 9,
                found: cols.len(),
            }));
        }
        let hex = |j: usize| -> Result<u32, ParseError> {
            let v = number::hex(cols[j]).map_err(err)?;
            u32::try_from(v).map_err(|_| err(ParseErrorKind::number(cols[j])))
        };
        for j in 0..9 {
            hex(j)?;
        }
        let opt =
            |j: usize| -> Result<u32, ParseError> { if cols.len() > j { hex(j) } else { Ok(0) } };
        stats.push(SoftnetStat {
            processed: hex(0)?,
            dropped: hex(1)?,
            time_squeezed: hex(2)?,
            cpu_collision: hex(8)?,
            received_rps: opt(9)?,
            flow_limit_count: opt(10)?,
            backlog_len: if cols.len() >= 13 { hex(11)? } else { 0 },
            index: if cols.len() >= 13 { hex(12)? } else { i as u32 },
        });
    }
    Ok(stats)
}

/// The `softnet` collector.
#[derive(Debug)]
pub struct SoftnetCollector {
    paths: Paths,
    compat: Compat,
    buf: TextBuf,
}

impl NodeCollector for SoftnetCollector {
    const NAME: &'static str = "softnet";

    fn from_config(c: &Config) -> SoftnetCollector {
        SoftnetCollector {
            paths: c.paths.clone(),
            compat: c.compat,
            buf: TextBuf::default(),
        }
    }
}

type Field = (
    MetricKind,
    &'static str,
    &'static str,
    fn(&SoftnetStat) -> u32,
);

/// node_exporter 1.5.0's three families.
const BASE: [Field; 3] = [
    (
        MetricKind::Counter,
        "node_softnet_processed_total",
        "Number of processed packets",
        |s| s.processed,
    ),
    (
        MetricKind::Counter,
        "node_softnet_dropped_total",
        "Number of dropped packets",
        |s| s.dropped,
    ),
    (
        MetricKind::Counter,
        "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota",
        |s| s.time_squeezed,
    ),
];

/// What current node_exporter adds.
const LATER: [Field; 4] = [
    (
        MetricKind::Counter,
        "node_softnet_cpu_collision_total",
        "Number of collision occur while obtaining device lock while transmitting",
        |s| s.cpu_collision,
    ),
    (
        MetricKind::Counter,
        "node_softnet_received_rps_total",
        "Number of times cpu woken up received_rps",
        |s| s.received_rps,
    ),
    (
        MetricKind::Counter,
        "node_softnet_flow_limit_count_total",
        "Number of times flow limit has been reached",
        |s| s.flow_limit_count,
    ),
    (
        MetricKind::Gauge,
        "node_softnet_backlog_len",
        "Softnet backlog status",
        |s| s.backlog_len,
    ),
];

impl BlockingCollector for SoftnetCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let debian = self.compat.is_debian12();
        let stats = self
            .buf
            .with(&self.paths.proc("net/softnet_stat"), parse_softnet)
            .map_err(missing_is_no_data)?;
        let fields = BASE.iter().chain(if debian { &[][..] } else { &LATER[..] });
        for (kind, name, help, get) in fields {
            let mut f = family(*kind, name, help, &["cpu"]);
            for (line, s) in stats.iter().enumerate() {
                // 1.5.0 numbers CPUs by line; later versions take the kernel's column.
                let cpu = if debian { line as u32 } else { s.index };
                push(&mut f, &[&cpu.to_string()], f64::from(get(s)));
            }
            out.push(f);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_and_new_kernels() {
        let old =
            "0000a1b2 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000003\n";
        let s = parse_softnet(old).unwrap();
        assert_eq!(
            (s[0].processed, s[0].dropped, s[0].cpu_collision, s[0].index),
            (0xa1b2, 1, 3, 0)
        );
        let new = "00000010 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000005 00000006 00000007 00000004\n";
        let s = parse_softnet(new).unwrap();
        assert_eq!(
            (
                s[0].received_rps,
                s[0].flow_limit_count,
                s[0].backlog_len,
                s[0].index
            ),
            (5, 6, 7, 4)
        );
        assert!(parse_softnet("00000010 00000000\n").is_err());
        assert!(parse_softnet("zz 0 0 0 0 0 0 0 0\n").is_err());
    }
}
