//! `meminfo_numa` (off by default): per-NUMA-node memory from
//! `/sys/devices/system/node/node*/meminfo` and `numastat`.

use std::sync::LazyLock;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, DefaultState, ScrapeContext};
use regex::Regex;

use super::NodeCollector;
use crate::attr;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::read_string;

/// One value: metric name (without `node_memory_numa_`), type, node, value.
pub type NumaMetric = (String, MetricKind, String, f64);

/// Parses a node's `meminfo` (`Node 0 MemTotal: 1024 kB`): values in kB become bytes, and
/// `Active(anon)` becomes `Active_anon`.
pub fn parse_meminfo_numa(text: &str) -> Result<Vec<NumaMetric>, ParseError> {
    static PAREN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\((.*)\)").expect("valid pattern"));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("devices/system/node/meminfo", i + 1, kind);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.len() < 4 {
            return Err(err(ParseErrorKind::FieldCount {
                expected: 4,
                found: parts.len(),
            }));
        }
        let mut v = number::float(parts[3]).map_err(err)?;
        match parts.len() {
            4 => {}
            5 if parts[4] == "kB" => v *= 1024.0,
            _ => return Err(err(ParseErrorKind::malformed("meminfo line", line))),
        }
        let name = parts[2].trim_end_matches(':');
        let name = PAREN.replace_all(name, "_${1}").into_owned();
        out.push((name, MetricKind::Gauge, parts[1].to_owned(), v));
    }
    Ok(out)
}

/// Parses a node's `numastat` (`numa_hit 12345`) into `<name>_total` counters.
pub fn parse_numastat(text: &str, node: &str) -> Result<Vec<NumaMetric>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("devices/system/node/numastat", i + 1, kind);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.len() != 2 {
            return Err(err(ParseErrorKind::FieldCount {
                expected: 2,
                found: parts.len(),
            }));
        }
        let v = number::float(parts[1]).map_err(err)?;
        out.push((
            format!("{}_total", parts[0]),
            MetricKind::Counter,
            node.to_owned(),
            v,
        ));
    }
    Ok(out)
}

/// The `meminfo_numa` collector.
#[derive(Debug)]
pub struct MeminfoNumaCollector {
    paths: Paths,
}

impl NodeCollector for MeminfoNumaCollector {
    const NAME: &'static str = "meminfo_numa";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    fn from_config(c: &Config) -> MeminfoNumaCollector {
        MeminfoNumaCollector {
            paths: c.paths.clone(),
        }
    }
}

impl BlockingCollector for MeminfoNumaCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let dir = self.paths.sys("devices/system/node");
        // The glob `node[0-9]*` over a missing directory matches nothing.
        let nodes = attr::sorted_names(&dir).unwrap_or_default();
        let mut metrics = Vec::new();
        for name in &nodes {
            let Some(rest) = name.strip_prefix("node") else {
                continue;
            };
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            let digits = &rest[..rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len())];
            let node_dir = dir.join(name);
            let meminfo = read_string(&node_dir.join("meminfo")).map_err(CollectError::new)?;
            metrics.extend(parse_meminfo_numa(&meminfo).map_err(CollectError::new)?);
            let numastat = read_string(&node_dir.join("numastat")).map_err(CollectError::new)?;
            metrics.extend(parse_numastat(&numastat, digits).map_err(CollectError::new)?);
        }
        let mut set = FamilySet::new(Naming::Standard).with_namespace("node_memory_numa");
        for (name, kind, node, v) in &metrics {
            let help = format!("Memory information field {name}.");
            set.add(*kind, name, &help, &["node"], &[node], *v);
        }
        set.finish(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_meminfo_and_numastat() {
        let m = parse_meminfo_numa(
            "Node 0 MemTotal:  1024 kB\nNode 0 Active(anon): 2 kB\nNode 0 HugePages_Total: 3\n",
        )
        .unwrap();
        assert_eq!(
            m[0],
            ("MemTotal".into(), MetricKind::Gauge, "0".into(), 1048576.0)
        );
        assert_eq!(m[1].0, "Active_anon");
        assert_eq!(m[2].3, 3.0);
        assert!(parse_meminfo_numa("Node 0 X: 1 MB\n").is_err());
        assert!(parse_meminfo_numa("Node 0\n").is_err());
        let s = parse_numastat("numa_hit 5\n", "1").unwrap();
        assert_eq!(
            s[0],
            (
                "numa_hit_total".into(),
                MetricKind::Counter,
                "1".into(),
                5.0
            )
        );
        assert!(parse_numastat("numa_hit 5 6\n", "1").is_err());
    }
}
