//! Where the collectors look: `--path.procfs`, `--path.sysfs`, `--path.rootfs` and
//! `--path.udev.data`, passed to every reader (no global state), so that the binary and the
//! tests can point them at a fixture tree.

use std::path::{Path, PathBuf};

/// The filesystem roots a collector reads from.
///
/// ```
/// use aiplatform_node_exporter::paths::Paths;
///
/// let p = Paths::new("fixtures/proc", "fixtures/sys", "/", "/run/udev/data");
/// assert_eq!(p.proc("meminfo"), std::path::Path::new("fixtures/proc/meminfo"));
/// assert_eq!(p.sys("block"), std::path::Path::new("fixtures/sys/block"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    procfs: PathBuf,
    sysfs: PathBuf,
    rootfs: PathBuf,
    udev_data: PathBuf,
}

impl Default for Paths {
    /// `/proc`, `/sys`, `/` and `/run/udev/data`, as node_exporter.
    fn default() -> Paths {
        Paths::new("/proc", "/sys", "/", "/run/udev/data")
    }
}

impl Paths {
    /// Roots for procfs, sysfs, the root filesystem and udev's database.
    pub fn new(
        procfs: impl Into<PathBuf>,
        sysfs: impl Into<PathBuf>,
        rootfs: impl Into<PathBuf>,
        udev_data: impl Into<PathBuf>,
    ) -> Paths {
        Paths {
            procfs: procfs.into(),
            sysfs: sysfs.into(),
            rootfs: rootfs.into(),
            udev_data: udev_data.into(),
        }
    }

    /// `rel` under the procfs root.
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }

    /// `rel` under the sysfs root.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    /// `rel` under udev's data directory.
    pub fn udev(&self, rel: &str) -> PathBuf {
        self.udev_data.join(rel)
    }

    /// The root filesystem root.
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// An absolute path of the host (`/etc/os-release`, a mount point) under the rootfs root.
    pub fn rootfs_join(&self, abs: &str) -> PathBuf {
        self.rootfs.join(abs.trim_start_matches('/'))
    }

    /// A mount point as the host sees it: the rootfs prefix removed (node_exporter's
    /// `rootfsStripPrefix`), `/` when nothing is left.
    pub fn strip_rootfs<'a>(&self, mountpoint: &'a str) -> &'a str {
        let Some(root) = self.rootfs.to_str() else {
            return mountpoint;
        };
        let root = root.trim_end_matches('/');
        if root.is_empty() {
            return mountpoint;
        }
        match mountpoint.strip_prefix(root) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => mountpoint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_prefix_is_stripped_and_joined() {
        let p = Paths::new("/proc", "/sys", "/host", "/run/udev/data");
        assert_eq!(p.strip_rootfs("/host/var"), "/var");
        assert_eq!(p.strip_rootfs("/host"), "/");
        assert_eq!(p.strip_rootfs("/hostile"), "/hostile");
        assert_eq!(p.strip_rootfs("/other"), "/other");
        assert_eq!(
            p.rootfs_join("/etc/os-release"),
            Path::new("/host/etc/os-release")
        );
        let root = Paths::default();
        assert_eq!(root.strip_rootfs("/var"), "/var");
        assert_eq!(
            root.rootfs_join("/etc/os-release"),
            Path::new("/etc/os-release")
        );
    }
}
