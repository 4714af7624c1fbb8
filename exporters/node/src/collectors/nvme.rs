//! `nvme`: `node_nvme_info` from `/sys/class/nvme/<device>/{firmware_rev,model,serial,state}`.

use std::io;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::paths::Paths;
use crate::sysfs;

/// One NVMe controller's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmeDevice {
    /// The directory name (`nvme0`).
    pub name: String,
    /// `firmware_rev`.
    pub firmware_revision: String,
    /// `model`.
    pub model: String,
    /// `serial`.
    pub serial: String,
    /// `state`.
    pub state: String,
}

/// Every device under `class/nvme`; a missing attribute fails the read. Upstream's procfs
/// also requires `cntlid`.
pub fn nvme_class(class: &Path, compat: Compat) -> io::Result<Vec<NvmeDevice>> {
    let mut out = Vec::new();
    for (name, dir) in sysfs::read_dir_sorted(class)? {
        let a = |f: &str| sysfs::attribute(&dir.join(f));
        let device = NvmeDevice {
            firmware_revision: a("firmware_rev")?,
            model: a("model")?,
            serial: a("serial")?,
            state: a("state")?,
            name,
        };
        if !compat.is_debian12() {
            a("cntlid")?;
        }
        out.push(device);
    }
    Ok(out)
}

/// The `nvme` collector.
#[derive(Debug)]
pub struct NvmeCollector {
    paths: Paths,
    compat: Compat,
}

impl NodeCollector for NvmeCollector {
    const NAME: &'static str = "nvme";

    fn from_config(c: &Config) -> NvmeCollector {
        NvmeCollector {
            paths: c.paths.clone(),
            compat: c.compat,
        }
    }
}

impl BlockingCollector for NvmeCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let devices = match nvme_class(&self.paths.sys("class/nvme"), self.compat) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!("nvme statistics not found, skipping");
                return Err(CollectError::NoData);
            }
            Err(e) => {
                return Err(CollectError::new(format!(
                    "error obtaining NVMe class info: {e}"
                )));
            }
        };
        let mut info = family(
            MetricKind::Gauge,
            "node_nvme_info",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
            &["device", "firmware_revision", "model", "serial", "state"],
        );
        for d in &devices {
            push(
                &mut info,
                &[&d.name, &d.firmware_revision, &d.model, &d.serial, &d.state],
                1.0,
            );
        }
        if !info.is_empty() {
            out.push(info);
        }
        Ok(())
    }
}
