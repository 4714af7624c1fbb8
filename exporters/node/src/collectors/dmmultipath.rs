//! `dmmultipath`: the device-mapper multipath maps of `/sys/block/dm-*` (those whose
//! `dm/uuid` starts with `mpath-`) and the state of each of their paths (node_exporter 1.11
//! and later; not part of the `debian12` profile).

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::attr::{self, is_missing, is_permission};
use crate::config::Config;
use crate::error::ReadError;
use crate::paths::Paths;

/// One multipath map: procfs' `DMMultipathDevice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipathDevice {
    /// The device-mapper name (`dm/name`, e.g. `mpatha`).
    pub name: String,
    /// The kernel's block device name (`dm-5`).
    pub sysfs_name: String,
    /// The full DM UUID (`mpath-3600…`).
    pub uuid: String,
    /// Whether `dm/suspended` reads 1.
    pub suspended: bool,
    /// `size` (512-byte sectors) in bytes, wrapping as Go's uint64 product does.
    pub size_bytes: u64,
    /// The underlying devices (`slaves/`) and their `device/state`, in name order.
    pub paths: Vec<(String, String)>,
}

/// procfs' `DMMultipathDevices`: every `block/dm-*` whose `dm/uuid` starts with `mpath-`, in
/// directory order. A dm device without `dm/uuid` is skipped; any other attribute that
/// cannot be read or parsed fails the whole read, as upstream.
pub fn read_multipath(paths: &Paths) -> Result<Vec<MultipathDevice>, ReadError> {
    let block = paths.sys("block");
    let mut out = Vec::new();
    for entry in attr::sorted_names(&block)? {
        if !entry.starts_with("dm-") {
            continue;
        }
        let dir = block.join(&entry);
        let uuid = match attr::sys_read(&dir.join("dm/uuid")) {
            Ok(u) => u,
            Err(e) if is_missing(&e) => continue,
            Err(e) => return Err(e),
        };
        if !uuid.starts_with("mpath-") {
            continue;
        }
        let name = attr::sys_read(&dir.join("dm/name"))?;
        let suspended = attr::read_uint(&dir.join("dm/suspended"), "dm/suspended")?;
        let sectors = attr::read_uint(&dir.join("size"), "block size")?;
        let slaves = match attr::sorted_names(&dir.join("slaves")) {
            Ok(s) => s,
            Err(e) if is_missing(&e) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut device_paths = Vec::with_capacity(slaves.len());
        for slave in slaves {
            let state = attr::sys_read(&block.join(&slave).join("device/state"))?;
            device_paths.push((slave, state));
        }
        out.push(MultipathDevice {
            name,
            sysfs_name: entry,
            uuid,
            suspended: suspended == 1,
            size_bytes: sectors.wrapping_mul(512),
            paths: device_paths,
        });
    }
    Ok(out)
}

/// node_exporter's `isPathActive`: SCSI `running` or NVMe `live`.
fn is_path_active(state: &str) -> bool {
    state == "running" || state == "live"
}

/// The `dmmultipath` collector.
#[derive(Debug)]
pub struct DmMultipathCollector {
    paths: Paths,
}

impl NodeCollector for DmMultipathCollector {
    const NAME: &'static str = "dmmultipath";
    const SINCE_DEBIAN12: bool = true;

    fn from_config(c: &Config) -> DmMultipathCollector {
        DmMultipathCollector {
            paths: c.paths.clone(),
        }
    }
}

impl BlockingCollector for DmMultipathCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut devices = match read_multipath(&self.paths) {
            Ok(d) => d,
            // Upstream wraps every read error with %w, so a missing or forbidden attribute
            // anywhere is "no data" too.
            Err(e) if is_missing(&e) || is_permission(&e) => {
                tracing::debug!(err = %e, "Could not read DM-multipath devices");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        // client_golang writes a family's series sorted by label values.
        devices.sort_by(|a, b| (&a.name, &a.sysfs_name).cmp(&(&b.name, &b.sysfs_name)));
        let per_device = |name: &str, help: &str| {
            family(MetricKind::Gauge, name, help, &["device", "sysfs_name"])
        };
        let mut info = family(
            MetricKind::Gauge,
            "node_dmmultipath_device_info",
            "Non-numeric information about a DM-multipath device.",
            &["device", "sysfs_name", "uuid"],
        );
        let mut active = per_device(
            "node_dmmultipath_device_active",
            "Whether the multipath device-mapper device is active (1) or suspended (0).",
        );
        let mut size = per_device(
            "node_dmmultipath_device_size_bytes",
            "Size of the multipath device in bytes, read from /sys/block/<dm>/size.",
        );
        let mut total = per_device(
            "node_dmmultipath_device_paths",
            "Number of paths for a multipath device.",
        );
        let mut up = per_device(
            "node_dmmultipath_device_paths_active",
            "Number of paths in active state (SCSI running or NVMe live) for a multipath device.",
        );
        let mut failed = per_device(
            "node_dmmultipath_device_paths_failed",
            "Number of paths not in active state for a multipath device.",
        );
        let mut state = family(
            MetricKind::Gauge,
            "node_dmmultipath_path_state",
            "Reports the underlying device state for a multipath path, as read from /sys/block/<dev>/device/state.",
            &["device", "path", "state"],
        );
        for d in &devices {
            let labels = [d.name.as_str(), d.sysfs_name.as_str()];
            push(&mut info, &[&d.name, &d.sysfs_name, &d.uuid], 1.0);
            push(&mut active, &labels, if d.suspended { 0.0 } else { 1.0 });
            push(&mut size, &labels, d.size_bytes as f64);
            let n_active = d.paths.iter().filter(|(_, s)| is_path_active(s)).count();
            for (path, st) in &d.paths {
                push(&mut state, &[&d.name, path, st], 1.0);
            }
            push(&mut total, &labels, d.paths.len() as f64);
            push(&mut up, &labels, n_active as f64);
            push(&mut failed, &labels, (d.paths.len() - n_active) as f64);
        }
        out.extend(
            [info, active, size, total, up, failed, state]
                .into_iter()
                .filter(|f| !f.is_empty()),
        );
        Ok(())
    }
}
