//! `bonding`: `node_bonding_slaves` and `node_bonding_active` from
//! `/sys/class/net/bonding_masters` and each master's slaves' `mii_status`.

use std::io;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::paths::Paths;
use crate::sysfs;

/// One bonding master: its name, configured slaves and slaves whose MII status is `up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bond {
    /// The master interface.
    pub master: String,
    /// Configured slaves.
    pub slaves: u64,
    /// Slaves that are up.
    pub active: u64,
}

fn read(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path).map_err(|e| sysfs::at(path, e))
}

/// Reads every master listed in `class_net/bonding_masters`.
pub fn read_bonding(class_net: &Path) -> io::Result<Vec<Bond>> {
    let masters = read(&class_net.join("bonding_masters"))?;
    let mut out = Vec::new();
    for master in masters.split_ascii_whitespace() {
        let dir = class_net.join(master);
        let slaves = read(&dir.join("bonding/slaves"))?;
        let mut bond = Bond {
            master: master.to_owned(),
            slaves: 0,
            active: 0,
        };
        for slave in slaves.split_ascii_whitespace() {
            let status =
                |prefix: &str| read(&dir.join(format!("{prefix}{slave}/bonding_slave/mii_status")));
            let state = match status("lower_") {
                Err(e) if e.kind() == io::ErrorKind::NotFound => status("slave_"),
                r => r,
            }?;
            bond.slaves += 1;
            if state.trim() == "up" {
                bond.active += 1;
            }
        }
        // A master listed twice is one series, its last reading (a Go map).
        out.retain(|b: &Bond| b.master != bond.master);
        out.push(bond);
    }
    Ok(out)
}

/// The `bonding` collector.
#[derive(Debug)]
pub struct BondingCollector {
    paths: Paths,
}

impl NodeCollector for BondingCollector {
    const NAME: &'static str = "bonding";

    fn from_config(c: &Config) -> BondingCollector {
        BondingCollector {
            paths: c.paths.clone(),
        }
    }
}

impl BlockingCollector for BondingCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let root = self.paths.sys("class/net");
        let bonds = match read_bonding(&root) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(file = %root.display(), "Not collecting bonding, file does not exist");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut slaves = family(
            MetricKind::Gauge,
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
            &["master"],
        );
        let mut active = family(
            MetricKind::Gauge,
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
            &["master"],
        );
        for b in &bonds {
            push(&mut slaves, &[&b.master], b.slaves as f64);
            push(&mut active, &[&b.master], b.active as f64);
        }
        out.extend([active, slaves].into_iter().filter(|f| !f.is_empty()));
        Ok(())
    }
}
