//! `interrupts` (off by default): `node_interrupts_total` per interrupt and CPU from
//! `/proc/interrupts`, filtered by `--collector.interrupts.name-include` / `name-exclude`
//! (matched against `<irq>;<info>;<devices>`) and `--collector.interrupts.include-zeros`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, DefaultState, ScrapeContext};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};

use super::NodeCollector;
use crate::attr::is_missing;
use crate::config::Config;
use crate::error::{ConfigError, ParseError, ParseErrorKind};
use crate::filter::{DeviceFilter, device_filter};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;

/// The `interrupts` collector's flags.
#[derive(Debug, Clone, Args)]
pub struct InterruptsArgs {
    /// Regexp of interrupts name to include (mutually exclusive to
    /// --collector.interrupts.name-exclude).
    #[arg(long = "collector.interrupts.name-include", value_name = "REGEX")]
    pub name_include: Option<String>,
    /// Regexp of interrupts name to exclude (mutually exclusive to
    /// --collector.interrupts.name-include).
    #[arg(long = "collector.interrupts.name-exclude", value_name = "REGEX")]
    pub name_exclude: Option<String>,
    /// Include interrupts that have a zero value
    #[arg(long = "collector.interrupts.include-zeros", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new(), overrides_with = "no_include_zeros")]
    pub include_zeros: bool,
    #[arg(long = "no-collector.interrupts.include-zeros", action = ArgAction::SetTrue,
          hide = true, overrides_with = "include_zeros")]
    #[doc(hidden)]
    pub no_include_zeros: bool,
}

impl Default for InterruptsArgs {
    fn default() -> InterruptsArgs {
        InterruptsArgs {
            name_include: None,
            name_exclude: None,
            include_zeros: true,
            no_include_zeros: false,
        }
    }
}

/// The `interrupts` collector's settings.
#[derive(Debug, Clone)]
pub struct InterruptsConfig {
    /// The name filter.
    pub filter: DeviceFilter,
    /// Whether zero counts are reported.
    pub include_zeros: bool,
}

impl Default for InterruptsConfig {
    fn default() -> InterruptsConfig {
        InterruptsConfig {
            filter: DeviceFilter::default(),
            include_zeros: true,
        }
    }
}

impl InterruptsArgs {
    /// The settings these flags ask for.
    pub fn config(&self) -> Result<InterruptsConfig, ConfigError> {
        // node_exporter's deviceFilter takes both; an empty pattern is no pattern.
        Ok(InterruptsConfig {
            filter: device_filter(
                "collector.interrupts.name-exclude",
                self.name_exclude.as_deref(),
                self.name_include.as_deref(),
            )?,
            include_zeros: self.include_zeros && !self.no_include_zeros,
        })
    }
}

/// One line of `/proc/interrupts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupt<'a> {
    /// The name before the colon (`0`, `NMI`, `LOC`).
    pub name: &'a str,
    /// The controller and trigger of a numbered IRQ, else the description.
    pub info: String,
    /// The devices of a numbered IRQ.
    pub devices: String,
    /// One count per CPU, as written.
    pub values: Vec<&'a str>,
}

/// Parses `/proc/interrupts` as node_exporter 1.10 does: the header gives the CPU count;
/// lines with fewer counts than CPUs (`ERR`, `MIS`) are skipped; a later line with the same
/// name replaces an earlier one.
pub fn parse_interrupts(text: &str) -> Result<Vec<Interrupt<'_>>, ParseError> {
    let mut lines = text.lines();
    let header = lines.next().ok_or_else(|| {
        ParseError::new(
            "interrupts",
            1,
            ParseErrorKind::malformed("header", "interrupts empty"),
        )
    })?;
    let cpus = header.split_ascii_whitespace().count();
    let mut out: Vec<Interrupt<'_>> = Vec::new();
    for line in lines {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
        if parts.len() < cpus + 1 {
            continue;
        }
        let name = name.trim_start_matches(' ');
        let (info, devices) = if name.parse::<i64>().is_ok() {
            (parts[cpus].to_owned(), parts[cpus + 1..].join(" "))
        } else {
            (parts[cpus..].join(" "), String::new())
        };
        let irq = Interrupt {
            name,
            info,
            devices,
            values: parts[..cpus].to_vec(),
        };
        match out.iter_mut().find(|i| i.name == name) {
            Some(slot) => *slot = irq,
            None => out.push(irq),
        }
    }
    Ok(out)
}

/// The `interrupts` collector.
#[derive(Debug)]
pub struct InterruptsCollector {
    paths: Paths,
    config: InterruptsConfig,
    buf: TextBuf,
}

impl NodeCollector for InterruptsCollector {
    const NAME: &'static str = "interrupts";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    fn from_config(c: &Config) -> InterruptsCollector {
        InterruptsCollector {
            paths: c.paths.clone(),
            config: c.interrupts.clone(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for InterruptsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut f = family(
            MetricKind::Counter,
            "node_interrupts_total",
            "Interrupt details.",
            &["cpu", "devices", "info", "type"],
        );
        let result = self.buf.with(&self.paths.proc("interrupts"), |text| {
            for irq in parse_interrupts(text)? {
                let filter_name = format!("{};{};{}", irq.name, irq.info, irq.devices);
                if self.config.filter.ignored(&filter_name) {
                    continue;
                }
                for (cpu, value) in irq.values.iter().enumerate() {
                    let v =
                        number::float(value).map_err(|k| ParseError::new("interrupts", 0, k))?;
                    if !self.config.include_zeros && v == 0.0 {
                        continue;
                    }
                    let cpu = cpu.to_string();
                    push(&mut f, &[&cpu, &irq.devices, &irq.info, irq.name], v);
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(e) if is_missing(&e) => return Err(CollectError::NoData),
            Err(e) => return Err(CollectError::new(e)),
        }
        if !f.is_empty() {
            out.push(f);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbered_and_named_lines() {
        let text = "           CPU0       CPU1\n  0:         44          0   IO-APIC   2-edge      timer\n  8:          0          0   IO-APIC   8-edge      rtc0\nNMI:          3          4   Non-maskable interrupts\nERR:          0\n";
        let v = parse_interrupts(text).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v[0].name, v[0].info.as_str(), v[0].devices.as_str()),
            ("0", "IO-APIC", "2-edge timer")
        );
        assert_eq!(v[2].info, "Non-maskable interrupts");
        assert_eq!(v[2].values, ["3", "4"]);
        assert!(parse_interrupts("").is_err());
    }
}
