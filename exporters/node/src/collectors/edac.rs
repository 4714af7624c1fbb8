//! `edac`: memory controller error counters from `/sys/devices/system/edac/mc/mc*` and
//! their `csrow*` directories.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::attr;
use crate::config::Config;
use crate::paths::Paths;

/// The `edac` collector.
#[derive(Debug)]
pub struct EdacCollector {
    paths: Paths,
}

impl NodeCollector for EdacCollector {
    const NAME: &'static str = "edac";

    fn from_config(c: &Config) -> EdacCollector {
        EdacCollector {
            paths: c.paths.clone(),
        }
    }
}

/// The digits after `prefix` when the rest of `name` is digits only (the glob
/// `<prefix>[0-9]*` with node_exporter's `([0-9]*)` capture, which stops at the first
/// non-digit).
fn numbered<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

impl BlockingCollector for EdacCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut ce = family(
            MetricKind::Counter,
            "node_edac_correctable_errors_total",
            "Total correctable memory errors.",
            &["controller"],
        );
        let mut ue = family(
            MetricKind::Counter,
            "node_edac_uncorrectable_errors_total",
            "Total uncorrectable memory errors.",
            &["controller"],
        );
        let mut row_ce = family(
            MetricKind::Counter,
            "node_edac_csrow_correctable_errors_total",
            "Total correctable memory errors for this csrow.",
            &["controller", "csrow"],
        );
        let mut row_ue = family(
            MetricKind::Counter,
            "node_edac_csrow_uncorrectable_errors_total",
            "Total uncorrectable memory errors for this csrow.",
            &["controller", "csrow"],
        );
        let mc_dir = self.paths.sys("devices/system/edac/mc");
        // A glob over a missing directory matches nothing: no error, no series.
        let controllers = attr::sorted_names(&mc_dir).unwrap_or_default();
        let read =
            |p: std::path::PathBuf| attr::read_uint(&p, "devices/system/edac/mc").map(|v| v as f64);
        for name in &controllers {
            let Some(number) = numbered(name, "mc") else {
                continue;
            };
            let dir = mc_dir.join(name);
            push(
                &mut ce,
                &[number],
                read(dir.join("ce_count")).map_err(CollectError::new)?,
            );
            let v = read(dir.join("ce_noinfo_count")).map_err(CollectError::new)?;
            push(&mut row_ce, &[number, "unknown"], v);
            push(
                &mut ue,
                &[number],
                read(dir.join("ue_count")).map_err(CollectError::new)?,
            );
            let v = read(dir.join("ue_noinfo_count")).map_err(CollectError::new)?;
            push(&mut row_ue, &[number, "unknown"], v);
            for row in attr::sorted_names(&dir).unwrap_or_default() {
                let Some(csrow) = numbered(&row, "csrow") else {
                    continue;
                };
                let rdir = dir.join(&row);
                let v = read(rdir.join("ce_count")).map_err(CollectError::new)?;
                push(&mut row_ce, &[number, csrow], v);
                let v = read(rdir.join("ue_count")).map_err(CollectError::new)?;
                push(&mut row_ue, &[number, csrow], v);
            }
        }
        out.extend(
            [ce, ue, row_ce, row_ue]
                .into_iter()
                .filter(|f| !f.is_empty()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_the_glob_and_regex_take_them() {
        assert_eq!(numbered("mc0", "mc"), Some("0"));
        assert_eq!(numbered("mc12x", "mc"), Some("12"));
        assert_eq!(numbered("mc", "mc"), None);
        assert_eq!(numbered("power", "mc"), None);
    }
}
