//! `rapl`: energy counters of the RAPL power zones under `/sys/class/powercap`, as
//! `node_rapl_<zone>_joules_total` (or `node_rapl_joules_total` with a `rapl_zone` label when
//! `--collector.rapl.enable-zone-label` is set).

use aiplatform_metrics::MetricFamily;
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};
use clap::Args;
use clap::builder::BoolishValueParser;

use super::NodeCollector;
use crate::attr::{self, is_missing, is_permission};
use crate::config::Config;
use crate::error::ReadError;
use crate::paths::Paths;

/// The `rapl` collector's flags.
#[derive(Debug, Clone, Default, Args)]
pub struct RaplArgs {
    // node_exporter's help text, copied from its systemd collector; the flag puts every zone
    // in one `node_rapl_joules_total` family with a `rapl_zone` label.
    /// Enables service unit metric unit_start_time_seconds
    #[arg(long = "collector.rapl.enable-zone-label", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new())]
    pub enable_zone_label: bool,
}

/// One power zone: procfs' `RaplZone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaplZone {
    /// The zone's name without its `-<index>` suffix (`package`, `dram`, `psys`).
    pub name: String,
    /// The suffix, or how many zones of the same name came before.
    pub index: u64,
    /// The zone's directory.
    pub path: String,
}

/// procfs' `getIndexAndName`: `package-1` is `("package", 1)`; a name without a numeric
/// suffix gets the count of earlier zones of that name.
fn index_and_name(seen: &[(String, u64)], name: &str) -> (u64, String) {
    let parts: Vec<&str> = name.split('-').collect();
    if parts.len() == 2
        && let Ok(i) = parts[1].parse::<i64>()
    {
        // Go's `strconv.Atoi`: a sign is allowed; a negative index still prints as given.
        return (i as u64, parts[0].to_owned());
    }
    let count = seen.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c);
    (count, name.to_owned())
}

/// procfs' `GetRaplZones`: every directory of `class/powercap` with a `name` file, with its
/// `max_energy_range_uj` (which must be readable).
pub fn rapl_zones(paths: &Paths) -> Result<Vec<RaplZone>, ReadError> {
    let dir = paths.sys("class/powercap");
    let mut zones = Vec::new();
    let mut seen: Vec<(String, u64)> = Vec::new();
    for entry in attr::sorted_names(&dir)? {
        let zone_dir = dir.join(&entry);
        let Ok(name) = attr::read_trimmed(&zone_dir.join("name")) else {
            continue;
        };
        let (index, name) = index_and_name(&seen, &name);
        attr::read_uint(
            &zone_dir.join("max_energy_range_uj"),
            "class/powercap/max_energy_range_uj",
        )?;
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = index.wrapping_add(1),
            None => seen.push((name.clone(), index.wrapping_add(1))),
        }
        zones.push(RaplZone {
            name,
            index,
            path: zone_dir.to_string_lossy().into_owned(),
        });
    }
    Ok(zones)
}

/// The `rapl` collector.
#[derive(Debug)]
pub struct RaplCollector {
    paths: Paths,
    zone_label: bool,
}

impl NodeCollector for RaplCollector {
    const NAME: &'static str = "rapl";

    fn from_config(c: &Config) -> RaplCollector {
        RaplCollector {
            paths: c.paths.clone(),
            zone_label: c.rapl.enable_zone_label,
        }
    }
}

impl BlockingCollector for RaplCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let zones = match rapl_zones(&self.paths) {
            Ok(z) => z,
            Err(e) if is_missing(&e) || is_permission(&e) => {
                tracing::debug!(err = %e, "Platform doesn't have powercap files present");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut set = FamilySet::new(Naming::Standard).with_namespace("node_rapl");
        for zone in &zones {
            let uj = match attr::read_uint(
                &std::path::Path::new(&zone.path).join("energy_uj"),
                "class/powercap/energy_uj",
            ) {
                Ok(v) => v,
                Err(e) if is_permission(&e) => {
                    tracing::debug!(zone = zone.name, err = %e, "Can't access energy_uj file");
                    return Err(CollectError::NoData);
                }
                Err(e) => return Err(CollectError::new(e)),
            };
            let joules = uj as f64 / 1_000_000.0;
            let index = (zone.index as i64).to_string();
            if self.zone_label {
                set.counter(
                    "joules_total",
                    "Current RAPL value in joules",
                    &["index", "path", "rapl_zone"],
                    &[&index, &zone.path, &zone.name],
                    joules,
                );
            } else {
                let name = format!("{}_joules_total", attr::sanitize_metric_name(&zone.name));
                let help = format!("Current RAPL {} value in joules", zone.name);
                set.counter(
                    &name,
                    &help,
                    &["index", "path"],
                    &[&index, &zone.path],
                    joules,
                );
            }
        }
        set.finish(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indexes_like_procfs() {
        assert_eq!(index_and_name(&[], "package-1"), (1, "package".into()));
        let seen = vec![("dram".to_owned(), 1)];
        assert_eq!(index_and_name(&seen, "dram"), (1, "dram".into()));
        assert_eq!(index_and_name(&seen, "psys"), (0, "psys".into()));
        assert_eq!(index_and_name(&[], "a-b-1"), (0, "a-b-1".into()));
    }
}
