//! Everything the collectors need to know, built once from the command line
//! ([`NodeArgs`](crate::args::NodeArgs)) or by hand (tests, embedding).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::collectors::cpu::CpuInfoConfig;
use crate::collectors::filesystem::{self, DEFAULT_MOUNT_TIMEOUT, FilesystemConfig};
use crate::collectors::statfs::SystemStatFs;
use crate::collectors::timex::{Adjtimex, SystemAdjtimex};
use crate::collectors::{
    bcache, diskstats, interrupts, ipvs, netclass, netdev, netstat, powersupplyclass, rapl,
    tapestats, textfile, vmstat,
};
use crate::filter::DeviceFilter;
use crate::paths::Paths;
use aiplatform_prometheus::Compat;

/// The settings of every collector.
#[derive(Debug, Clone)]
pub struct Config {
    /// Filesystem roots.
    pub paths: Paths,
    /// Output profile.
    pub compat: Compat,
    /// `--collector.cpu.guest`.
    pub cpu_guest: bool,
    /// `--collector.cpu.info` and its flag and bug filters.
    pub cpu_info: CpuInfoConfig,
    /// `--collector.arp.device-exclude` / `-include`.
    pub arp_filter: DeviceFilter,
    /// `--collector.netclass.ignored-devices`.
    pub netclass_ignored_devices: Regex,
    /// `--collector.netclass.ignore-invalid-speed`.
    pub netclass_ignore_invalid_speed: bool,
    /// The `timex` collector's `adjtimex(2)`.
    pub adjtimex: Arc<dyn Adjtimex>,
    /// `--collector.stat.softirq`.
    pub stat_softirq: bool,
    /// The `filesystem` collector's settings.
    pub filesystem: FilesystemConfig,
    /// `--collector.netdev.device-exclude` / `-include`.
    pub netdev_filter: DeviceFilter,
    /// `--collector.netdev.netlink`.
    pub netdev_netlink: bool,
    /// `--collector.netdev.enable-detailed-metrics`.
    pub netdev_detailed: bool,
    /// `--collector.diskstats.device-exclude` / `-include`.
    pub diskstats_filter: DeviceFilter,
    /// `--collector.hwmon.chip-exclude` / `-include`.
    pub hwmon_chip_filter: DeviceFilter,
    /// `--collector.hwmon.sensor-exclude` / `-include` (on `<chip>;<sensor>`).
    pub hwmon_sensor_filter: DeviceFilter,
    /// `--collector.netstat.fields`.
    pub netstat_fields: Regex,
    /// `--collector.powersupply.ignored-supplies`.
    pub powersupply_ignored: Regex,
    /// `--collector.vmstat.fields`.
    pub vmstat_fields: Regex,
    /// `--collector.textfile.directory` (`None`: not set).
    pub textfile_directory: Option<PathBuf>,
    /// `--collector.textfile.max-file-size`, in bytes.
    pub textfile_max_file_size: u64,
    /// Per-collector time limit.
    pub collector_timeout: Duration,
    /// The `rapl` collector's flags.
    pub rapl: rapl::RaplArgs,
    /// The `interrupts` collector's settings.
    pub interrupts: interrupts::InterruptsConfig,
    /// `--collector.tapestats.ignored-devices`.
    pub tapestats_ignored: Regex,
    /// `--collector.ipvs.backend-labels`, in node_exporter's order.
    pub ipvs_backend_labels: Vec<&'static str>,
    /// The `bcache` collector's flags.
    pub bcache: bcache::BcacheArgs,
}

impl Config {
    /// node_exporter's defaults for `compat`, reading under `paths`.
    ///
    /// ```
    /// use aiplatform_node_exporter::{config::Config, paths::Paths};
    /// use aiplatform_prometheus::Compat;
    ///
    /// let cfg = Config::defaults(Paths::default(), Compat::Debian12);
    /// assert!(cfg.netdev_filter.ignored("lo"));
    /// ```
    pub fn defaults(paths: Paths, compat: Compat) -> Config {
        let re = |p: &str| crate::filter::compile(p).expect("built-in pattern");
        let netdev_exclude = compat
            .is_debian12()
            .then_some(netdev::DEBIAN_DEVICE_EXCLUDE);
        Config {
            paths,
            compat,
            cpu_guest: true,
            cpu_info: CpuInfoConfig::default(),
            arp_filter: DeviceFilter::default(),
            netclass_ignored_devices: re(netclass::DEFAULT_IGNORED_DEVICES),
            netclass_ignore_invalid_speed: false,
            adjtimex: Arc::new(SystemAdjtimex),
            stat_softirq: false,
            filesystem: FilesystemConfig {
                mount_points_exclude: re(filesystem::default_mount_points_exclude(compat)),
                fs_types_exclude: re(filesystem::default_fs_types_exclude(compat)),
                mount_timeout: DEFAULT_MOUNT_TIMEOUT,
                statfs: Arc::new(SystemStatFs),
            },
            netdev_filter: DeviceFilter::new(netdev_exclude, None).expect("built-in pattern"),
            netdev_netlink: true,
            netdev_detailed: false,
            diskstats_filter: DeviceFilter::new(Some(diskstats::default_exclude(compat)), None)
                .expect("built-in pattern"),
            hwmon_chip_filter: DeviceFilter::default(),
            hwmon_sensor_filter: DeviceFilter::default(),
            netstat_fields: re(netstat::default_fields(compat)),
            powersupply_ignored: re(powersupplyclass::DEFAULT_IGNORED_SUPPLIES),
            vmstat_fields: re(vmstat::DEFAULT_FIELDS),
            textfile_directory: compat
                .is_debian12()
                .then(|| PathBuf::from(DEBIAN_TEXTFILE_DIRECTORY)),
            textfile_max_file_size: textfile::DEFAULT_MAX_FILE_SIZE,
            collector_timeout: aiplatform_prometheus::DEFAULT_COLLECTOR_TIMEOUT,
            rapl: rapl::RaplArgs::default(),
            interrupts: interrupts::InterruptsConfig::default(),
            tapestats_ignored: re(tapestats::DEFAULT_IGNORED_DEVICES),
            ipvs_backend_labels: ipvs::BACKEND_LABELS.to_vec(),
            bcache: bcache::BcacheArgs::default(),
        }
    }
}

/// The Debian package's `--collector.textfile.directory` default.
pub const DEBIAN_TEXTFILE_DIRECTORY: &str = "/var/lib/prometheus/node-exporter";
