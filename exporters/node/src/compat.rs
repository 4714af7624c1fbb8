//! Which node_exporter the output follows: current upstream (the default) or the 1.5.0 that
//! Debian 12 ships (`--compat=debian12`).

use clap::ValueEnum;

/// The node_exporter version whose names, labels and defaults are reproduced.
///
/// | | `upstream` (default) | `debian12` |
/// |---|---|---|
/// | `node_filesystem_*` labels | `device`, `mountpoint`, `fstype`, `device_error` | no `device_error` |
/// | `node_filesystem_readonly` of a failing mount | emitted | omitted |
/// | `node_filesystem_mount_info` | yes | no |
/// | mounts read from | `/proc/1/mountinfo` | `/proc/1/mounts` |
/// | `node_memory_*` | procfs' list of known keys | every key of `/proc/meminfo` |
/// | `node_disk_info` | with `rotational` | without |
/// | `node_disk_device_mapper_backing_device_info` | yes | no |
/// | diskstats default exclude | `z?ram` too | `ram` only |
/// | `node_pressure_irq_stalled_seconds_total` | yes | no |
/// | `node_os_support_end_timestamp_seconds` | yes | no |
/// | netstat default fields | + `TCPOFOQueue`, `TCPRcvQDrop` | 1.5.0's |
/// | offline CPUs | dropped | kept in the cache |
/// | flag defaults | upstream's | the Debian package's (see below) |
///
/// Debian's package changes three defaults of 1.5.0, and `debian12` follows it so that it can
/// replace `prometheus-node-exporter` as installed: mount points excluded
/// `^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`,
/// netdev devices excluded `^lo$`, and the textfile directory
/// `/var/lib/prometheus/node-exporter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Compat {
    /// Current upstream node_exporter.
    #[default]
    Upstream,
    /// node_exporter 1.5.0 as packaged by Debian 12 (`prometheus-node-exporter`).
    Debian12,
}

impl Compat {
    /// Whether this is the 1.5.0 profile.
    pub fn is_debian12(self) -> bool {
        self == Compat::Debian12
    }
}
