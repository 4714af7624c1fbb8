//! `btrfs`: per-filesystem allocation (`node_btrfs_*`, label `uuid`) from
//! `/sys/fs/btrfs/<uuid>/`, and upstream the commit statistics.
//!
//! Each mounted btrfs filesystem is also queried with ioctls ([`crate::btrfs_ioctl`]) for
//! its devices' sizes, unused bytes and error counters (`btrfs_dev_uuid` label); where that
//! fails (not mounted, not permitted) the device sizes come from sysfs instead, as in
//! node_exporter.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use aiplatform_metrics::MetricFamily;
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};

use super::NodeCollector;
use crate::btrfs_ioctl::{self, DevStats};
use crate::collectors::filesystem::read_mounts_into;
use crate::config::Config;
use crate::paths::Paths;
use crate::read::TextBuf;
use crate::sysfs;

/// A layout (`single`, `raid1`, ...) of one block-group type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// `total_bytes`.
    pub total_bytes: u64,
    /// `used_bytes`.
    pub used_bytes: u64,
    /// How many bytes of disk a byte of data takes.
    pub ratio: f64,
}

/// One block-group type (`data`, `metadata`, `system`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allocation {
    /// `bytes_reserved`.
    pub reserved_bytes: u64,
    /// Layouts by name.
    pub layouts: BTreeMap<String, Layout>,
}

/// One filesystem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BtrfsStats {
    /// `metadata_uuid`, else the directory name.
    pub uuid: String,
    /// `label`.
    pub label: String,
    /// Device sizes in bytes by device name.
    pub devices: BTreeMap<String, u64>,
    /// `allocation/global_rsv_size`.
    pub global_rsv_size: u64,
    /// `data`, `metadata` and `system`.
    pub allocations: [Allocation; 3],
    /// `commit_stats`: commits, last, max and total commit milliseconds.
    pub commits: [u64; 4],
}

/// procfs's btrfs reader: a missing file reads as empty, any other read error is kept (and
/// later reads give zero), a value that does not parse reads as zero.
struct Reader {
    path: PathBuf,
    err: Option<io::Error>,
    devices: usize,
}

impl Reader {
    fn new(path: PathBuf, devices: usize) -> Reader {
        Reader {
            path,
            err: None,
            devices,
        }
    }

    fn file(&mut self, name: &str) -> String {
        match sysfs::attribute(&self.path.join(name)) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                self.err = Some(e);
                String::new()
            }
        }
    }

    fn value(&mut self, name: &str) -> u64 {
        let s = self.file(name);
        if self.err.is_some() {
            return 0;
        }
        s.parse().unwrap_or(0)
    }

    fn list(&mut self, dir: &str) -> Vec<(String, PathBuf)> {
        match sysfs::read_dir_sorted(&self.path.join(dir)) {
            Ok(v) => v,
            Err(e) => {
                self.err = Some(e);
                Vec::new()
            }
        }
    }

    fn ratio(&self, layout: &str) -> f64 {
        let n = self.devices as f64;
        match layout {
            "single" | "raid0" => 1.0,
            "dup" | "raid1" | "raid10" => 2.0,
            "raid1c3" => 3.0,
            "raid1c4" => 4.0,
            "raid5" => n / (n - 1.0),
            "raid6" => n / (n - 2.0),
            _ => 0.0,
        }
    }

    fn allocation(&mut self, dir: &str) -> Allocation {
        let mut sub = Reader::new(self.path.join(dir), self.devices);
        for f in ["bytes_may_use", "bytes_pinned", "bytes_readonly"] {
            sub.value(f);
        }
        let reserved_bytes = sub.value("bytes_reserved");
        for f in [
            "bytes_used",
            "disk_used",
            "disk_total",
            "flags",
            "total_bytes",
            "total_bytes_pinned",
        ] {
            sub.value(f);
        }
        let mut layouts = BTreeMap::new();
        match sysfs::read_dir_sorted(&sub.path) {
            Ok(entries) => {
                for (name, path) in entries {
                    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                        let total_bytes = sub.value(&format!("{name}/total_bytes"));
                        let used_bytes = sub.value(&format!("{name}/used_bytes"));
                        let ratio = sub.ratio(&name);
                        layouts.insert(
                            name,
                            Layout {
                                total_bytes,
                                used_bytes,
                                ratio,
                            },
                        );
                    }
                }
            }
            Err(e) => sub.err = Some(e),
        }
        // procfs replaces the filesystem reader's error with the allocation reader's.
        self.err = sub.err;
        Allocation {
            reserved_bytes,
            layouts,
        }
    }

    fn commit_stats(&mut self, compat: Compat) -> [u64; 4] {
        let mut out = [0; 4];
        if compat.is_debian12() {
            return out;
        }
        let path = self.path.join("commit_stats");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return out,
            Err(e) => {
                self.err = Some(sysfs::at(&path, e));
                return out;
            }
        };
        for line in text.lines() {
            let parts: Vec<&str> = line.split_ascii_whitespace().collect();
            if parts.len() != 2 {
                self.err = Some(sysfs::invalid(format!(
                    "invalid commit_stats line {line:?}"
                )));
                return out;
            }
            let Ok(v) = crate::number::uint(parts[1]) else {
                self.err = Some(sysfs::invalid(format!(
                    "error parsing commit_stats line: invalid number {:?}",
                    parts[1]
                )));
                return out;
            };
            let slot = match parts[0] {
                "commits" => 0,
                "last_commit_ms" => 1,
                "max_commit_ms" => 2,
                "total_commit_ms" => 3,
                _ => continue,
            };
            out[slot] = v;
        }
        out
    }
}

/// Reads one `/sys/fs/btrfs/<uuid>` directory.
pub fn read_btrfs(dir: &Path, compat: Compat) -> io::Result<BtrfsStats> {
    let mut r = Reader::new(dir.to_owned(), 0);
    let mut devices = BTreeMap::new();
    for (name, _) in r.list("devices") {
        let sectors = r.value(&format!("devices/{name}/size"));
        devices.insert(name, sectors.wrapping_mul(512));
    }
    r.devices = devices.len();
    let label = r.file("label");
    let uuid = r.file("metadata_uuid");
    r.list("features");
    for f in [
        "clone_alignment",
        "nodesize",
        "quota_override",
        "sectorsize",
    ] {
        r.value(f);
    }
    r.value("allocation/global_rsv_reserved");
    let global_rsv_size = r.value("allocation/global_rsv_size");
    let allocations = [
        r.allocation("allocation/data"),
        r.allocation("allocation/metadata"),
        r.allocation("allocation/system"),
    ];
    let commits = r.commit_stats(compat);
    if let Some(e) = r.err {
        return Err(e);
    }
    let uuid = if uuid.is_empty() {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        uuid
    };
    Ok(BtrfsStats {
        uuid,
        label,
        devices,
        global_rsv_size,
        allocations,
        commits,
    })
}

/// The `btrfs` collector.
#[derive(Debug)]
pub struct BtrfsCollector {
    paths: Paths,
    compat: Compat,
    mounts: TextBuf,
}

impl NodeCollector for BtrfsCollector {
    const NAME: &'static str = "btrfs";

    fn from_config(c: &Config) -> BtrfsCollector {
        BtrfsCollector {
            paths: c.paths.clone(),
            compat: c.compat,
            mounts: TextBuf::default(),
        }
    }
}

const TYPES: [&str; 3] = ["data", "metadata", "system"];

const ERROR_TYPES: [&str; 5] = ["write", "read", "flush", "corruption", "generation"];

impl BtrfsCollector {
    /// Devices of each mounted btrfs filesystem by filesystem id (hex, no dashes); a mount
    /// that cannot be opened or queried is skipped.
    fn ioctl_stats(&self) -> io::Result<HashMap<String, Vec<DevStats>>> {
        let mounts = read_mounts_into(&self.paths, self.compat, &self.mounts)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut done = HashSet::new();
        let mut out = HashMap::new();
        for m in mounts.iter().filter(|m| m.fstype == "btrfs") {
            if done.contains(&m.device) {
                continue;
            }
            let path = self.paths.rootfs_join(&m.mountpoint);
            let file = match btrfs_ioctl::open_subvolume(&path) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    tracing::debug!(mount_point = %path.display(), "Error inspecting btrfs mountpoint: not a btrfs subvolume");
                    continue;
                }
                Err(e) => {
                    tracing::debug!(mount_point = %path.display(), err = %e, "Error inspecting btrfs mountpoint");
                    continue;
                }
            };
            let info = match btrfs_ioctl::fs_info(&file) {
                Ok(i) => i,
                Err(e) => {
                    tracing::debug!(mount_point = %path.display(), err = %e, "Error querying btrfs filesystem");
                    continue;
                }
            };
            let id = info.fsid_hex();
            if out.contains_key(&id) {
                continue;
            }
            match btrfs_ioctl::devices(&file, &info) {
                Ok(devices) => {
                    done.insert(m.device.clone());
                    out.insert(id, devices);
                }
                Err(e) => {
                    tracing::debug!(mount_point = %path.display(), err = %e, "Error querying btrfs device stats");
                }
            }
        }
        Ok(out)
    }
}

const SIZE_HELP: &str = "Size of a device that is part of the filesystem.";

/// The per-device families from the ioctls.
fn device_families(set: &mut FamilySet, uuid: &str, devices: &[DevStats]) {
    for d in devices {
        let device = d.path.rsplit('/').next().unwrap_or("");
        let values = [d.uuid.as_str(), device, uuid];
        let labels = ["btrfs_dev_uuid", "device", "uuid"];
        set.gauge(
            "node_btrfs_device_size_bytes",
            SIZE_HELP,
            &labels,
            &values,
            d.total_bytes as f64,
        );
        set.gauge(
            "node_btrfs_device_unused_bytes",
            "Unused bytes unused on a device that is part of the filesystem.",
            &labels,
            &values,
            d.total_bytes.wrapping_sub(d.bytes_used) as f64,
        );
        for (kind, v) in ERROR_TYPES.iter().zip(d.errors) {
            set.counter(
                "node_btrfs_device_errors_total",
                "Errors reported for the device",
                &["btrfs_dev_uuid", "device", "type", "uuid"],
                &[&d.uuid, device, kind, uuid],
                v as f64,
            );
        }
    }
}

impl BlockingCollector for BtrfsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut all = Vec::new();
        for (name, dir) in sysfs::glob(&self.paths.sys("fs/btrfs"), "", false) {
            if !name.contains('-') {
                continue;
            }
            let s = read_btrfs(&dir, self.compat).map_err(|e| {
                CollectError::new(format!("failed to retrieve Btrfs stats from procfs: {e}"))
            })?;
            all.push(s);
        }
        let ioctl = if all.is_empty() {
            HashMap::new()
        } else {
            self.ioctl_stats().unwrap_or_else(|e| {
                tracing::debug!(err = %e, "Error querying btrfs device stats with ioctl");
                HashMap::new()
            })
        };
        let mut set = FamilySet::new(Naming::Standard);
        for s in &all {
            let u = s.uuid.as_str();
            set.gauge(
                "node_btrfs_info",
                "Filesystem information",
                &["label", "uuid"],
                &[&s.label, u],
                1.0,
            );
            set.gauge(
                "node_btrfs_global_rsv_size_bytes",
                "Size of global reserve.",
                &["uuid"],
                &[u],
                s.global_rsv_size as f64,
            );
            if !self.compat.is_debian12() {
                let [commits, last, max, total] = s.commits;
                set.counter(
                    "node_btrfs_commits_total",
                    "The total number of commits that have occurred.",
                    &["uuid"],
                    &[u],
                    commits as f64,
                );
                set.gauge(
                    "node_btrfs_last_commit_seconds",
                    "Duration of the most recent commit, in seconds.",
                    &["uuid"],
                    &[u],
                    last as f64 / 1000.0,
                );
                set.gauge(
                    "node_btrfs_max_commit_seconds",
                    "Duration of the slowest commit, in seconds.",
                    &["uuid"],
                    &[u],
                    max as f64 / 1000.0,
                );
                set.counter(
                    "node_btrfs_commit_seconds_total",
                    "Sum of the duration of all commits, in seconds.",
                    &["uuid"],
                    &[u],
                    total as f64 / 1000.0,
                );
            }
            for (kind, a) in TYPES.iter().zip(&s.allocations) {
                set.gauge(
                    "node_btrfs_reserved_bytes",
                    "Amount of space reserved for a data type",
                    &["block_group_type", "uuid"],
                    &[kind, u],
                    a.reserved_bytes as f64,
                );
                let labels = ["block_group_type", "mode", "uuid"];
                for (mode, l) in &a.layouts {
                    let values = [*kind, mode.as_str(), u];
                    set.gauge(
                        "node_btrfs_used_bytes",
                        "Amount of used space by a layout/data type",
                        &labels,
                        &values,
                        l.used_bytes as f64,
                    );
                    set.gauge(
                        "node_btrfs_size_bytes",
                        "Amount of space allocated for a layout/data type",
                        &labels,
                        &values,
                        l.total_bytes as f64,
                    );
                    set.gauge(
                        "node_btrfs_allocation_ratio",
                        "Data allocation ratio for a layout/data type",
                        &labels,
                        &values,
                        l.ratio,
                    );
                }
            }
            match ioctl.get(&s.uuid.replace('-', "")) {
                None => {
                    for (device, size) in &s.devices {
                        set.gauge(
                            "node_btrfs_device_size_bytes",
                            SIZE_HELP,
                            &["device", "uuid"],
                            &[device, u],
                            *size as f64,
                        );
                    }
                }
                Some(devices) => device_families(&mut set, u, devices),
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
    fn ioctl_devices_make_size_unused_and_error_series() {
        let mut set = FamilySet::new(Naming::Standard);
        let dev = DevStats {
            path: "/dev/sda1".into(),
            uuid: "5b8f2c4a-0000-0000-0000-000000000001".into(),
            bytes_used: 400,
            total_bytes: 1000,
            errors: [1, 2, 3, 4, 5],
        };
        device_families(&mut set, "0abb23a9-579b-43e6-ad30-227ef47fcb9d", &[dev]);
        let families = set.into_families();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "node_btrfs_device_size_bytes",
                "node_btrfs_device_unused_bytes",
                "node_btrfs_device_errors"
            ]
        );
        assert_eq!(families[2].len(), 5);
        assert_eq!(
            families[0].label_names().collect::<Vec<_>>(),
            ["btrfs_dev_uuid", "device", "uuid"]
        );
    }
}
