//! `ksmd` (off by default): kernel samepage merging from `/sys/kernel/mm/ksm`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::scalar;
use aiplatform_prometheus::{BlockingCollector, CollectError, DefaultState, ScrapeContext};

use super::NodeCollector;
use crate::attr::{self, is_missing};
use crate::config::Config;
use crate::paths::Paths;

/// The files read, in node_exporter's order.
const FILES: [&str; 9] = [
    "full_scans",
    "merge_across_nodes",
    "pages_shared",
    "pages_sharing",
    "pages_to_scan",
    "pages_unshared",
    "pages_volatile",
    "run",
    "sleep_millisecs",
];

/// The `ksmd` collector.
#[derive(Debug)]
pub struct KsmdCollector {
    paths: Paths,
}

impl NodeCollector for KsmdCollector {
    const NAME: &'static str = "ksmd";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    fn from_config(c: &Config) -> KsmdCollector {
        KsmdCollector {
            paths: c.paths.clone(),
        }
    }
}

impl BlockingCollector for KsmdCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let start = out.len();
        for file in FILES {
            let path = self.paths.sys(&format!("kernel/mm/ksm/{file}"));
            let value = match attr::read_uint(&path, "kernel/mm/ksm") {
                Ok(v) => v as f64,
                // A kernel without KSM: nothing to report (node_exporter fails the scrape of
                // this collector with the same success 0, logged as an error).
                Err(e) if is_missing(&e) && out.len() == start => {
                    tracing::debug!(err = %e, "ksm is not available");
                    return Err(CollectError::NoData);
                }
                Err(e) => {
                    out.truncate(start);
                    return Err(CollectError::new(e));
                }
            };
            let help = format!("ksmd '{file}' file.");
            let family = match file {
                "full_scans" => scalar(
                    MetricKind::Counter,
                    "node_ksmd_full_scans_total",
                    &help,
                    value,
                ),
                "sleep_millisecs" => scalar(
                    MetricKind::Gauge,
                    "node_ksmd_sleep_seconds",
                    &help,
                    value / 1000.0,
                ),
                _ => scalar(
                    MetricKind::Gauge,
                    &format!("node_ksmd_{file}"),
                    &help,
                    value,
                ),
            };
            out.push(family);
        }
        Ok(())
    }
}
