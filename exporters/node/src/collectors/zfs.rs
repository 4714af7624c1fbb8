//! `zfs`: OpenZFS kstats from `/proc/spl/kstat/zfs` (`node_zfs_<subsystem>_<name>`, untyped),
//! and per pool the `io` counters, the datasets' `objset-*` counters and the pool state.

use std::io;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS};
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::paths::Paths;
use crate::sysfs;

/// Subsystem and kstat file; `dbuf_stats` is `dbufstats` in later node_exporter versions.
const SUBSYSTEMS: &[(&str, &str)] = &[
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbuf_stats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

const STATES: [&str; 7] = [
    "online",
    "degraded",
    "faulted",
    "offline",
    "removed",
    "unavail",
    "suspended",
];

/// The last dot-separated part of a kstat key, `-` replaced by `_`.
fn metric_name(key: &str) -> String {
    key.rsplit('.').next().unwrap_or(key).replace('-', "_")
}

fn err(msg: String) -> io::Error {
    sysfs::invalid(msg)
}

/// The rows after a kstat file's `name type data` header that have at least three fields,
/// each with its line; `None` without the header.
fn kstat_rows(text: &str) -> Option<Vec<(&str, Vec<&str>)>> {
    let mut lines = text.lines();
    lines.find(|l| l.split_ascii_whitespace().eq(["name", "type", "data"]))?;
    Some(
        lines
            .map(|l| (l, l.split_ascii_whitespace().collect::<Vec<_>>()))
            .filter(|(_, parts)| parts.len() >= 3)
            .collect(),
    )
}

/// One `name type data` kstat file: every `(key, value)` of type 4 (and, upstream, 3).
pub fn parse_kstat(text: &str, file: &str, compat: Compat) -> io::Result<Vec<(String, f64)>> {
    let rows =
        kstat_rows(text).ok_or_else(|| err(format!("did not parse a single {file:?} metric")))?;
    let mut out = Vec::new();
    for (_, parts) in rows {
        let key = format!("kstat.zfs.misc.{file}.{}", parts[0]);
        let value = match parts[1] {
            "4" => crate::number::uint(parts[2]).map_err(|_| {
                err(format!(
                    "could not parse expected unsigned integer value for {key:?}"
                ))
            })? as f64,
            "3" if !compat.is_debian12() => crate::number::int(parts[2]).map_err(|_| {
                err(format!(
                    "could not parse expected signed integer value for {key:?}"
                ))
            })? as f64,
            _ => continue,
        };
        out.push((key, value));
    }
    Ok(out)
}

/// A pool's `io` file: the header line's names and each later line's values.
pub fn parse_pool_io(text: &str) -> io::Result<Vec<(String, u64)>> {
    let mut fields: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            if parts.len() >= 12 && parts[0] == "nread" {
                fields = parts;
            }
            continue;
        }
        for (i, field) in fields.iter().enumerate() {
            let key = format!("kstat.zfs.misc.io.{field}");
            let v = parts
                .get(i)
                .and_then(|p| crate::number::uint(p).ok())
                .ok_or_else(|| {
                    err(format!(
                        "could not parse expected integer value for {key:?}"
                    ))
                })?;
            out.push((key, v));
        }
    }
    Ok(out)
}

/// A dataset's `objset-*` file: its name and its type-4 counters.
pub fn parse_objset(text: &str, compat: Compat) -> io::Result<Vec<(String, String, u64)>> {
    let rows = kstat_rows(text).ok_or_else(|| err("did not parse a single   metric".into()))?;
    let mut dataset = String::new();
    let mut out = Vec::new();
    for (line, parts) in rows {
        if parts[0] == "dataset_name" {
            dataset = if compat.is_debian12() {
                parts[2].to_owned()
            } else {
                // The rest of the line: a dataset name may contain spaces.
                line[line.find(parts[2]).unwrap_or(0)..].to_owned()
            };
            continue;
        }
        if parts[1] == "4" {
            let key = format!("kstat.zfs.misc.objset.{}", parts[0]);
            let v = crate::number::uint(parts[2]).map_err(|_| {
                err(format!(
                    "could not parse expected integer value for {key:?}"
                ))
            })?;
            out.push((dataset.clone(), key, v));
        }
    }
    Ok(out)
}

/// The `zfs` collector.
#[derive(Debug)]
pub struct ZfsCollector {
    paths: Paths,
    compat: Compat,
}

impl NodeCollector for ZfsCollector {
    const NAME: &'static str = "zfs";

    fn from_config(c: &Config) -> ZfsCollector {
        ZfsCollector {
            paths: c.paths.clone(),
            compat: c.compat,
        }
    }
}

fn not_available() -> CollectError {
    CollectError::new("ZFS / ZFS statistics are not available")
}

/// Each pool's file called `name` (or starting with it when `prefix`), by pool.
fn pool_files(base: &Path, name: &str, prefix: bool) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    for (pool, dir) in sysfs::glob(base, "", false) {
        if prefix {
            for (_, p) in sysfs::glob(&dir, name, false) {
                out.push((pool.clone(), p));
            }
        } else if std::fs::symlink_metadata(dir.join(name)).is_ok() {
            out.push((pool, dir.join(name)));
        }
    }
    out
}

impl ZfsCollector {
    fn pools(&self, base: &Path, set: &mut FamilySet) -> Result<(), CollectError> {
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|_| not_available());
        let fail = |e: io::Error| CollectError::new(e);
        for (pool, path) in pool_files(base, "io", false) {
            for (key, v) in parse_pool_io(&read(&path)?).map_err(fail)? {
                let name = format!("node_zfs_zpool_{}", metric_name(&key));
                set.add(
                    MetricKind::Unknown,
                    &name,
                    &key,
                    &["zpool"],
                    &[&pool],
                    v as f64,
                );
            }
        }
        for (pool, path) in pool_files(base, "objset-", true) {
            for (dataset, key, v) in parse_objset(&read(&path)?, self.compat).map_err(fail)? {
                let name = format!("node_zfs_zpool_dataset_{}", metric_name(&key));
                set.add(
                    MetricKind::Unknown,
                    &name,
                    &key,
                    &["dataset", "zpool"],
                    &[&dataset, &pool],
                    v as f64,
                );
            }
        }
        for (pool, path) in pool_files(base, "state", false) {
            let text = read(&path)?;
            let actual = text.lines().next().unwrap_or("").to_lowercase();
            let states = if self.compat.is_debian12() {
                &STATES[..6]
            } else {
                &STATES[..]
            };
            for state in states {
                set.gauge(
                    "node_zfs_zpool_state",
                    "kstat.zfs.misc.state",
                    &["state", "zpool"],
                    &[state, &pool],
                    if actual == *state { 1.0 } else { 0.0 },
                );
            }
        }
        Ok(())
    }
}

impl BlockingCollector for ZfsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let base = self.paths.proc("spl/kstat/zfs");
        if std::fs::File::open(&base).is_err() {
            tracing::debug!("ZFS / ZFS statistics are not available");
            return Err(CollectError::NoData);
        }
        let mut set = FamilySet::new(Naming::Standard);
        let mut result = Ok(());
        for &(subsystem, file) in SUBSYSTEMS {
            let file = if file == "dbuf_stats" && !self.compat.is_debian12() {
                "dbufstats"
            } else {
                file
            };
            // Files come and go with ZFS versions: a missing one is skipped.
            let Ok(text) = std::fs::read_to_string(base.join(file)) else {
                continue;
            };
            match parse_kstat(&text, file, self.compat) {
                Ok(values) => {
                    for (key, v) in values {
                        let name = format!("node_{subsystem}_{}", metric_name(&key));
                        set.add(MetricKind::Unknown, &name, &key, &[], NO_LABELS, v);
                    }
                }
                Err(e) => {
                    result = Err(CollectError::new(e));
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self.pools(&base, &mut set);
        }
        set.finish(out);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kstat_types() {
        assert_eq!(metric_name("kstat.zfs.misc.arcstats.l2_hits"), "l2_hits");
        assert_eq!(
            metric_name("kstat.zfs.misc.fm.erpt-dropped"),
            "erpt_dropped"
        );
        let text = "13 1 0x01 2 96 1 2\nname type data\nhits 4 8\nsigned 3 -2\n";
        let up = parse_kstat(text, "arcstats", Compat::Upstream).unwrap();
        assert_eq!(up.len(), 2);
        assert_eq!(
            parse_kstat(text, "arcstats", Compat::Debian12)
                .unwrap()
                .len(),
            1
        );
        assert!(parse_kstat("no header\n", "x", Compat::Upstream).is_err());
        assert!(parse_pool_io("nread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt\n1 2\n").is_err());
    }
}
