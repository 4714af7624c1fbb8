//! `hwmon`: every sensor under `/sys/class/hwmon/hwmon*` (and its `device/`), as
//! `node_hwmon_<type>_<element>_<unit>` with `chip` and `sensor` labels, plus
//! `node_hwmon_chip_names` and `node_hwmon_sensor_label`.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::LazyLock;

use aiplatform_metrics::MetricFamily;
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};
use regex::Regex;

use super::NodeCollector;
use crate::config::Config;
use crate::filter::DeviceFilter;
use crate::paths::Paths;
use crate::sysfs;

static FILENAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$").expect("built-in")
});
static INVALID: LazyLock<Regex> = LazyLock::new(|| Regex::new("[^a-z0-9:_]").expect("built-in"));

/// The sensor types node_exporter reads (`freq` only upstream).
const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// Lower-cased, every character outside `[a-z0-9:_]` replaced by `_`, `_` trimmed.
pub fn clean_name(name: &str) -> String {
    let lower = name.to_lowercase();
    INVALID
        .replace_all(&lower, "_")
        .trim_matches('_')
        .to_owned()
}

/// `(type, id, property)` of a sensor file name (`temp1_input` → `("temp", 1, "input")`).
pub fn explode(filename: &str) -> Option<(&str, u64, &str)> {
    let c = FILENAME.captures(filename)?;
    let id = match c.name("id").map(|m| m.as_str()).unwrap_or("") {
        "" => 0,
        s => s.parse().ok()?,
    };
    Some((
        c.name("type").map_or("", |m| m.as_str()),
        id,
        c.name("property").map_or("", |m| m.as_str()),
    ))
}

type SensorData = BTreeMap<String, BTreeMap<String, String>>;

fn collect_sensor_data(dir: &Path, data: &mut SensorData, compat: Compat) -> io::Result<()> {
    for (name, path) in sysfs::read_dir_sorted(dir)? {
        let Some((kind, id, property)) = explode(&name) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&kind) || (compat.is_debian12() && kind == "freq") {
            continue;
        }
        let Ok(value) = raw_attribute(&path) else {
            continue;
        };
        data.entry(format!("{kind}{id}"))
            .or_default()
            .insert(property.to_owned(), value);
    }
    Ok(())
}

/// An attribute with its newlines trimmed (hwmon's own `sysReadFile`, 128 bytes at most),
/// invalid UTF-8 replaced as Go's `strings.ToValidUTF8` does for sensor labels.
fn raw_attribute(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = [0u8; 128];
    let n = f.read(&mut buf)?;
    Ok(crate::attr::to_valid_utf8(&buf[..n])
        .trim_matches('\n')
        .to_owned())
}

/// The chip name: `<bus>_<device>` from the `device` link, else `name`, else the directory.
pub fn chip_name(dir: &Path) -> io::Result<String> {
    if let Ok(dev) = std::fs::canonicalize(dir.join("device")) {
        let name = dev
            .file_name()
            .map(|s| clean_name(&s.to_string_lossy()))
            .unwrap_or_default();
        let kind = dev
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| clean_name(&s.to_string_lossy()))
            .unwrap_or_default();
        if !kind.is_empty() && !name.is_empty() {
            return Ok(format!("{kind}_{name}"));
        }
        if !name.is_empty() {
            return Ok(name);
        }
    }
    if let Ok(raw) = std::fs::read_to_string(dir.join("name")) {
        let clean = clean_name(&raw);
        if !clean.is_empty() {
            return Ok(clean);
        }
    }
    let real = std::fs::canonicalize(dir)?;
    let clean = real
        .file_name()
        .map(|s| clean_name(&s.to_string_lossy()))
        .unwrap_or_default();
    if clean.is_empty() {
        return Err(io::Error::other(format!(
            "Could not derive a monitoring name for {}",
            dir.display()
        )));
    }
    Ok(clean)
}

/// The `hwmon` collector.
#[derive(Debug)]
pub struct HwmonCollector {
    paths: Paths,
    compat: Compat,
    chips: DeviceFilter,
    sensors: DeviceFilter,
}

impl NodeCollector for HwmonCollector {
    const NAME: &'static str = "hwmon";

    fn from_config(c: &Config) -> HwmonCollector {
        HwmonCollector {
            paths: c.paths.clone(),
            compat: c.compat,
            chips: c.hwmon_chip_filter.clone(),
            sensors: c.hwmon_sensor_filter.clone(),
        }
    }
}

const LABELS: &[&str] = &["chip", "sensor"];

impl HwmonCollector {
    fn update(&self, dir: &Path, set: &mut FamilySet) -> io::Result<()> {
        let chip = chip_name(dir)?;
        if self.chips.ignored(&chip) {
            return Ok(());
        }
        let mut data = SensorData::new();
        collect_sensor_data(dir, &mut data, self.compat)?;
        let device = dir.join("device");
        if std::fs::metadata(&device).is_ok() {
            collect_sensor_data(&device, &mut data, self.compat)?;
        }
        if let Ok(raw) = std::fs::read_to_string(dir.join("name")) {
            let human = clean_name(&raw);
            if !human.is_empty() {
                set.gauge(
                    "node_hwmon_chip_names",
                    "Annotation metric for human-readable chip names",
                    &["chip", "chip_name"],
                    &[&chip, &human],
                    1.0,
                );
            }
        }
        for (sensor, props) in &data {
            if self.sensors.ignored(&format!("{chip};{sensor}")) {
                continue;
            }
            let kind = explode(sensor).map_or("", |e| e.0);
            let labels = [chip.as_str(), sensor.as_str()];
            if let Some(text) = props.get("label") {
                set.gauge(
                    "node_hwmon_sensor_label",
                    "Label for given chip and sensor",
                    &["chip", "label", "sensor"],
                    &[&chip, text, sensor],
                    1.0,
                );
            }
            let whole = props.get("").map(String::as_str);
            match kind {
                "beep_enable" => {
                    let on = if whole == Some("1") { 1.0 } else { 0.0 };
                    set.gauge(
                        "node_hwmon_beep_enabled",
                        "Hardware beep enabled",
                        LABELS,
                        &labels,
                        on,
                    );
                    continue;
                }
                "vrm" => {
                    if let Some(v) = whole.and_then(|w| crate::number::float(w).ok()) {
                        set.gauge(
                            "node_hwmon_voltage_regulator_version",
                            "Hardware voltage regulator",
                            LABELS,
                            &labels,
                            v,
                        );
                    }
                    continue;
                }
                "update_interval" => {
                    if let Some(v) = whole.and_then(|w| crate::number::float(w).ok()) {
                        set.gauge(
                            "node_hwmon_update_interval_seconds",
                            "Hardware monitor update interval",
                            LABELS,
                            &labels,
                            v * 0.001,
                        );
                    }
                    continue;
                }
                _ => {}
            }
            let prefix = format!("node_hwmon_{kind}");
            for (element, value) in props {
                if element == "label" {
                    continue;
                }
                let mut name = prefix.clone();
                if element == "input" {
                    if whole.is_some() {
                        name.push_str("_input");
                    }
                } else if !element.is_empty() {
                    name.push('_');
                    name.push_str(&clean_name(element));
                }
                let Ok(v) = crate::number::float(value) else {
                    continue;
                };
                emit(set, kind, element, &name, &labels, props, v);
            }
        }
        Ok(())
    }
}

/// One element's series, named and scaled as node_exporter does.
fn emit(
    set: &mut FamilySet,
    kind: &str,
    element: &str,
    name: &str,
    labels: &[&str; 2],
    props: &BTreeMap<String, String>,
    v: f64,
) {
    let mut g = |suffix: &str, help: String, v: f64| {
        set.gauge(&format!("{name}{suffix}"), &help, LABELS, labels, v);
    };
    if element == "fault" || element == "alarm" {
        return g("", format!("Hardware sensor {element} status ({kind})"), v);
    }
    if element == "beep" {
        return g(
            "_enabled",
            "Hardware monitor sensor has beeping enabled".into(),
            v,
        );
    }
    match kind {
        "in" | "cpu" => g(
            "_volts",
            format!("Hardware monitor for voltage ({element})"),
            v * 0.001,
        ),
        "temp" if element != "type" => {
            let e = if element.is_empty() { "input" } else { element };
            g(
                "_celsius",
                format!("Hardware monitor for temperature ({e})"),
                v * 0.001,
            )
        }
        "curr" => g(
            "_amps",
            format!("Hardware monitor for current ({element})"),
            v * 0.001,
        ),
        "energy" => set.counter(
            &format!("{name}_joule_total"),
            &format!("Hardware monitor for joules used so far ({element})"),
            LABELS,
            labels,
            v / 1_000_000.0,
        ),
        "power" if element == "accuracy" => g(
            "",
            "Hardware monitor power meter accuracy, as a ratio".into(),
            v / 1_000_000.0,
        ),
        "power"
            if matches!(
                element,
                "average_interval" | "average_interval_min" | "average_interval_max"
            ) =>
        {
            g(
                "_seconds",
                format!("Hardware monitor power usage update interval ({element})"),
                v * 0.001,
            )
        }
        "power" => g(
            "_watt",
            format!("Hardware monitor for power usage in watts ({element})"),
            v / 1_000_000.0,
        ),
        "humidity" => g(
            "",
            format!(
                "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"
            ),
            v / 1_000_000.0,
        ),
        "fan" if matches!(element, "input" | "min" | "max" | "target") => g(
            "_rpm",
            format!("Hardware monitor for fan revolutions per minute ({element})"),
            v,
        ),
        "freq" if element == "input" => {
            if let Some(label) = props.get("label") {
                let sensor = clean_name(label);
                set.gauge(
                    &format!("{name}_freq_mhz"),
                    "Hardware monitor for GPU frequency in MHz",
                    LABELS,
                    &[labels[0], &sensor],
                    v / 1_000_000.0,
                );
            }
        }
        _ => g("", format!("Hardware monitor {kind} element {element}"), v),
    }
}

impl BlockingCollector for HwmonCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let class = self.paths.sys("class/hwmon");
        let dirs = sysfs::class_entries(
            &class,
            "hwmon collector metrics are not available for this system",
        )?;
        let mut set = FamilySet::new(Naming::Standard);
        let mut last = None;
        for (_, dir) in dirs {
            // Follows the class symlink; entries that are not directories are skipped.
            if !std::fs::metadata(&dir).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            if let Err(e) = self.update(&dir, &mut set) {
                last = Some(e);
            }
        }
        set.finish(out);
        match last {
            Some(e) => Err(CollectError::new(e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_cleaning() {
        assert_eq!(explode("temp1_input"), Some(("temp", 1, "input")));
        assert_eq!(explode("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(explode("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(explode("in0"), Some(("in", 0, "")));
        assert_eq!(explode("1abc"), None);
        assert_eq!(clean_name("coretemp.0\n"), "coretemp_0");
        assert_eq!(clean_name("Intel-PCH"), "intel_pch");
    }
}
