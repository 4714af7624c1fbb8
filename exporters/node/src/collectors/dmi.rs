//! `dmi`: `node_dmi_info`, the firmware's identification strings from `/sys/class/dmi/id`,
//! read once at start (they do not change until the next boot).

use std::fs;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::attr::{self, is_missing, is_permission};
use crate::config::Config;
use crate::error::ReadError;
use crate::paths::Paths;

const HELP: &str = "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, product_sku, product_uuid, product_version, system_vendor if provided by DMI.";

/// Label name by file name, in label order (`sys_vendor` is labelled `system_vendor`;
/// `chassis_type` is read by procfs but not exported).
const FIELDS: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

/// procfs' `DMIClass`: the label pairs of the regular files of `class/dmi/id` that could be
/// read (unreadable ones, such as serials for non-root users, are left out).
pub fn read_dmi(paths: &Paths) -> Result<Vec<(&'static str, String)>, ReadError> {
    let dir = paths.sys("class/dmi/id");
    let mut found = Vec::new();
    for name in attr::sorted_names(&dir)? {
        let Some(&(_, label)) = FIELDS.iter().find(|(f, _)| *f == name) else {
            continue;
        };
        let path = dir.join(&name);
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            continue;
        }
        match attr::sys_read_bytes(&path) {
            Ok(v) => found.push((label, attr::to_valid_utf8(&v))),
            Err(e) if is_permission(&e) => {}
            Err(e) => return Err(e),
        }
    }
    found.sort_by_key(|(l, _)| *l);
    Ok(found)
}

/// The `dmi` collector.
#[derive(Debug)]
pub struct DmiCollector {
    info: Result<Option<MetricFamily>, String>,
}

impl NodeCollector for DmiCollector {
    const NAME: &'static str = "dmi";

    fn from_config(c: &Config) -> DmiCollector {
        let info = match read_dmi(&c.paths) {
            Ok(pairs) if pairs.is_empty() => Ok(None),
            Ok(pairs) => {
                let labels: Vec<&str> = pairs.iter().map(|(l, _)| *l).collect();
                let values: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
                let mut f = family(MetricKind::Gauge, "node_dmi_info", HELP, &labels);
                push(&mut f, &values, 1.0);
                Ok(Some(f))
            }
            Err(e) if is_missing(&e) => {
                tracing::debug!(err = %e, "Platform does not support Desktop Management Interface (DMI) information");
                Ok(None)
            }
            Err(e) => {
                let msg =
                    format!("failed to read Desktop Management Interface (DMI) information: {e}");
                tracing::warn!("{msg}");
                Err(msg)
            }
        };
        DmiCollector { info }
    }
}

impl BlockingCollector for DmiCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        match &self.info {
            Ok(Some(f)) => {
                out.push(f.clone());
                Ok(())
            }
            Ok(None) => Err(CollectError::NoData),
            Err(msg) => Err(CollectError::new(msg.clone())),
        }
    }
}
