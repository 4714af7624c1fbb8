//! `thermal_zone`: `node_thermal_zone_temp` and `node_cooling_device_{cur,max}_state` from
//! `/sys/class/thermal/thermal_zone*` and `cooling_device*`.

use std::io;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::paths::Paths;
use crate::sysfs;

/// One thermal zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ThermalZone {
    /// The number after `thermal_zone`.
    pub name: String,
    /// `type`.
    pub kind: String,
    /// `temp`, millidegrees Celsius.
    pub temp: i64,
}

/// One cooling device.
#[derive(Debug, Clone, PartialEq)]
pub struct CoolingDevice {
    /// The number after `cooling_device`.
    pub name: String,
    /// `type`.
    pub kind: String,
    /// `cur_state` (-1 for some drivers).
    pub cur_state: i64,
    /// `max_state`.
    pub max_state: i64,
}

/// Reads one zone directory: `type`, `policy` and `temp` are required, `mode` and `passive`
/// are read only to refuse them when they fail otherwise than by absence (procfs's rules).
pub fn read_zone(dir: &Path) -> io::Result<(String, i64)> {
    let kind = sysfs::attribute(&dir.join("type"))?;
    sysfs::attribute(&dir.join("policy"))?;
    let temp = sysfs::int_attribute(&dir.join("temp"))?;
    sysfs::optional(sysfs::attribute(&dir.join("mode")))?;
    sysfs::optional(sysfs::uint_attribute(&dir.join("passive")))?;
    Ok((kind, temp))
}

/// Every zone under `class/thermal`. A zone that cannot be read is skipped when the kernel
/// answers ENODATA (node_exporter 1.5.0) or any read error (later versions); a value that
/// does not parse fails the whole read.
pub fn thermal_zones(class: &Path, compat: Compat) -> io::Result<Vec<ThermalZone>> {
    let mut out = Vec::new();
    for (name, dir) in sysfs::glob(class, "thermal_zone", true) {
        match read_zone(&dir) {
            Ok((kind, temp)) => out.push(ThermalZone {
                name: name["thermal_zone".len()..].to_owned(),
                kind,
                temp,
            }),
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) if !compat.is_debian12() && skippable(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A read error of a file (Go's `*fs.PathError`) or EAGAIN, as opposed to a parse error.
fn skippable(e: &io::Error) -> bool {
    e.kind() != io::ErrorKind::InvalidData
}

/// Every cooling device under `class/thermal`; any failure fails the read.
pub fn cooling_devices(class: &Path) -> io::Result<Vec<CoolingDevice>> {
    let mut out = Vec::new();
    for (name, dir) in sysfs::glob(class, "cooling_device", true) {
        let kind = sysfs::attribute(&dir.join("type"))?;
        let max_state = sysfs::int_attribute(&dir.join("max_state"))?;
        let cur_state = sysfs::int_attribute(&dir.join("cur_state"))?;
        out.push(CoolingDevice {
            name: name["cooling_device".len()..].to_owned(),
            kind,
            cur_state,
            max_state,
        });
    }
    Ok(out)
}

/// The `thermal_zone` collector.
#[derive(Debug)]
pub struct ThermalZoneCollector {
    paths: Paths,
    compat: Compat,
}

impl NodeCollector for ThermalZoneCollector {
    const NAME: &'static str = "thermal_zone";

    fn from_config(c: &Config) -> ThermalZoneCollector {
        ThermalZoneCollector {
            paths: c.paths.clone(),
            compat: c.compat,
        }
    }
}

impl BlockingCollector for ThermalZoneCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = self.paths.sys("class/thermal");
        let zones = match thermal_zones(&class, self.compat) {
            Ok(z) => z,
            Err(e)
                if !self.compat.is_debian12()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::NotFound
                            | io::ErrorKind::PermissionDenied
                            | io::ErrorKind::InvalidInput
                    ) =>
            {
                tracing::debug!(err = %e, "Could not read thermal zone stats");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut temp = family(
            MetricKind::Gauge,
            "node_thermal_zone_temp",
            "Zone temperature in Celsius",
            &["type", "zone"],
        );
        for z in &zones {
            push(&mut temp, &[&z.kind, &z.name], z.temp as f64 / 1000.0);
        }
        if !temp.is_empty() {
            out.push(temp);
        }
        let devices = cooling_devices(&class).map_err(CollectError::new)?;
        let labels = ["name", "type"];
        let mut cur = family(
            MetricKind::Gauge,
            "node_cooling_device_cur_state",
            "Current throttle state of the cooling device",
            &labels,
        );
        let mut max = family(
            MetricKind::Gauge,
            "node_cooling_device_max_state",
            "Maximum throttle state of the cooling device",
            &labels,
        );
        for d in &devices {
            push(&mut cur, &[&d.name, &d.kind], d.cur_state as f64);
            push(&mut max, &[&d.name, &d.kind], d.max_state as f64);
        }
        for f in [cur, max] {
            if !f.is_empty() {
                out.push(f);
            }
        }
        Ok(())
    }
}
