//! `filesystem`: `node_filesystem_*{device,[device_error,]fstype,mountpoint}` for every
//! mount not excluded by `--collector.filesystem.mount-points-exclude` /
//! `--collector.filesystem.fs-types-exclude`, from `statfs(2)` on `--path.rootfs` + mount
//! point. Each statfs runs under `--collector.filesystem.mount-timeout` (see [`statfs`]); a
//! mount that does not answer is reported with `node_filesystem_device_error` 1.
//!
//! [`statfs`]: super::statfs

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use regex::Regex;

use super::statfs::{FsStats, Item, StatError, StatFs, StatPool};
use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{family, push};

/// Current upstream's `--collector.filesystem.mount-points-exclude` default.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// The Debian 12 package's default (it patches 1.5.0's to leave out `/run`, `/mnt`, `/media`).
pub const DEBIAN_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter 1.5.0's `--collector.filesystem.fs-types-exclude` default.
pub const DEFAULT_FS_TYPES_EXCLUDE_1_5: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// Current upstream's default (adds `erofs`).
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";
/// `--collector.filesystem.mount-timeout` default.
pub const DEFAULT_MOUNT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long before its deadline the collector stops waiting for statfs answers.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// The default mount point pattern of a profile.
pub fn default_mount_points_exclude(compat: Compat) -> &'static str {
    if compat.is_debian12() {
        DEBIAN_MOUNT_POINTS_EXCLUDE
    } else {
        DEFAULT_MOUNT_POINTS_EXCLUDE
    }
}

/// The default filesystem type pattern of a profile.
pub fn default_fs_types_exclude(compat: Compat) -> &'static str {
    if compat.is_debian12() {
        DEFAULT_FS_TYPES_EXCLUDE_1_5
    } else {
        DEFAULT_FS_TYPES_EXCLUDE
    }
}

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The source (`/dev/vda`, `tmpfs`, `server:/export`).
    pub device: String,
    /// Where it is mounted (`\040` and `\011` decoded).
    pub mountpoint: String,
    /// Filesystem type.
    pub fstype: String,
    /// Mount options (and, from mountinfo, super options), comma separated.
    pub options: String,
    /// `major:minor` (mountinfo only; empty from `mounts`).
    pub major_minor: String,
}

impl Mount {
    /// Whether `ro` is among the options.
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

fn unescape_mountpoint(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t")
}

/// Parses `/proc/<pid>/mounts` (`device mountpoint fstype options dump pass`).
pub fn parse_mounts(text: &str) -> Result<Vec<Mount>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.len() < 4 {
            return Err(ParseError::new(
                "mounts",
                i + 1,
                ParseErrorKind::malformed("malformed mount point information", line),
            ));
        }
        out.push(Mount {
            device: parts[0].to_owned(),
            mountpoint: unescape_mountpoint(parts[1]),
            fstype: parts[2].to_owned(),
            options: parts[3].to_owned(),
            major_minor: String::new(),
        });
    }
    Ok(out)
}

/// Parses `/proc/<pid>/mountinfo` (`id parent major:minor root mountpoint options
/// [optional...] - fstype source superoptions`).
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |what| ParseError::new("mountinfo", i + 1, ParseErrorKind::malformed(what, line));
        if line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        let sep = parts
            .iter()
            .position(|p| *p == "-")
            .ok_or_else(|| err("missing separator"))?;
        if sep < 6 || parts.len() < sep + 3 {
            return Err(err("too few fields"));
        }
        let mm = parts[2];
        let valid_mm = mm
            .split_once(':')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
        if !valid_mm {
            return Err(err("malformed major:minor"));
        }
        let mut options = parts[5].to_owned();
        if let Some(sup) = parts.get(sep + 3) {
            options.push(',');
            options.push_str(sup);
        }
        out.push(Mount {
            device: parts[sep + 2].to_owned(),
            mountpoint: unescape_mountpoint(parts[4]),
            fstype: parts[sep + 1].to_owned(),
            options,
            major_minor: mm.to_owned(),
        });
    }
    Ok(out)
}

pub(crate) fn read_mounts_into(
    paths: &Paths,
    compat: Compat,
    buf: &TextBuf,
) -> Result<Vec<Mount>, ReadError> {
    type Parser = fn(&str) -> Result<Vec<Mount>, ParseError>;
    let (file, fallback, parse): (&str, &str, Parser) = if compat.is_debian12() {
        ("1/mounts", "mounts", parse_mounts)
    } else {
        ("1/mountinfo", "self/mountinfo", parse_mountinfo)
    };
    match buf.with(&paths.proc(file), parse) {
        Err(e) if e.is_not_found() => {
            tracing::debug!(err = %e, "Reading root mounts failed, falling back to system mounts");
            buf.with(&paths.proc(fallback), parse)
        }
        other => other,
    }
}

/// Settings of the `filesystem` collector.
#[derive(Debug, Clone)]
pub struct FilesystemConfig {
    /// Mount points left out.
    pub mount_points_exclude: Regex,
    /// Filesystem types left out.
    pub fs_types_exclude: Regex,
    /// How long one statfs may take before its mount is marked stuck.
    pub mount_timeout: Duration,
    /// The system call (a stand-in in tests).
    pub statfs: Arc<dyn StatFs>,
}

/// The `filesystem` collector.
#[derive(Debug)]
pub struct FilesystemCollector {
    paths: Paths,
    compat: Compat,
    config: FilesystemConfig,
    pool: StatPool,
    buf: TextBuf,
}

impl FilesystemCollector {
    /// A collector reading under `paths`.
    pub fn new(paths: Paths, compat: Compat, config: FilesystemConfig) -> FilesystemCollector {
        FilesystemCollector {
            paths,
            compat,
            pool: StatPool::new(config.statfs.clone()),
            config,
            buf: TextBuf::default(),
        }
    }

    /// Worker threads alive (for tests of the no-leak promise).
    pub fn worker_threads(&self) -> usize {
        self.pool.threads()
    }

    /// Whether a statfs on `mountpoint` has not returned yet.
    pub fn is_stuck(&self, mountpoint: &str) -> bool {
        self.pool.is_stuck(mountpoint)
    }
}

impl NodeCollector for FilesystemCollector {
    const NAME: &'static str = "filesystem";

    fn from_config(c: &Config) -> FilesystemCollector {
        FilesystemCollector::new(c.paths.clone(), c.compat, c.filesystem.clone())
    }
}

impl BlockingCollector for FilesystemCollector {
    fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        let mounts =
            read_mounts_into(&self.paths, self.compat, &self.buf).map_err(CollectError::new)?;
        let mut seen = HashSet::new();
        let mut selected: Vec<Mount> = Vec::new();
        for mut m in mounts {
            m.mountpoint = self.paths.strip_rootfs(&m.mountpoint).to_owned();
            if self.config.mount_points_exclude.is_match(&m.mountpoint) {
                tracing::debug!(mountpoint = %m.mountpoint, "Ignoring mount point");
                continue;
            }
            if self.config.fs_types_exclude.is_match(&m.fstype) {
                tracing::debug!(fstype = %m.fstype, "Ignoring fs type");
                continue;
            }
            // A mount listed twice is reported (and stat'ed) once.
            if !seen.insert((m.device.clone(), m.mountpoint.clone(), m.fstype.clone())) {
                continue;
            }
            selected.push(m);
        }
        // In label order (device, fstype, mountpoint), so the core seldom sorts the series.
        selected.sort_by(|a, b| {
            (&a.device, &a.fstype, &a.mountpoint).cmp(&(&b.device, &b.fstype, &b.mountpoint))
        });
        let items = selected
            .iter()
            .enumerate()
            .map(|(index, m)| Item {
                index,
                path: self.paths.rootfs_join(&m.mountpoint),
                mountpoint: m.mountpoint.clone(),
            })
            .collect();
        let mut results: Vec<Option<Result<FsStats, StatError>>> =
            (0..selected.len()).map(|_| None).collect();
        // Stop waiting a little before the collector's deadline, so that the mounts that did
        // answer are reported instead of the whole collector timing out.
        let budget = || {
            let left = ctx.remaining();
            left.saturating_sub(DEADLINE_MARGIN.min(left / 4))
        };
        self.pool
            .stat_all(items, self.config.mount_timeout, budget, &mut results);
        emit(&selected, results, !self.compat.is_debian12(), out);
        Ok(())
    }
}

/// Builds the families from the mounts and their statfs results.
fn emit(
    mounts: &[Mount],
    results: Vec<Option<Result<FsStats, StatError>>>,
    upstream: bool,
    out: &mut Vec<MetricFamily>,
) {
    let labels: &[&str] = if upstream {
        &["device", "device_error", "fstype", "mountpoint"]
    } else {
        &["device", "fstype", "mountpoint"]
    };
    let g = |name: &str, help: &str| family(MetricKind::Gauge, name, help, labels);
    let mut size = g("node_filesystem_size_bytes", "Filesystem size in bytes.");
    let mut free = g(
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
    );
    let mut avail = g(
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
    );
    let mut files = g("node_filesystem_files", "Filesystem total file nodes.");
    let mut files_free = g(
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
    );
    let mut ro = g("node_filesystem_readonly", "Filesystem read-only status.");
    let mut device_error = g(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
    );
    let mut mount_info = family(
        MetricKind::Gauge,
        "node_filesystem_mount_info",
        "Filesystem mount information.",
        &["device", "major", "minor", "mountpoint"],
    );
    for (m, r) in mounts.iter().zip(results) {
        let r = r.unwrap_or(Err(StatError::Timeout));
        let error_text = match &r {
            Ok(_) => String::new(),
            Err(e) => {
                tracing::debug!(mountpoint = %m.mountpoint, err = e.label(), "Error on statfs() system call");
                e.label()
            }
        };
        // Label names sorted, as client_golang writes them.
        let full = [m.device.as_str(), &error_text, &m.fstype, &m.mountpoint];
        let short = [m.device.as_str(), &m.fstype, &m.mountpoint];
        let l: &[&str] = if upstream { &full } else { &short };
        let readonly = if m.read_only() { 1.0 } else { 0.0 };
        push(&mut device_error, l, if r.is_ok() { 0.0 } else { 1.0 });
        if upstream {
            push(&mut ro, l, readonly);
        }
        let Ok(s) = r else { continue };
        let bsize = s.bsize as f64;
        push(&mut size, l, s.blocks as f64 * bsize);
        push(&mut free, l, s.bfree as f64 * bsize);
        push(&mut avail, l, s.bavail as f64 * bsize);
        push(&mut files, l, s.files as f64);
        push(&mut files_free, l, s.ffree as f64);
        if !upstream {
            push(&mut ro, l, readonly);
        }
        if upstream {
            let (major, minor) = m.major_minor.split_once(':').unwrap_or(("0", "0"));
            push(
                &mut mount_info,
                &[&m.device, major, minor, &m.mountpoint],
                1.0,
            );
        }
    }
    out.extend([size, free, avail, files, files_free, ro, device_error]);
    if upstream {
        out.push(mount_info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_file() {
        let m = parse_mounts(
            "/dev/vda / ext4 rw,relatime 0 0\nserver:/x /mnt/with\\040space nfs ro,vers=4 0 0\n",
        )
        .unwrap();
        assert_eq!(m[1].mountpoint, "/mnt/with space");
        assert!(m[1].read_only() && !m[0].read_only());
        assert!(parse_mounts("/dev/vda / ext4\n").is_err());
    }

    #[test]
    fn mountinfo_file() {
        let m = parse_mountinfo(
            "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard\n30 22 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n",
        )
        .unwrap();
        assert_eq!(m[0].device, "/dev/vda");
        assert_eq!(m[0].major_minor, "254:0");
        assert_eq!(m[0].fstype, "ext4");
        assert!(m[1].read_only());
        assert!(parse_mountinfo("22 1 254:0 / / rw\n").is_err());
        assert!(parse_mountinfo("22 1 x / / rw - ext4 /dev/vda rw\n").is_err());
    }

    #[test]
    fn default_patterns() {
        let mp = Regex::new(DEFAULT_MOUNT_POINTS_EXCLUDE).unwrap();
        assert!(
            mp.is_match("/proc")
                && mp.is_match("/dev/shm")
                && !mp.is_match("/run")
                && mp.is_match("/run/credentials/x")
        );
        let deb = Regex::new(DEBIAN_MOUNT_POINTS_EXCLUDE).unwrap();
        assert!(deb.is_match("/run") && deb.is_match("/mnt/x") && !deb.is_match("/"));
        let fs = Regex::new(DEFAULT_FS_TYPES_EXCLUDE).unwrap();
        assert!(fs.is_match("cgroup2") && fs.is_match("erofs") && !fs.is_match("ext4"));
    }
}
