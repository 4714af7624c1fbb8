//! The collectors, one per file, registered by name from one table ([`COLLECTORS`]).
//!
//! Each module has a pure parser (`parse_x(&str)`), a reader (`read_x(&Paths)`) and the
//! collector type, which reads into a buffer it reuses across scrapes.

use aiplatform_metrics::MetricFamily;
use aiplatform_prometheus::{
    BlockingCollector, CollectError, CollectorSet, CollectorSetError, DefaultState, ScrapeContext,
};

use crate::config::NodeConfig;

pub mod cpu;
pub mod diskstats;
pub mod filefd;
pub mod filesystem;
pub mod loadavg;
pub mod meminfo;
pub mod netdev;
pub mod netlink;
pub mod netstat;
pub mod os;
pub mod pressure;
pub mod sockstat;
pub mod stat;
pub mod statfs;
pub mod textfile;
pub mod time;
pub mod uname;
pub mod vmstat;

/// A collector's name, default state and constructor.
#[derive(Debug, Clone, Copy)]
pub struct CollectorSpec {
    /// The name (`--collector.<name>`, `collect[]=<name>`).
    pub name: &'static str,
    /// Whether it runs unless disabled.
    pub default: DefaultState,
    build: fn(&NodeConfig) -> Box<dyn BlockingCollector>,
}

impl CollectorSpec {
    /// Builds the collector from the configuration.
    pub fn build(&self, config: &NodeConfig) -> Box<dyn BlockingCollector> {
        (self.build)(config)
    }
}

const ON: DefaultState = DefaultState::Enabled;

/// Every collector this exporter has, as node_exporter registers them (all on by default).
pub const COLLECTORS: &[CollectorSpec] = &[
    CollectorSpec {
        name: "cpu",
        default: ON,
        build: |c| {
            Box::new(cpu::CpuCollector::new(
                c.paths.clone(),
                c.compat,
                c.cpu_guest,
            ))
        },
    },
    CollectorSpec {
        name: "diskstats",
        default: ON,
        build: |c| {
            Box::new(diskstats::DiskstatsCollector::new(
                c.paths.clone(),
                c.compat,
                c.diskstats_filter.clone(),
            ))
        },
    },
    CollectorSpec {
        name: "filefd",
        default: ON,
        build: |c| Box::new(filefd::FileFdCollector::new(c.paths.clone())),
    },
    CollectorSpec {
        name: "filesystem",
        default: ON,
        build: |c| {
            Box::new(filesystem::FilesystemCollector::new(
                c.paths.clone(),
                c.compat,
                c.filesystem.clone(),
            ))
        },
    },
    CollectorSpec {
        name: "loadavg",
        default: ON,
        build: |c| Box::new(loadavg::LoadavgCollector::new(c.paths.clone())),
    },
    CollectorSpec {
        name: "meminfo",
        default: ON,
        build: |c| Box::new(meminfo::MeminfoCollector::new(c.paths.clone(), c.compat)),
    },
    CollectorSpec {
        name: "netdev",
        default: ON,
        build: |c| {
            Box::new(netdev::NetdevCollector::new(
                c.paths.clone(),
                c.netdev_filter.clone(),
                c.netdev_netlink,
                c.netdev_detailed,
            ))
        },
    },
    CollectorSpec {
        name: "netstat",
        default: ON,
        build: |c| {
            Box::new(netstat::NetstatCollector::new(
                c.paths.clone(),
                c.netstat_fields.clone(),
            ))
        },
    },
    CollectorSpec {
        name: "os",
        default: ON,
        build: |c| Box::new(os::OsCollector::new(c.paths.clone(), c.compat)),
    },
    CollectorSpec {
        name: "pressure",
        default: ON,
        build: |c| Box::new(pressure::PressureCollector::new(c.paths.clone(), c.compat)),
    },
    CollectorSpec {
        name: "sockstat",
        default: ON,
        build: |c| Box::new(sockstat::SockstatCollector::new(c.paths.clone())),
    },
    CollectorSpec {
        name: "stat",
        default: ON,
        build: |c| Box::new(stat::StatCollector::new(c.paths.clone(), c.stat_softirq)),
    },
    CollectorSpec {
        name: "textfile",
        default: ON,
        build: |c| {
            Box::new(textfile::TextfileCollector::new(
                c.textfile_directory.clone(),
            ))
        },
    },
    CollectorSpec {
        name: "time",
        default: ON,
        build: |c| Box::new(time::TimeCollector::new(c.paths.clone())),
    },
    CollectorSpec {
        name: "uname",
        default: ON,
        build: |_| Box::new(uname::UnameCollector),
    },
    CollectorSpec {
        name: "vmstat",
        default: ON,
        build: |c| {
            Box::new(vmstat::VmstatCollector::new(
                c.paths.clone(),
                c.vmstat_fields.clone(),
            ))
        },
    },
];

/// A boxed collector, registered like any other.
struct Boxed(Box<dyn BlockingCollector>);

impl BlockingCollector for Boxed {
    fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        self.0.collect(ctx, out)
    }
}

/// A placeholder that only carries a name and default, to generate the collector flags
/// before the configuration they depend on is known.
struct Unconfigured;

impl BlockingCollector for Unconfigured {
    fn collect(&self, _: &ScrapeContext, _: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        Err(CollectError::NoData)
    }
}

/// An empty `node` collector set: `node_scrape_collector_*` with node_exporter's HELP.
fn empty_set() -> CollectorSet {
    CollectorSet::new("node", "node_exporter").expect("valid namespace")
}

/// The set with every collector's name and default but no configuration: what the command
/// line parser needs to generate `--[no-]collector.<name>`.
pub fn flag_set() -> CollectorSet {
    let mut set = empty_set();
    for spec in COLLECTORS {
        set.register_blocking(spec.name, spec.default, Unconfigured)
            .expect("unique collector names");
    }
    set
}

/// Every collector, configured; enablement copied from `enabled_from` when given (the set the
/// command line was parsed into).
pub fn collector_set(
    config: &NodeConfig,
    enabled_from: Option<&CollectorSet>,
) -> Result<CollectorSet, CollectorSetError> {
    let mut set = empty_set();
    set.set_timeout(config.collector_timeout);
    for spec in COLLECTORS {
        set.register_blocking(spec.name, spec.default, Boxed(spec.build(config)))?;
        if let Some(on) = enabled_from.and_then(|s| s.is_enabled(spec.name)) {
            set.set_enabled(spec.name, on)?;
        }
    }
    Ok(set)
}
