//! The collectors, one per file, registered by name from one table ([`COLLECTORS`]).
//!
//! Each module has a pure parser (`parse_x(&str)`) and the collector type, a
//! [`NodeCollector`], which reads its source into a buffer it reuses across scrapes.

use aiplatform_metrics::MetricFamily;
use aiplatform_prometheus::{
    BlockingCollector, CollectError, CollectorSet, CollectorSetError, DefaultState, ScrapeContext,
};

use crate::config::Config;

pub mod arp;
pub mod bcache;
pub mod bcachefs;
pub mod bonding;
pub mod btrfs;
pub mod conntrack;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod dmi;
pub mod dmmultipath;
pub mod edac;
pub mod entropy;
pub mod fibrechannel;
pub mod filefd;
pub mod filesystem;
pub mod hwmon;
pub mod infiniband;
pub mod interrupts;
pub mod ipvs;
pub mod kernel_hung;
pub mod ksmd;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod meminfo_numa;
pub mod mountstats;
pub mod netclass;
pub mod netdev;
pub mod netlink;
pub mod netstat;
pub mod nfs;
pub mod nfsd;
pub mod nvme;
pub mod os;
pub mod powersupplyclass;
pub mod pressure;
pub mod processes;
pub mod rapl;
pub mod schedstat;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod statfs;
pub mod tapestats;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;
pub mod watchdog;
pub mod xfs;
pub mod zfs;
pub mod zoneinfo;

/// A node collector: it reads one source, is built from the [`Config`], and is registered by
/// name in [`COLLECTORS`], as node_exporter's `registerCollector` does. A new collector is a
/// file with a type that implements this trait and [`BlockingCollector`], and one line in
/// [`COLLECTORS`]:
///
/// ```
/// use aiplatform_metrics::{MetricFamily, MetricKind};
/// use aiplatform_node_exporter::collectors::{CollectorSpec, NodeCollector};
/// use aiplatform_node_exporter::config::Config;
/// use aiplatform_prometheus::family::scalar;
/// use aiplatform_prometheus::{BlockingCollector, CollectError, DefaultState, ScrapeContext};
///
/// struct Entropy(std::path::PathBuf);
///
/// impl NodeCollector for Entropy {
///     const NAME: &'static str = "entropy";
///     const DEFAULT: DefaultState = DefaultState::Disabled;
///
///     fn from_config(c: &Config) -> Entropy {
///         Entropy(c.paths.proc("sys/kernel/random/entropy_avail"))
///     }
/// }
///
/// impl BlockingCollector for Entropy {
///     fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
///         let bits: f64 = std::fs::read_to_string(&self.0)?.trim().parse().map_err(CollectError::new)?;
///         out.push(scalar(MetricKind::Gauge, "node_entropy_available_bits", "Bits of available entropy.", bits));
///         Ok(())
///     }
/// }
///
/// const SPEC: CollectorSpec = CollectorSpec::of::<Entropy>();
/// assert_eq!((SPEC.name, SPEC.default), ("entropy", DefaultState::Disabled));
/// ```
pub trait NodeCollector: BlockingCollector + Sized {
    /// The name: `--collector.<NAME>`, `collect[]=<NAME>`, `collector="<NAME>"`.
    const NAME: &'static str;
    /// Whether it runs unless disabled (node_exporter's `defaultEnabled`).
    const DEFAULT: DefaultState = DefaultState::Enabled;
    /// Whether node_exporter 1.5.0 lacks it: the `debian12` profile then leaves it off, so
    /// that profile emits only what Debian's exporter can.
    const SINCE_DEBIAN12: bool = false;

    /// Builds the collector from the configuration.
    fn from_config(config: &Config) -> Self;
}

/// A collector's name, default state and constructor, as [`COLLECTORS`] lists it.
#[derive(Debug, Clone, Copy)]
pub struct CollectorSpec {
    /// The name (`--collector.<name>`, `collect[]=<name>`).
    pub name: &'static str,
    /// Whether it runs unless disabled.
    pub default: DefaultState,
    /// Whether node_exporter 1.5.0 lacks it (off under `--compat=debian12`).
    pub since_debian12: bool,
    build: fn(&Config) -> Box<dyn BlockingCollector>,
}

impl CollectorSpec {
    /// The entry of collector type `C`.
    pub const fn of<C: NodeCollector>() -> CollectorSpec {
        CollectorSpec {
            name: C::NAME,
            default: C::DEFAULT,
            since_debian12: C::SINCE_DEBIAN12,
            build: boxed::<C>,
        }
    }

    /// Builds the collector from the configuration.
    pub fn build(&self, config: &Config) -> Box<dyn BlockingCollector> {
        (self.build)(config)
    }
}

fn boxed<C: NodeCollector>(config: &Config) -> Box<dyn BlockingCollector> {
    Box::new(C::from_config(config))
}

/// Every collector this exporter has, in name order, each on or off by default as in
/// node_exporter.
pub const COLLECTORS: &[CollectorSpec] = &[
    CollectorSpec::of::<arp::ArpCollector>(),
    CollectorSpec::of::<bcache::BcacheCollector>(),
    CollectorSpec::of::<bcachefs::BcachefsCollector>(),
    CollectorSpec::of::<bonding::BondingCollector>(),
    CollectorSpec::of::<btrfs::BtrfsCollector>(),
    CollectorSpec::of::<conntrack::ConntrackCollector>(),
    CollectorSpec::of::<cpu::CpuCollector>(),
    CollectorSpec::of::<cpufreq::CpuFreqCollector>(),
    CollectorSpec::of::<diskstats::DiskstatsCollector>(),
    CollectorSpec::of::<dmi::DmiCollector>(),
    CollectorSpec::of::<dmmultipath::DmMultipathCollector>(),
    CollectorSpec::of::<edac::EdacCollector>(),
    CollectorSpec::of::<entropy::EntropyCollector>(),
    CollectorSpec::of::<fibrechannel::FibrechannelCollector>(),
    CollectorSpec::of::<filefd::FileFdCollector>(),
    CollectorSpec::of::<filesystem::FilesystemCollector>(),
    CollectorSpec::of::<hwmon::HwmonCollector>(),
    CollectorSpec::of::<infiniband::InfinibandCollector>(),
    CollectorSpec::of::<interrupts::InterruptsCollector>(),
    CollectorSpec::of::<ipvs::IpvsCollector>(),
    CollectorSpec::of::<kernel_hung::KernelHungCollector>(),
    CollectorSpec::of::<ksmd::KsmdCollector>(),
    CollectorSpec::of::<loadavg::LoadavgCollector>(),
    CollectorSpec::of::<mdadm::MdadmCollector>(),
    CollectorSpec::of::<meminfo::MeminfoCollector>(),
    CollectorSpec::of::<meminfo_numa::MeminfoNumaCollector>(),
    CollectorSpec::of::<mountstats::MountstatsCollector>(),
    CollectorSpec::of::<netclass::NetClassCollector>(),
    CollectorSpec::of::<netdev::NetdevCollector>(),
    CollectorSpec::of::<netstat::NetstatCollector>(),
    CollectorSpec::of::<nfs::NfsCollector>(),
    CollectorSpec::of::<nfsd::NfsdCollector>(),
    CollectorSpec::of::<nvme::NvmeCollector>(),
    CollectorSpec::of::<os::OsCollector>(),
    CollectorSpec::of::<powersupplyclass::PowerSupplyClassCollector>(),
    CollectorSpec::of::<pressure::PressureCollector>(),
    CollectorSpec::of::<processes::ProcessesCollector>(),
    CollectorSpec::of::<rapl::RaplCollector>(),
    CollectorSpec::of::<schedstat::SchedstatCollector>(),
    CollectorSpec::of::<selinux::SelinuxCollector>(),
    CollectorSpec::of::<sockstat::SockstatCollector>(),
    CollectorSpec::of::<softnet::SoftnetCollector>(),
    CollectorSpec::of::<stat::StatCollector>(),
    CollectorSpec::of::<tapestats::TapestatsCollector>(),
    CollectorSpec::of::<textfile::TextfileCollector>(),
    CollectorSpec::of::<thermal_zone::ThermalZoneCollector>(),
    CollectorSpec::of::<time::TimeCollector>(),
    CollectorSpec::of::<timex::TimexCollector>(),
    CollectorSpec::of::<udp_queues::UdpQueuesCollector>(),
    CollectorSpec::of::<uname::UnameCollector>(),
    CollectorSpec::of::<vmstat::VmstatCollector>(),
    CollectorSpec::of::<watchdog::WatchdogCollector>(),
    CollectorSpec::of::<xfs::XfsCollector>(),
    CollectorSpec::of::<zfs::ZfsCollector>(),
    CollectorSpec::of::<zoneinfo::ZoneinfoCollector>(),
];

/// A read error as node_exporter reports it for an optional source: a missing file (the
/// kernel has no such feature, the module is not loaded) is no data, anything else a failure.
pub(crate) fn missing_is_no_data(e: crate::error::ReadError) -> CollectError {
    if e.is_not_found() {
        CollectError::NoData
    } else {
        CollectError::new(e)
    }
}

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

/// node_exporter's namespace and program name for `node_scrape_collector_*`.
const NAMESPACE: &str = "node";
const PROGRAM: &str = "node_exporter";

/// Every collector's name and default, without configuration: what the command line is parsed
/// into to learn `--[no-]collector.<name>` ([`CollectorSet::for_flags`]).
pub fn flag_set() -> CollectorSet {
    CollectorSet::for_flags(
        NAMESPACE,
        PROGRAM,
        COLLECTORS.iter().map(|spec| (spec.name, spec.default)),
    )
    .expect("valid, distinct collector names")
}

/// Every collector, configured; enabled as in `flags` when given (the set the command line
/// was parsed into), else by default.
pub fn collector_set(
    config: &Config,
    flags: Option<&CollectorSet>,
) -> Result<CollectorSet, CollectorSetError> {
    let mut set = CollectorSet::new(NAMESPACE, PROGRAM)?;
    set.set_timeout(config.collector_timeout);
    for spec in COLLECTORS {
        set.register_blocking(spec.name, spec.default, Boxed(spec.build(config)))?;
    }
    if let Some(flags) = flags {
        set.enable_like(flags);
    }
    if config.compat.is_debian12() {
        for spec in COLLECTORS.iter().filter(|s| s.since_debian12) {
            set.set_enabled(spec.name, false)?;
        }
    }
    Ok(set)
}
