//! `kernel_hung`: `node_kernel_hung_tasks_total` from `/proc/sys/kernel/hung_task_detect_count`
//! (node_exporter 1.11 and later; the kernel has the file with `CONFIG_DETECT_HUNG_TASK`, 6.14
//! on; not part of the `debian12` profile).

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::scalar;
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::attr::{self, is_missing};
use crate::config::Config;
use crate::paths::Paths;

/// The `kernel_hung` collector.
#[derive(Debug)]
pub struct KernelHungCollector {
    paths: Paths,
}

impl NodeCollector for KernelHungCollector {
    const NAME: &'static str = "kernel_hung";
    const SINCE_DEBIAN12: bool = true;

    fn from_config(c: &Config) -> KernelHungCollector {
        KernelHungCollector {
            paths: c.paths.clone(),
        }
    }
}

impl BlockingCollector for KernelHungCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        // procfs' `KernelHung`: the whole file, trimmed, a decimal uint64.
        let path = self.paths.proc("sys/kernel/hung_task_detect_count");
        let count = match attr::read_uint(&path, "hung_task_detect_count") {
            Ok(n) => n,
            Err(e) if is_missing(&e) => {
                tracing::debug!("hung_task_detect_count does not exist");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        out.push(scalar(
            MetricKind::Counter,
            "node_kernel_hung_tasks_total",
            "Total number of tasks that have been detected as hung since the system booted.",
            count as f64,
        ));
        Ok(())
    }
}
