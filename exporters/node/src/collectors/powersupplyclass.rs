//! `powersupplyclass`: batteries and chargers from `/sys/class/power_supply/<name>/`, as
//! `node_power_supply_<attribute>` gauges and `node_power_supply_info`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};
use regex::Regex;

use super::NodeCollector;
use crate::config::Config;
use crate::paths::Paths;
use crate::sysfs;

/// `--collector.powersupply.ignored-supplies`'s default: nothing ignored.
pub const DEFAULT_IGNORED_SUPPLIES: &str = "^$";

/// Numeric attributes: (file, metric suffix, divisor).
const NUMBERS: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Numeric attributes procfs parses (so a bad value fails the read) but nothing exports.
const PARSED_ONLY: &[&str] = &[
    "charge_avg",
    "current_avg",
    "energy_avg",
    "power_avg",
    "time_to_empty_avg",
    "time_to_full_avg",
    "voltage_avg",
];

/// Text attributes that become `node_power_supply_info` labels.
const TEXTS: &[&str] = &[
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

/// One power supply: its numeric attributes (by file name) and text attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PowerSupply {
    /// The directory name (`BAT0`, `AC`).
    pub name: String,
    /// Numeric attributes present, by file name.
    pub numbers: BTreeMap<String, i64>,
    /// Non-empty text attributes, by file name.
    pub texts: BTreeMap<String, String>,
}

/// An integer as Go's `strconv.ParseInt(s, 0, 64)` reads it (`0x`, `0o`, `0b`, leading-0
/// octal, `_` separators after a prefix).
pub fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, underscores) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_owned(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_owned(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_owned(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned(), true)
    } else {
        (10, lower, false)
    };
    let digits = if underscores {
        digits.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

fn skippable(e: &io::Error, compat: Compat) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL))
        || (!compat.is_debian12() && e.raw_os_error() == Some(libc::ENODEV))
}

/// Reads one supply directory with procfs's rules: regular files only, unreadable ones
/// skipped when the driver says not found / not supported / invalid, a number that does not
/// parse fails.
pub fn read_supply(dir: &Path, compat: Compat) -> io::Result<PowerSupply> {
    let mut ps = PowerSupply::default();
    for entry in std::fs::read_dir(dir).map_err(|e| sysfs::at(dir, e))? {
        let entry = entry.map_err(|e| sysfs::at(dir, e))?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let numeric = NUMBERS.iter().any(|n| n.0 == name) || PARSED_ONLY.contains(&name.as_str());
        let text = TEXTS.contains(&name.as_str());
        if !numeric && !text {
            // procfs reads every regular file; only read errors matter then.
            if let Err(e) = sysfs::attribute(&entry.path())
                && !skippable(&e, compat)
            {
                return Err(e);
            }
            continue;
        }
        let value = match sysfs::text_attribute(&entry.path()) {
            Ok(v) => v,
            Err(e) if skippable(&e, compat) => continue,
            Err(e) => return Err(e),
        };
        if numeric {
            let v = parse_int_base0(&value).ok_or_else(|| {
                sysfs::at(
                    &entry.path(),
                    sysfs::invalid(format!("invalid number {value:?}")),
                )
            })?;
            ps.numbers.insert(name, v);
        } else if !value.is_empty() {
            ps.texts.insert(name, value);
        }
    }
    Ok(ps)
}

/// The `powersupplyclass` collector.
#[derive(Debug)]
pub struct PowerSupplyClassCollector {
    paths: Paths,
    compat: Compat,
    ignored: Regex,
}

impl NodeCollector for PowerSupplyClassCollector {
    const NAME: &'static str = "powersupplyclass";

    fn from_config(c: &Config) -> PowerSupplyClassCollector {
        PowerSupplyClassCollector {
            paths: c.paths.clone(),
            compat: c.compat,
            ignored: c.powersupply_ignored.clone(),
        }
    }
}

impl BlockingCollector for PowerSupplyClassCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = self.paths.sys("class/power_supply");
        let dirs = sysfs::class_entries(&class, "power_supply class not found")?;
        let mut supplies = Vec::with_capacity(dirs.len());
        for (name, dir) in dirs {
            let mut ps = match read_supply(&dir, self.compat) {
                Ok(ps) => ps,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(CollectError::NoData);
                }
                Err(e) => {
                    return Err(CollectError::new(format!(
                        "could not get power_supply class info: error obtaining power_supply class info: {e}"
                    )));
                }
            };
            if self.ignored.is_match(&name) {
                continue;
            }
            ps.name = name;
            supplies.push(ps);
        }
        for &(file, suffix, divisor) in NUMBERS {
            let name = format!("node_power_supply_{suffix}");
            let help = format!("{suffix} value of /sys/class/power_supply/<power_supply>.");
            let mut f = family(MetricKind::Gauge, &name, &help, &["power_supply"]);
            for ps in &supplies {
                if let Some(&v) = ps.numbers.get(file) {
                    push(&mut f, &[&ps.name], v as f64 / divisor);
                }
            }
            if !f.is_empty() {
                out.push(f);
            }
        }
        // One family with the union of the supplies' label names (a supply without an
        // attribute gets an empty value, which Prometheus reads as the label being absent).
        let mut keys: BTreeSet<&str> = BTreeSet::from(["power_supply"]);
        for ps in &supplies {
            keys.extend(ps.texts.keys().map(String::as_str));
        }
        let keys: Vec<&str> = keys.into_iter().collect();
        let mut info = family(
            MetricKind::Gauge,
            "node_power_supply_info",
            "info of /sys/class/power_supply/<power_supply>.",
            &keys,
        );
        for ps in &supplies {
            let values: Vec<&str> = keys
                .iter()
                .map(|k| match *k {
                    "power_supply" => ps.name.as_str(),
                    k => ps.texts.get(k).map_or("", String::as_str),
                })
                .collect();
            push(&mut info, &values, 1.0);
        }
        if !info.is_empty() {
            out.push(info);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_base_zero_integers() {
        assert_eq!(parse_int_base0("42"), Some(42));
        assert_eq!(parse_int_base0("-7"), Some(-7));
        assert_eq!(parse_int_base0("0x1F"), Some(31));
        assert_eq!(parse_int_base0("010"), Some(8));
        assert_eq!(parse_int_base0("0"), Some(0));
        assert_eq!(parse_int_base0("1_000"), None);
        assert_eq!(parse_int_base0("abc"), None);
        assert_eq!(parse_int_base0(""), None);
        assert_eq!(parse_int_base0("99999999999999999999"), None);
    }
}
