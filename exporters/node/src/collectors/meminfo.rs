//! `meminfo`: `node_memory_<Field>[_bytes]` from `/proc/meminfo`.
//!
//! `Active(anon)` becomes `Active_anon`; lines with a `kB` column are multiplied by 1024 and
//! get `_bytes`; unit-less lines (`HugePages_Total`) keep the bare name. node_exporter 1.5.0
//! (`--compat=debian12`) exports every key; current upstream exports procfs' list of known
//! keys only ([`UPSTREAM_KEYS`]).

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{dynamic_family, push};

/// The exported names upstream node_exporter keeps (procfs' `Meminfo` fields).
pub const UPSTREAM_KEYS: &[&str] = &[
    "Active_anon_bytes",
    "Active_bytes",
    "Active_file_bytes",
    "AnonHugePages_bytes",
    "AnonPages_bytes",
    "Bounce_bytes",
    "Buffers_bytes",
    "Cached_bytes",
    "CmaFree_bytes",
    "CmaTotal_bytes",
    "CommitLimit_bytes",
    "Committed_AS_bytes",
    "DirectMap1G_bytes",
    "DirectMap2M_bytes",
    "DirectMap4k_bytes",
    "Dirty_bytes",
    "HardwareCorrupted_bytes",
    "HugePages_Free",
    "HugePages_Rsvd",
    "HugePages_Surp",
    "HugePages_Total",
    "Hugepagesize_bytes",
    "Inactive_anon_bytes",
    "Inactive_bytes",
    "Inactive_file_bytes",
    "KernelStack_bytes",
    "Mapped_bytes",
    "MemAvailable_bytes",
    "MemFree_bytes",
    "MemTotal_bytes",
    "Mlocked_bytes",
    "NFS_Unstable_bytes",
    "PageTables_bytes",
    "Percpu_bytes",
    "SReclaimable_bytes",
    "SUnreclaim_bytes",
    "ShmemHugePages_bytes",
    "ShmemPmdMapped_bytes",
    "Shmem_bytes",
    "Slab_bytes",
    "SwapCached_bytes",
    "SwapFree_bytes",
    "SwapTotal_bytes",
    "Unevictable_bytes",
    "VmallocChunk_bytes",
    "VmallocTotal_bytes",
    "VmallocUsed_bytes",
    "WritebackTmp_bytes",
    "Writeback_bytes",
    "Zswap_bytes",
    "Zswapped_bytes",
];

/// One `/proc/meminfo` line, named as node_exporter exports it.
#[derive(Debug, Clone, PartialEq)]
pub struct MeminfoField {
    /// The metric suffix (`MemAvailable_bytes`, `HugePages_Total`).
    pub name: String,
    /// The value (bytes for `kB` lines).
    pub value: f64,
}

/// Parses `/proc/meminfo` with node_exporter 1.5.0's rules; later lines win on a repeated
/// key, as in its map.
pub fn parse_meminfo(text: &str) -> Result<Vec<MeminfoField>, ParseError> {
    let mut out: Vec<MeminfoField> = Vec::with_capacity(64);
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("meminfo", i + 1, kind);
        let mut parts = line.split_ascii_whitespace();
        let Some(key) = parts.next() else { continue };
        let value = parts.next().ok_or_else(|| {
            err(ParseErrorKind::FieldCount {
                expected: 2,
                found: 1,
            })
        })?;
        let unit = parts.next();
        if parts.next().is_some() {
            return Err(err(ParseErrorKind::malformed(
                "expected `key: value [kB]`",
                line,
            )));
        }
        let mut value = number::float(value).map_err(err)?;
        // node_exporter drops the last character (the colon) whatever it is.
        let key = &key[..key.len() - key.chars().next_back().map_or(0, char::len_utf8)];
        let mut name = export_key(key);
        if unit.is_some() {
            value *= 1024.0;
            name.push_str("_bytes");
        }
        match out.iter_mut().find(|f| f.name == name) {
            Some(f) => f.value = value,
            None => out.push(MeminfoField { name, value }),
        }
    }
    Ok(out)
}

/// `Active(anon)` → `Active_anon` (node_exporter's `\((.*)\)` → `_$1`).
fn export_key(key: &str) -> String {
    match (key.find('('), key.rfind(')')) {
        (Some(open), Some(close)) if close > open => {
            let mut s = String::with_capacity(key.len());
            s.push_str(&key[..open]);
            s.push('_');
            s.push_str(&key[open + 1..close]);
            s.push_str(&key[close + 1..]);
            s
        }
        _ => key.to_owned(),
    }
}

/// The `meminfo` collector.
#[derive(Debug)]
pub struct MeminfoCollector {
    paths: Paths,
    compat: Compat,
    buf: TextBuf,
}

impl MeminfoCollector {
    /// A collector reading under `paths`, exporting the keys `compat` exports.
    pub fn new(paths: Paths, compat: Compat) -> MeminfoCollector {
        MeminfoCollector {
            paths,
            compat,
            buf: TextBuf::default(),
        }
    }
}

impl NodeCollector for MeminfoCollector {
    const NAME: &'static str = "meminfo";

    fn from_config(c: &Config) -> MeminfoCollector {
        MeminfoCollector::new(c.paths.clone(), c.compat)
    }
}

impl BlockingCollector for MeminfoCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let fields = self
            .buf
            .with(&self.paths.proc("meminfo"), parse_meminfo)
            .map_err(CollectError::new)?;
        for f in fields {
            if !self.compat.is_debian12() && UPSTREAM_KEYS.binary_search(&f.name.as_str()).is_err()
            {
                continue;
            }
            let kind = if f.name.ends_with("_total") {
                MetricKind::Counter
            } else {
                MetricKind::Gauge
            };
            let name = format!("node_memory_{}", f.name);
            let help = format!("Memory information field {}.", f.name);
            if let Some(mut fam) = dynamic_family(kind, &name, &help, &[]) {
                push(&mut fam, &[], f.value);
                out.push(fam);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_keys_are_sorted_for_binary_search() {
        assert!(UPSTREAM_KEYS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn names_units_and_errors() {
        let f = parse_meminfo(
            "MemTotal:       16042172 kB\nActive(anon):  100 kB\nHugePages_Total:       0\n\n",
        )
        .unwrap();
        assert_eq!(
            f[0],
            MeminfoField {
                name: "MemTotal_bytes".into(),
                value: 16042172.0 * 1024.0
            }
        );
        assert_eq!(f[1].name, "Active_anon_bytes");
        assert_eq!(
            f[2],
            MeminfoField {
                name: "HugePages_Total".into(),
                value: 0.0
            }
        );
        assert!(parse_meminfo("MemTotal:\n").is_err());
        assert!(parse_meminfo("MemTotal: x kB\n").is_err());
        assert!(parse_meminfo("MemTotal: 1 kB extra\n").is_err());
    }
}
