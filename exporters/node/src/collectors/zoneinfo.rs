//! `zoneinfo` (off by default): per-zone memory statistics from `/proc/zoneinfo`.

use std::sync::LazyLock;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, DefaultState, ScrapeContext};
use regex::Regex;

use super::NodeCollector;
use crate::attr::is_missing;
use crate::config::Config;
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;

/// The fields procfs reads, in its struct's order: the `/proc/zoneinfo` key, the metric
/// name, its type and HELP.
const FIELDS: [(&str, &str, MetricKind, &str); 34] = [
    (
        "nr_free_pages",
        "nr_free_pages",
        MetricKind::Gauge,
        "Total number of free pages in the zone",
    ),
    (
        "min",
        "min_pages",
        MetricKind::Gauge,
        "Zone watermark pages_min",
    ),
    (
        "low",
        "low_pages",
        MetricKind::Gauge,
        "Zone watermark pages_low",
    ),
    (
        "high",
        "high_pages",
        MetricKind::Gauge,
        "Zone watermark pages_high",
    ),
    (
        "scanned",
        "scanned_pages",
        MetricKind::Gauge,
        "Pages scanned since last reclaim",
    ),
    (
        "spanned",
        "spanned_pages",
        MetricKind::Gauge,
        "Total pages spanned by the zone, including holes",
    ),
    (
        "present",
        "present_pages",
        MetricKind::Gauge,
        "Physical pages existing within the zone",
    ),
    (
        "managed",
        "managed_pages",
        MetricKind::Gauge,
        "Present pages managed by the buddy system",
    ),
    (
        "nr_active_anon",
        "nr_active_anon_pages",
        MetricKind::Gauge,
        "Number of anonymous pages recently more used",
    ),
    (
        "nr_inactive_anon",
        "nr_inactive_anon_pages",
        MetricKind::Gauge,
        "Number of anonymous pages recently less used",
    ),
    (
        "nr_isolated_anon",
        "nr_isolated_anon_pages",
        MetricKind::Gauge,
        "Temporary isolated pages from anon lru",
    ),
    (
        "nr_anon_pages",
        "nr_anon_pages",
        MetricKind::Gauge,
        "Number of anonymous pages currently used by the system",
    ),
    (
        "nr_anon_transparent_hugepages",
        "nr_anon_transparent_hugepages",
        MetricKind::Gauge,
        "Number of anonymous transparent huge pages currently used by the system",
    ),
    (
        "nr_active_file",
        "nr_active_file_pages",
        MetricKind::Gauge,
        "Number of active pages with file-backing",
    ),
    (
        "nr_inactive_file",
        "nr_inactive_file_pages",
        MetricKind::Gauge,
        "Number of inactive pages with file-backing",
    ),
    (
        "nr_isolated_file",
        "nr_isolated_file_pages",
        MetricKind::Gauge,
        "Temporary isolated pages from file lru",
    ),
    (
        "nr_file_pages",
        "nr_file_pages",
        MetricKind::Gauge,
        "Number of file pages",
    ),
    (
        "nr_slab_reclaimable",
        "nr_slab_reclaimable_pages",
        MetricKind::Gauge,
        "Number of reclaimable slab pages",
    ),
    (
        "nr_slab_unreclaimable",
        "nr_slab_unreclaimable_pages",
        MetricKind::Gauge,
        "Number of unreclaimable slab pages",
    ),
    (
        "nr_mlock_stack",
        "nr_mlock_stack_pages",
        MetricKind::Gauge,
        "mlock()ed pages found and moved off LRU",
    ),
    (
        "nr_kernel_stack",
        "nr_kernel_stacks",
        MetricKind::Gauge,
        "Number of kernel stacks",
    ),
    (
        "nr_mapped",
        "nr_mapped_pages",
        MetricKind::Gauge,
        "Number of mapped pages",
    ),
    (
        "nr_dirty",
        "nr_dirty_pages",
        MetricKind::Gauge,
        "Number of dirty pages",
    ),
    (
        "nr_writeback",
        "nr_writeback_pages",
        MetricKind::Gauge,
        "Number of writeback pages",
    ),
    (
        "nr_unevictable",
        "nr_unevictable_pages",
        MetricKind::Gauge,
        "Number of unevictable pages",
    ),
    (
        "nr_shmem",
        "nr_shmem_pages",
        MetricKind::Gauge,
        "Number of shmem pages (included tmpfs/GEM pages)",
    ),
    (
        "nr_dirtied",
        "nr_dirtied_total",
        MetricKind::Counter,
        "Page dirtyings since bootup",
    ),
    (
        "nr_written",
        "nr_written_total",
        MetricKind::Counter,
        "Page writings since bootup",
    ),
    (
        "numa_hit",
        "numa_hit_total",
        MetricKind::Counter,
        "Allocated in intended node",
    ),
    (
        "numa_miss",
        "numa_miss_total",
        MetricKind::Counter,
        "Allocated in non intended node",
    ),
    (
        "numa_foreign",
        "numa_foreign_total",
        MetricKind::Counter,
        "Was intended here, hit elsewhere",
    ),
    (
        "numa_interleave",
        "numa_interleave_total",
        MetricKind::Counter,
        "Interleaver preferred this zone",
    ),
    (
        "numa_local",
        "numa_local_total",
        MetricKind::Counter,
        "Allocation from local node",
    ),
    (
        "numa_other",
        "numa_other_total",
        MetricKind::Counter,
        "Allocation from other node",
    ),
];

/// One zone: procfs' `Zoneinfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// The NUMA node.
    pub node: String,
    /// The zone name (`DMA`, `Normal`).
    pub zone: String,
    /// The fields present, indexed as `FIELDS` (the collector's table).
    pub values: [Option<i64>; 34],
    /// The `protection:` array, when it parsed.
    pub protection: Vec<i64>,
}

impl Default for Zone {
    fn default() -> Zone {
        Zone {
            node: String::new(),
            zone: String::new(),
            values: [None; 34],
            protection: Vec::new(),
        }
    }
}

/// Parses `/proc/zoneinfo` as procfs does: one zone per block starting `Node`; a value that
/// is not an integer reads as 0; a protection array that does not parse is left out.
pub fn parse_zoneinfo(text: &str) -> Vec<Zone> {
    static NODE_ZONE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(\d+), zone\s+(\w+)").expect("valid pattern"));
    let mut zones = Vec::new();
    for block in text.split("\nNode") {
        let mut z = Zone::default();
        for line in block.split('\n') {
            if let Some(m) = NODE_ZONE.captures(line) {
                z.node = m[1].to_owned();
                z.zone = m[2].to_owned();
                continue;
            }
            let trimmed = line.trim();
            if trimmed.starts_with("per-node stats") {
                continue;
            }
            let parts: Vec<&str> = trimmed.split_ascii_whitespace().collect();
            if parts.len() < 2 {
                continue;
            }
            if parts[0] == "protection:" {
                let Some((_, values)) = line.split_once(':') else {
                    continue;
                };
                let values = values.replacen('(', "", 1).replacen(')', "", 1);
                let parsed: Result<Vec<i64>, _> = values
                    .trim()
                    .split(", ")
                    .map(|v| v.parse::<i64>())
                    .collect();
                if let Ok(p) = parsed {
                    z.protection = p;
                }
                continue;
            }
            if let Some(i) = FIELDS.iter().position(|f| f.0 == parts[0]) {
                z.values[i] = Some(number::int_base0(parts[1]).unwrap_or(0));
            }
        }
        zones.push(z);
    }
    zones
}

/// The `zoneinfo` collector.
#[derive(Debug)]
pub struct ZoneinfoCollector {
    paths: Paths,
    buf: TextBuf,
}

impl NodeCollector for ZoneinfoCollector {
    const NAME: &'static str = "zoneinfo";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    fn from_config(c: &Config) -> ZoneinfoCollector {
        ZoneinfoCollector {
            paths: c.paths.clone(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for ZoneinfoCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let zones = match self
            .buf
            .with(&self.paths.proc("zoneinfo"), |t| Ok(parse_zoneinfo(t)))
        {
            Ok(z) => z,
            Err(e) if is_missing(&e) => return Err(CollectError::NoData),
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut set = FamilySet::new(Naming::Standard).with_namespace("node_zoneinfo");
        let labels = ["node", "zone"];
        for z in &zones {
            let values = [z.node.as_str(), z.zone.as_str()];
            for (field, v) in FIELDS.iter().zip(z.values) {
                if let Some(v) = v {
                    set.add(field.2, field.1, field.3, &labels, &values, v as f64);
                }
            }
            for (i, v) in z.protection.iter().enumerate() {
                let name = format!("protection_{i}");
                let help = format!("Protection array {i}. field");
                set.add(MetricKind::Gauge, &name, &help, &labels, &values, *v as f64);
            }
        }
        set.finish(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_protection_and_bad_numbers() {
        let z = parse_zoneinfo(
            "Node 0, zone      DMA\n  per-node stats\n      nr_dirtied   7\n  pages free     3952\n        min      33\n        protection: (0, 2815, 15862)\n      numa_hit x\nNode 0, zone    DMA32\n        min      0x10\n",
        );
        assert_eq!(z.len(), 2);
        assert_eq!((z[0].node.as_str(), z[0].zone.as_str()), ("0", "DMA"));
        assert_eq!(z[0].values[1], Some(33));
        assert_eq!(z[0].values[26], Some(7));
        assert_eq!(z[0].values[28], Some(0));
        assert_eq!(z[0].protection, [0, 2815, 15862]);
        assert_eq!(z[1].values[1], Some(16));
    }
}
