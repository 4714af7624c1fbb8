//! `xfs`: per-filesystem XFS counters (`node_xfs_*_total`, label `device`) from
//! `/sys/fs/xfs/<device>/stats/stats`.

use std::io;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::paths::Paths;
use crate::sysfs;

/// Each line procfs reads and the number of values it must have (`vnodes` 7 or 8, `qm` 8
/// or 9; `xpc` is 64-bit, the rest 32-bit).
const LINES: &[(&str, &[usize])] = &[
    ("extent_alloc", &[4]),
    ("abt", &[4]),
    ("blk_map", &[7]),
    ("bmbt", &[4]),
    ("dir", &[4]),
    ("trans", &[3]),
    ("ig", &[7]),
    ("log", &[5]),
    ("push_ail", &[10]),
    ("xstrat", &[2]),
    ("rw", &[2]),
    ("attr", &[4]),
    ("icluster", &[3]),
    ("vnodes", &[7, 8]),
    ("buf", &[9]),
    ("xpc", &[3]),
    ("abtb2", &[15]),
    ("abtc2", &[15]),
    ("bmbt2", &[15]),
    ("ibt2", &[15]),
    ("qm", &[8, 9]),
    ("debug", &[1]),
];

/// The exported counters: (line, index, metric name, HELP).
const METRICS: &[(&str, usize, &str, &str)] = &[
    (
        "extent_alloc",
        0,
        "extent_allocation_extents_allocated_total",
        "Number of extents allocated for a filesystem.",
    ),
    (
        "extent_alloc",
        1,
        "extent_allocation_blocks_allocated_total",
        "Number of blocks allocated for a filesystem.",
    ),
    (
        "extent_alloc",
        2,
        "extent_allocation_extents_freed_total",
        "Number of extents freed for a filesystem.",
    ),
    (
        "extent_alloc",
        3,
        "extent_allocation_blocks_freed_total",
        "Number of blocks freed for a filesystem.",
    ),
    (
        "abt",
        0,
        "allocation_btree_lookups_total",
        "Number of allocation B-tree lookups for a filesystem.",
    ),
    (
        "abt",
        1,
        "allocation_btree_compares_total",
        "Number of allocation B-tree compares for a filesystem.",
    ),
    (
        "abt",
        2,
        "allocation_btree_records_inserted_total",
        "Number of allocation B-tree records inserted for a filesystem.",
    ),
    (
        "abt",
        3,
        "allocation_btree_records_deleted_total",
        "Number of allocation B-tree records deleted for a filesystem.",
    ),
    (
        "blk_map",
        0,
        "block_mapping_reads_total",
        "Number of block map for read operations for a filesystem.",
    ),
    (
        "blk_map",
        1,
        "block_mapping_writes_total",
        "Number of block map for write operations for a filesystem.",
    ),
    (
        "blk_map",
        2,
        "block_mapping_unmaps_total",
        "Number of block unmaps (deletes) for a filesystem.",
    ),
    (
        "blk_map",
        3,
        "block_mapping_extent_list_insertions_total",
        "Number of extent list insertions for a filesystem.",
    ),
    (
        "blk_map",
        4,
        "block_mapping_extent_list_deletions_total",
        "Number of extent list deletions for a filesystem.",
    ),
    (
        "blk_map",
        5,
        "block_mapping_extent_list_lookups_total",
        "Number of extent list lookups for a filesystem.",
    ),
    (
        "blk_map",
        6,
        "block_mapping_extent_list_compares_total",
        "Number of extent list compares for a filesystem.",
    ),
    (
        "bmbt",
        0,
        "block_map_btree_lookups_total",
        "Number of block map B-tree lookups for a filesystem.",
    ),
    (
        "bmbt",
        1,
        "block_map_btree_compares_total",
        "Number of block map B-tree compares for a filesystem.",
    ),
    (
        "bmbt",
        2,
        "block_map_btree_records_inserted_total",
        "Number of block map B-tree records inserted for a filesystem.",
    ),
    (
        "bmbt",
        3,
        "block_map_btree_records_deleted_total",
        "Number of block map B-tree records deleted for a filesystem.",
    ),
    (
        "dir",
        0,
        "directory_operation_lookup_total",
        "Number of file name directory lookups which miss the operating systems directory name lookup cache.",
    ),
    (
        "dir",
        1,
        "directory_operation_create_total",
        "Number of times a new directory entry was created for a filesystem.",
    ),
    (
        "dir",
        2,
        "directory_operation_remove_total",
        "Number of times an existing directory entry was created for a filesystem.",
    ),
    (
        "dir",
        3,
        "directory_operation_getdents_total",
        "Number of times the directory getdents operation was performed for a filesystem.",
    ),
    (
        "ig",
        0,
        "inode_operation_attempts_total",
        "Number of times the OS looked for an XFS inode in the inode cache.",
    ),
    (
        "ig",
        1,
        "inode_operation_found_total",
        "Number of times the OS looked for and found an XFS inode in the inode cache.",
    ),
    (
        "ig",
        2,
        "inode_operation_recycled_total",
        "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled.",
    ),
    (
        "ig",
        3,
        "inode_operation_missed_total",
        "Number of times the OS looked for an XFS inode in the cache, but did not find it.",
    ),
    (
        "ig",
        4,
        "inode_operation_duplicates_total",
        "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process.",
    ),
    (
        "ig",
        5,
        "inode_operation_reclaims_total",
        "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose.",
    ),
    (
        "ig",
        6,
        "inode_operation_attribute_changes_total",
        "Number of times the OS explicitly changed the attributes of an XFS inode.",
    ),
    (
        "rw",
        1,
        "read_calls_total",
        "Number of read(2) system calls made to files in a filesystem.",
    ),
    (
        "rw",
        0,
        "write_calls_total",
        "Number of write(2) system calls made to files in a filesystem.",
    ),
    (
        "vnodes",
        0,
        "vnode_active_total",
        "Number of vnodes not on free lists for a filesystem.",
    ),
    (
        "vnodes",
        1,
        "vnode_allocate_total",
        "Number of times vn_alloc called for a filesystem.",
    ),
    (
        "vnodes",
        2,
        "vnode_get_total",
        "Number of times vn_get called for a filesystem.",
    ),
    (
        "vnodes",
        3,
        "vnode_hold_total",
        "Number of times vn_hold called for a filesystem.",
    ),
    (
        "vnodes",
        4,
        "vnode_release_total",
        "Number of times vn_rele called for a filesystem.",
    ),
    (
        "vnodes",
        5,
        "vnode_reclaim_total",
        "Number of times vn_reclaim called for a filesystem.",
    ),
    (
        "vnodes",
        6,
        "vnode_remove_total",
        "Number of times vn_remove called for a filesystem.",
    ),
];

/// One stats file: each known line's values (absent lines read as zeros).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XfsStats {
    lines: Vec<(&'static str, Vec<u64>)>,
}

impl XfsStats {
    /// Value `i` of line `label`, 0 when the line is absent.
    pub fn get(&self, label: &str, i: usize) -> u64 {
        self.lines
            .iter()
            .find(|(l, _)| *l == label)
            .and_then(|(_, v)| v.get(i).copied())
            .unwrap_or(0)
    }
}

/// Parses a `stats` file with procfs's rules: lines of fewer than two fields and unknown
/// labels are skipped, but every line's values must be numbers (32-bit, `xpc` 64-bit), and a
/// known line must have its number of values.
pub fn parse_xfs_stats(text: &str) -> Result<XfsStats, ParseError> {
    let mut stats = XfsStats::default();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("xfs stats", i + 1, kind);
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < 2 {
            continue;
        }
        let wide = fields[0] == "xpc";
        let mut values = Vec::with_capacity(fields.len() - 1);
        for f in &fields[1..] {
            let v = crate::number::uint(f).map_err(err)?;
            if !wide && v > u64::from(u32::MAX) {
                return Err(err(ParseErrorKind::number(f)));
            }
            values.push(v);
        }
        let Some(&(label, counts)) = LINES.iter().find(|(l, _)| *l == fields[0]) else {
            continue;
        };
        if !counts.contains(&values.len()) {
            return Err(err(ParseErrorKind::FieldCount {
                expected: counts[0] + 1,
                found: fields.len(),
            }));
        }
        stats.lines.retain(|(l, _)| *l != label);
        stats.lines.push((label, values));
    }
    Ok(stats)
}

/// Every `<device>/stats/stats` under `fs_xfs`, by device name.
pub fn sys_stats(fs_xfs: &Path) -> io::Result<Vec<(String, XfsStats)>> {
    let mut out = Vec::new();
    for (name, dir) in sysfs::glob(fs_xfs, "", false) {
        let path = dir.join("stats/stats");
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| sysfs::at(&path, e))?;
        let stats = parse_xfs_stats(&text).map_err(|e| sysfs::at(&path, sysfs::invalid(e)))?;
        out.push((name, stats));
    }
    Ok(out)
}

/// The `xfs` collector.
#[derive(Debug)]
pub struct XfsCollector {
    paths: Paths,
}

impl NodeCollector for XfsCollector {
    const NAME: &'static str = "xfs";

    fn from_config(c: &Config) -> XfsCollector {
        XfsCollector {
            paths: c.paths.clone(),
        }
    }
}

impl BlockingCollector for XfsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let stats = sys_stats(&self.paths.sys("fs/xfs"))
            .map_err(|e| CollectError::new(format!("failed to retrieve XFS stats: {e}")))?;
        if stats.is_empty() {
            return Ok(());
        }
        for &(line, i, name, help) in METRICS {
            let mut f = family(
                MetricKind::Counter,
                &format!("node_xfs_{name}"),
                help,
                &["device"],
            );
            for (device, s) in &stats {
                push(&mut f, &[device], s.get(line, i) as f64);
            }
            out.push(f);
        }
        Ok(())
    }
}
