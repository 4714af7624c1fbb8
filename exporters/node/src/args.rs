//! The command line: the shared `--web.*` / `--log.*` flags and node_exporter's own
//! (`--path.*`, `--collector.<name>.<option>`) plus `--compat`.
//!
//! Regex flags whose default depends on `--compat` are optional here; [`NodeArgs::config`]
//! fills in the profile's default. The older flag names node_exporter 1.5.0 still accepts
//! (`--collector.filesystem.ignored-mount-points`, `ignored-fs-types`,
//! `--collector.diskstats.ignored-devices`, `--collector.netdev.device-whitelist` /
//! `device-blacklist`) are accepted, hidden, and refused together with their replacement.

use std::path::PathBuf;
use std::time::Duration;

use aiplatform_prometheus::{
    BuildInfo, Compat, ExporterCli, WebArgs, WebDefaults, parse_go_duration,
};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser};

use crate::collectors::cpu::CpuInfoConfig;
use crate::collectors::{bcache, diskstats, interrupts, ipvs, netdev, netstat, rapl, tapestats};
use crate::config::{Config, DEBIAN_TEXTFILE_DIRECTORY};
use crate::error::ConfigError;
use crate::filter::{device_filter, regex_flag};
use crate::paths::Paths;

/// Every flag of the binary.
#[derive(Debug, Clone, Parser)]
#[command(
    about = "Prometheus exporter for hardware and OS metrics exposed by *NIX kernels (node_exporter compatible).\n\nGo runtime metrics (go_*) are not exported: this is not a Go program. process_* and promhttp_* are."
)]
pub struct Cli {
    /// The shared `--web.*` and `--log.*` flags.
    #[command(flatten)]
    pub web: WebArgs,
    /// node_exporter's own flags.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// The command line of `aiplatform-node-exporter`: node_exporter's port, 9100.
pub fn exporter_cli(build: BuildInfo) -> ExporterCli {
    ExporterCli::new(build, WebDefaults::new(":9100"))
}

/// The node-specific flags.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Which node_exporter to reproduce: `upstream` (current names and labels) or `debian12`
    /// (node_exporter 1.5.0 as Debian 12's prometheus-node-exporter package ships it,
    /// including the package's flag defaults).
    #[arg(
        long = "compat",
        value_enum,
        default_value = "upstream",
        value_name = "PROFILE"
    )]
    pub compat: Compat,

    /// procfs mountpoint.
    #[arg(long = "path.procfs", default_value = "/proc", value_name = "PATH")]
    pub procfs: PathBuf,
    /// sysfs mountpoint.
    #[arg(long = "path.sysfs", default_value = "/sys", value_name = "PATH")]
    pub sysfs: PathBuf,
    /// rootfs mountpoint.
    #[arg(long = "path.rootfs", default_value = "/", value_name = "PATH")]
    pub rootfs: PathBuf,
    /// udev data path.
    #[arg(
        long = "path.udev.data",
        default_value = "/run/udev/data",
        value_name = "PATH"
    )]
    pub udev_data: PathBuf,

    /// Enables metric node_cpu_guest_seconds_total.
    #[arg(long = "collector.cpu.guest", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new(), overrides_with = "no_cpu_guest")]
    pub cpu_guest: bool,
    #[arg(long = "no-collector.cpu.guest", action = ArgAction::SetTrue, hide = true,
          overrides_with = "cpu_guest")]
    #[doc(hidden)]
    pub no_cpu_guest: bool,

    /// Enables metric cpu_info.
    #[arg(long = "collector.cpu.info", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new())]
    pub cpu_info: bool,
    /// Filter the `flags` field in cpuInfo with a value that must be a regular expression.
    #[arg(long = "collector.cpu.info.flags-include", value_name = "REGEX")]
    pub cpu_flags_include: Option<String>,
    /// Filter the `bugs` field in cpuInfo with a value that must be a regular expression.
    #[arg(long = "collector.cpu.info.bugs-include", value_name = "REGEX")]
    pub cpu_bugs_include: Option<String>,

    /// Regexp of arp devices to include (mutually exclusive to device-exclude).
    #[arg(long = "collector.arp.device-include", value_name = "REGEX")]
    pub arp_include: Option<String>,
    /// Regexp of arp devices to exclude (mutually exclusive to device-include).
    #[arg(long = "collector.arp.device-exclude", value_name = "REGEX")]
    pub arp_exclude: Option<String>,
    /// Use netlink to gather stats instead of /proc/net/arp. [both give the same counts;
    /// /proc/net/arp is read]
    #[arg(long = "collector.arp.netlink", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new(), overrides_with = "no_arp_netlink")]
    pub arp_netlink: bool,
    #[arg(long = "no-collector.arp.netlink", action = ArgAction::SetTrue, hide = true,
          overrides_with = "arp_netlink")]
    #[doc(hidden)]
    pub no_arp_netlink: bool,

    /// Regexp of net devices to ignore for netclass collector.
    #[arg(long = "collector.netclass.ignored-devices", value_name = "REGEX",
          default_value = crate::collectors::netclass::DEFAULT_IGNORED_DEVICES)]
    pub netclass_ignored_devices: String,
    /// Ignore devices where the speed is invalid. This will be the default behavior in 2.x.
    #[arg(long = "collector.netclass.ignore-invalid-speed", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub netclass_ignore_invalid_speed: bool,
    /// Use netlink to gather stats instead of /proc/net/dev. [accepted; sysfs is read]
    #[arg(long = "collector.netclass.netlink", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new())]
    pub netclass_netlink: bool,

    /// Export softirq calls per vector.
    #[arg(long = "collector.stat.softirq", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new())]
    pub stat_softirq: bool,

    /// Regexp of mount points to exclude for filesystem collector. [default: upstream
    /// `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`;
    /// debian12 `^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`]
    #[arg(
        long = "collector.filesystem.mount-points-exclude",
        value_name = "REGEX"
    )]
    pub mount_points_exclude: Option<String>,
    #[arg(long = "collector.filesystem.ignored-mount-points", hide = true)]
    #[doc(hidden)]
    pub ignored_mount_points: Option<String>,
    /// Regexp of filesystem types to exclude for filesystem collector. [default: node_exporter's
    /// list; upstream adds erofs]
    #[arg(long = "collector.filesystem.fs-types-exclude", value_name = "REGEX")]
    pub fs_types_exclude: Option<String>,
    #[arg(long = "collector.filesystem.ignored-fs-types", hide = true)]
    #[doc(hidden)]
    pub ignored_fs_types: Option<String>,
    /// How long to wait for a mount to respond before marking it as stale.
    #[arg(long = "collector.filesystem.mount-timeout", default_value = "5s",
          value_parser = parse_go_duration, value_name = "DURATION", hide = true)]
    pub mount_timeout: Duration,

    /// Regexp of net devices to include (mutually exclusive to device-exclude).
    #[arg(long = "collector.netdev.device-include", value_name = "REGEX")]
    pub netdev_include: Option<String>,
    #[arg(long = "collector.netdev.device-whitelist", hide = true)]
    #[doc(hidden)]
    pub netdev_whitelist: Option<String>,
    /// Regexp of net devices to exclude (mutually exclusive to device-include). [default:
    /// upstream none; debian12 `^lo$`]
    #[arg(long = "collector.netdev.device-exclude", value_name = "REGEX")]
    pub netdev_exclude: Option<String>,
    #[arg(long = "collector.netdev.device-blacklist", hide = true)]
    #[doc(hidden)]
    pub netdev_blacklist: Option<String>,
    /// Use netlink to gather stats instead of /proc/net/dev.
    #[arg(long = "collector.netdev.netlink", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new(), overrides_with = "no_netdev_netlink")]
    pub netdev_netlink: bool,
    #[arg(long = "no-collector.netdev.netlink", action = ArgAction::SetTrue, hide = true,
          overrides_with = "netdev_netlink")]
    #[doc(hidden)]
    pub no_netdev_netlink: bool,
    /// Use (incompatible) metric names that provide more detailed stats on Linux.
    #[arg(long = "collector.netdev.enable-detailed-metrics", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub netdev_detailed: bool,

    /// Regexp of diskstats devices to exclude. [default: upstream
    /// `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`; debian12 without `z?`]
    #[arg(long = "collector.diskstats.device-exclude", value_name = "REGEX")]
    pub diskstats_exclude: Option<String>,
    #[arg(long = "collector.diskstats.ignored-devices", hide = true)]
    #[doc(hidden)]
    pub diskstats_ignored: Option<String>,
    /// Regexp of diskstats devices to include.
    #[arg(long = "collector.diskstats.device-include", value_name = "REGEX")]
    pub diskstats_include: Option<String>,

    /// Regexp of hwmon chip to include (mutually exclusive to device-exclude).
    #[arg(long = "collector.hwmon.chip-include", value_name = "REGEX")]
    pub hwmon_chip_include: Option<String>,
    /// Regexp of hwmon chip to exclude (mutually exclusive to device-include).
    #[arg(long = "collector.hwmon.chip-exclude", value_name = "REGEX")]
    pub hwmon_chip_exclude: Option<String>,
    /// Regexp of hwmon sensor to include (mutually exclusive to sensor-exclude).
    #[arg(long = "collector.hwmon.sensor-include", value_name = "REGEX")]
    pub hwmon_sensor_include: Option<String>,
    /// Regexp of hwmon sensor to exclude (mutually exclusive to sensor-include).
    #[arg(long = "collector.hwmon.sensor-exclude", value_name = "REGEX")]
    pub hwmon_sensor_exclude: Option<String>,

    /// Regexp of fields to return for netstat collector. [default: node_exporter's; upstream
    /// adds TCPOFOQueue and TCPRcvQDrop]
    #[arg(long = "collector.netstat.fields", value_name = "REGEX")]
    pub netstat_fields: Option<String>,
    /// Regexp of power supplies to ignore for powersupplyclass collector.
    #[arg(long = "collector.powersupply.ignored-supplies",
          default_value = crate::collectors::powersupplyclass::DEFAULT_IGNORED_SUPPLIES,
          value_name = "REGEX")]
    pub powersupply_ignored: String,
    /// Regexp of fields to return for vmstat collector.
    #[arg(long = "collector.vmstat.fields", default_value = crate::collectors::vmstat::DEFAULT_FIELDS,
          value_name = "REGEX")]
    pub vmstat_fields: String,

    /// Directory to read text files with metrics from. [default: upstream none; debian12
    /// /var/lib/prometheus/node-exporter]
    #[arg(long = "collector.textfile.directory", value_name = "DIR")]
    pub textfile_directory: Option<PathBuf>,
    /// Textfiles larger than this are skipped (and set node_textfile_scrape_error): bytes, or
    /// with a unit (KiB, MiB, GiB, kB, MB, GB). Not in node_exporter.
    #[arg(long = "collector.textfile.max-file-size", value_name = "SIZE",
          default_value = "8MiB", value_parser = parse_size)]
    pub textfile_max_file_size: u64,

    /// The `rapl` collector's flags.
    #[command(flatten)]
    pub rapl: rapl::RaplArgs,
    /// The `interrupts` collector's flags.
    #[command(flatten)]
    pub interrupts: interrupts::InterruptsArgs,
    /// The `tapestats` collector's flags.
    #[command(flatten)]
    pub tapestats: tapestats::TapestatsArgs,
    /// The `ipvs` collector's flags.
    #[command(flatten)]
    pub ipvs: ipvs::IpvsArgs,
    /// The `bcache` collector's flags.
    #[command(flatten)]
    pub bcache: bcache::BcacheArgs,
}

/// A size in bytes: `4096`, `512KiB`, `8MiB`, `1GiB`, `10MB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a size (bytes, or with KiB, MiB, GiB, kB, MB, GB)")
    })?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (KiB, MiB, GiB, kB, MB, GB)"
            ));
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// A new-name / deprecated-name pair: the new one, or the old one with a warning; both is an
/// error.
fn either(
    new: &Option<String>,
    new_flag: &'static str,
    old: &Option<String>,
    old_flag: &'static str,
) -> Result<Option<String>, ConfigError> {
    match (new, old) {
        (Some(_), Some(o)) if !o.is_empty() => Err(ConfigError::Exclusive(old_flag, new_flag)),
        (None, Some(o)) if !o.is_empty() => {
            tracing::warn!(
                "--{old_flag} is DEPRECATED and will be removed in 2.0.0, use --{new_flag}"
            );
            Ok(Some(o.clone()))
        }
        _ => Ok(new.clone()),
    }
}

impl NodeArgs {
    /// The filesystem roots.
    pub fn paths(&self) -> Paths {
        Paths::new(&self.procfs, &self.sysfs, &self.rootfs, &self.udev_data)
    }

    /// The collectors' configuration: the flags, and the profile's defaults where a flag was
    /// not given.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let compat = self.compat;
        let mut cfg = Config::defaults(self.paths(), compat);
        cfg.cpu_guest = self.cpu_guest && !self.no_cpu_guest;
        cfg.stat_softirq = self.stat_softirq;
        let include = |flag, p: &Option<String>| {
            p.as_deref()
                .filter(|p| !p.is_empty())
                .map(|p| regex_flag(flag, p))
                .transpose()
        };
        cfg.cpu_info = CpuInfoConfig {
            flags_include: include("collector.cpu.info.flags-include", &self.cpu_flags_include)?,
            bugs_include: include("collector.cpu.info.bugs-include", &self.cpu_bugs_include)?,
            enabled: self.cpu_info,
        };
        if !cfg.cpu_info.enabled
            && (cfg.cpu_info.flags_include.is_some() || cfg.cpu_info.bugs_include.is_some())
        {
            cfg.cpu_info.enabled = true;
            tracing::info!(
                "--collector.cpu.info has been set to `true` because you set the following flags, like --collector.cpu.info.flags-include and --collector.cpu.info.bugs-include"
            );
        }
        cfg.arp_filter = device_filter(
            "collector.arp.device-exclude",
            self.arp_exclude.as_deref(),
            self.arp_include.as_deref(),
        )?;
        cfg.netclass_ignored_devices = regex_flag(
            "collector.netclass.ignored-devices",
            &self.netclass_ignored_devices,
        )?;
        cfg.netclass_ignore_invalid_speed = self.netclass_ignore_invalid_speed;

        let mp = either(
            &self.mount_points_exclude,
            "collector.filesystem.mount-points-exclude",
            &self.ignored_mount_points,
            "collector.filesystem.ignored-mount-points",
        )?;
        if let Some(p) = mp {
            cfg.filesystem.mount_points_exclude =
                regex_flag("collector.filesystem.mount-points-exclude", &p)?;
        }
        let fs = either(
            &self.fs_types_exclude,
            "collector.filesystem.fs-types-exclude",
            &self.ignored_fs_types,
            "collector.filesystem.ignored-fs-types",
        )?;
        if let Some(p) = fs {
            cfg.filesystem.fs_types_exclude =
                regex_flag("collector.filesystem.fs-types-exclude", &p)?;
        }
        cfg.filesystem.mount_timeout = self.mount_timeout;

        let include = either(
            &self.netdev_include,
            "collector.netdev.device-include",
            &self.netdev_whitelist,
            "collector.netdev.device-whitelist",
        )?;
        let exclude = either(
            &self.netdev_exclude,
            "collector.netdev.device-exclude",
            &self.netdev_blacklist,
            "collector.netdev.device-blacklist",
        )?;
        let exclude = match (&exclude, &include) {
            (Some(e), Some(i)) if !e.is_empty() && !i.is_empty() => {
                return Err(ConfigError::Exclusive(
                    "collector.netdev.device-exclude",
                    "collector.netdev.device-include",
                ));
            }
            // An explicit include replaces the profile's default exclude.
            (None, Some(_)) => None,
            (None, None) => compat
                .is_debian12()
                .then(|| netdev::DEBIAN_DEVICE_EXCLUDE.to_owned()),
            (e, _) => e.clone(),
        };
        cfg.netdev_filter = device_filter(
            "collector.netdev.device-exclude",
            exclude.as_deref(),
            include.as_deref(),
        )?;
        cfg.netdev_netlink = self.netdev_netlink && !self.no_netdev_netlink;
        cfg.netdev_detailed = self.netdev_detailed;

        let dexclude = either(
            &self.diskstats_exclude,
            "collector.diskstats.device-exclude",
            &self.diskstats_ignored,
            "collector.diskstats.ignored-devices",
        )?;
        let dexclude = match (&dexclude, &self.diskstats_include) {
            (Some(e), Some(i)) if !e.is_empty() && !i.is_empty() => {
                return Err(ConfigError::Exclusive(
                    "collector.diskstats.device-exclude",
                    "collector.diskstats.device-include",
                ));
            }
            (None, Some(_)) => None,
            (None, None) => Some(diskstats::default_exclude(compat).to_owned()),
            (e, _) => e.clone(),
        };
        cfg.diskstats_filter = device_filter(
            "collector.diskstats.device-exclude",
            dexclude.as_deref(),
            self.diskstats_include.as_deref(),
        )?;

        cfg.hwmon_chip_filter = device_filter(
            "collector.hwmon.chip-exclude",
            self.hwmon_chip_exclude.as_deref(),
            self.hwmon_chip_include.as_deref(),
        )?;
        cfg.hwmon_sensor_filter = device_filter(
            "collector.hwmon.sensor-exclude",
            self.hwmon_sensor_exclude.as_deref(),
            self.hwmon_sensor_include.as_deref(),
        )?;

        if let Some(p) = &self.netstat_fields {
            cfg.netstat_fields = regex_flag("collector.netstat.fields", p)?;
        } else {
            cfg.netstat_fields =
                regex_flag("collector.netstat.fields", netstat::default_fields(compat))?;
        }
        cfg.vmstat_fields = regex_flag("collector.vmstat.fields", &self.vmstat_fields)?;
        cfg.powersupply_ignored = regex_flag(
            "collector.powersupply.ignored-supplies",
            &self.powersupply_ignored,
        )?;
        cfg.textfile_directory = match &self.textfile_directory {
            Some(d) => Some(d.clone()).filter(|d| !d.as_os_str().is_empty()),
            None => compat
                .is_debian12()
                .then(|| PathBuf::from(DEBIAN_TEXTFILE_DIRECTORY)),
        };
        cfg.textfile_max_file_size = self.textfile_max_file_size;
        cfg.rapl = self.rapl.clone();
        cfg.interrupts = self.interrupts.config()?;
        cfg.tapestats_ignored = self.tapestats.config()?;
        cfg.ipvs_backend_labels = ipvs::parse_backend_labels(&self.ipvs.backend_labels)?;
        cfg.bcache = self.bcache.clone();
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert!(parse_size("8 parsecs").is_err() && parse_size("MiB").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    fn config(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.node.config().map_err(|e| e.to_string())
    }

    #[test]
    fn profile_defaults() {
        let up = config(&[]).unwrap();
        assert!(!up.netdev_filter.ignored("lo"));
        assert!(up.diskstats_filter.ignored("zram0"));
        assert!(up.textfile_directory.is_none());
        let deb = config(&["--compat=debian12"]).unwrap();
        assert!(deb.netdev_filter.ignored("lo"));
        assert!(!deb.diskstats_filter.ignored("zram0"));
        assert!(deb.filesystem.mount_points_exclude.is_match("/run"));
        assert_eq!(
            deb.textfile_directory.as_deref(),
            Some(std::path::Path::new(DEBIAN_TEXTFILE_DIRECTORY))
        );
    }

    #[test]
    fn include_replaces_default_exclude_and_both_is_an_error() {
        let c = config(&[
            "--compat=debian12",
            "--collector.netdev.device-include=^lo$",
        ])
        .unwrap();
        assert!(!c.netdev_filter.ignored("lo") && c.netdev_filter.ignored("eth0"));
        let c = config(&["--collector.diskstats.device-include=^loop"]).unwrap();
        assert!(!c.diskstats_filter.ignored("loop0"));
        assert!(
            config(&[
                "--collector.netdev.device-include=a",
                "--collector.netdev.device-exclude=b"
            ])
            .is_err()
        );
        assert!(
            config(&[
                "--collector.diskstats.device-include=a",
                "--collector.diskstats.device-exclude=b"
            ])
            .is_err()
        );
    }

    #[test]
    fn hwmon_and_power_supply_filters() {
        let c = config(&[
            "--collector.hwmon.chip-exclude=^acpitz",
            "--collector.hwmon.sensor-include=;temp[12]$",
        ])
        .unwrap();
        assert!(c.hwmon_chip_filter.ignored("acpitz") && !c.hwmon_chip_filter.ignored("nct6779"));
        assert!(!c.hwmon_sensor_filter.ignored("nct6779;temp1"));
        assert!(c.hwmon_sensor_filter.ignored("nct6779;fan1"));
        let d = config(&[]).unwrap();
        assert!(!d.hwmon_chip_filter.ignored("acpitz") && !d.powersupply_ignored.is_match("BAT0"));
        let c = config(&["--collector.powersupply.ignored-supplies=^AC$"]).unwrap();
        assert!(c.powersupply_ignored.is_match("AC") && !c.powersupply_ignored.is_match("BAT0"));
        assert!(config(&["--collector.hwmon.sensor-exclude=("]).is_err());
    }

    #[test]
    fn deprecated_names_and_bools() {
        let c = config(&["--collector.filesystem.ignored-mount-points=^/x"]).unwrap();
        assert!(c.filesystem.mount_points_exclude.is_match("/x"));
        assert!(
            config(&[
                "--collector.filesystem.ignored-mount-points=^/x",
                "--collector.filesystem.mount-points-exclude=^/y"
            ])
            .is_err()
        );
        assert!(!config(&["--no-collector.cpu.guest"]).unwrap().cpu_guest);
        assert!(
            !config(&["--collector.netdev.netlink=false"])
                .unwrap()
                .netdev_netlink
        );
        assert!(config(&["--collector.vmstat.fields=("]).is_err());
        assert!(!config(&[]).unwrap().cpu_info.enabled);
        let c = config(&["--collector.cpu.info.flags-include=^(aes|avx)"]).unwrap();
        assert!(c.cpu_info.enabled && c.cpu_info.bugs_include.is_none());
        assert!(config(&["--collector.cpu.info.bugs-include=("]).is_err());
        let c = config(&["--collector.arp.device-exclude=^lo$"]).unwrap();
        assert!(c.arp_filter.ignored("lo") && !c.arp_filter.ignored("eth0"));
        let c = config(&["--collector.netclass.ignored-devices=^veth"]).unwrap();
        assert!(c.netclass_ignored_devices.is_match("veth0"));
        assert!(
            config(&["--collector.netclass.ignore-invalid-speed"])
                .unwrap()
                .netclass_ignore_invalid_speed
        );
    }

    #[test]
    fn optional_source_collector_flags() {
        let c = config(&[]).unwrap();
        assert_eq!(c.ipvs_backend_labels, ipvs::BACKEND_LABELS);
        assert!(c.interrupts.include_zeros && !c.rapl.enable_zone_label);
        assert!(!c.bcache.priority_stats && c.tapestats_ignored.is_match(""));
        let c = config(&[
            "--collector.ipvs.backend-labels=proto,local_port",
            "--no-collector.interrupts.include-zeros",
            "--collector.interrupts.name-exclude=^NMI;",
            "--collector.rapl.enable-zone-label",
            "--collector.bcache.priorityStats",
            "--collector.tapestats.ignored-devices=^st1$",
        ])
        .unwrap();
        assert_eq!(c.ipvs_backend_labels, ["local_port", "proto"]);
        assert!(!c.interrupts.include_zeros && c.interrupts.filter.ignored("NMI;x;"));
        assert!(c.rapl.enable_zone_label && c.bcache.priority_stats);
        assert!(c.tapestats_ignored.is_match("st1") && !c.tapestats_ignored.is_match("st0"));
        assert!(config(&["--collector.ipvs.backend-labels=proto,bogus"]).is_err());
        assert!(config(&["--collector.tapestats.ignored-devices=("]).is_err());
    }
}
