//! `watchdog`: the hardware watchdogs of `/sys/class/watchdog` (node_exporter 1.7 and
//! later; not part of the `debian12` profile).

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::attr::{self, is_missing, is_permission};
use crate::config::Config;
use crate::error::ReadError;
use crate::number;
use crate::paths::Paths;

/// The numeric attributes, in the order node_exporter emits them: file and HELP.
const NUMBERS: [(&str, &str); 7] = [
    ("bootstatus", "bootstatus"),
    ("fw_version", "fw_version"),
    ("nowayout", "nowayout"),
    ("timeleft", "timeleft_seconds"),
    ("timeout", "timeout_seconds"),
    ("pretimeout", "pretimeout_seconds"),
    ("access_cs0", "access_cs0"),
];

/// The text attributes that label `node_watchdog_info`.
const TEXTS: [&str; 5] = [
    "options",
    "identity",
    "state",
    "status",
    "pretimeout_governor",
];

/// One watchdog: procfs' `WatchdogStats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watchdog {
    /// The device name (`watchdog0`).
    pub name: String,
    /// The numeric attributes present, as in `NUMBERS` (the collector's table) order.
    pub numbers: [Option<i64>; 7],
    /// The text attributes present, as in `TEXTS` (the collector's table) order.
    pub texts: [Option<String>; 5],
}

/// procfs' `WatchdogClass`: every device of `class/watchdog`; a missing attribute is left
/// out, an unreadable or non-numeric one fails the whole read.
pub fn read_watchdogs(paths: &Paths) -> Result<Vec<Watchdog>, ReadError> {
    let dir = paths.sys("class/watchdog");
    let mut out = Vec::new();
    for name in attr::sorted_names(&dir)? {
        let wd_dir = dir.join(&name);
        let mut wd = Watchdog {
            name,
            ..Watchdog::default()
        };
        let read = |file: &str| match attr::sys_read(&wd_dir.join(file)) {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        };
        for (i, (file, _)) in NUMBERS.iter().enumerate() {
            if let Some(v) = read(file)? {
                let n = number::int_base0(&v).map_err(|kind| ReadError::Parse {
                    path: wd_dir.join(file),
                    source: crate::error::ParseError::new("class/watchdog", 1, kind),
                })?;
                wd.numbers[i] = Some(n);
            }
        }
        for (i, file) in TEXTS.iter().enumerate() {
            wd.texts[i] = read(file)?;
        }
        out.push(wd);
    }
    Ok(out)
}

/// The `watchdog` collector.
#[derive(Debug)]
pub struct WatchdogCollector {
    paths: Paths,
}

impl NodeCollector for WatchdogCollector {
    const NAME: &'static str = "watchdog";
    const SINCE_DEBIAN12: bool = true;

    fn from_config(c: &Config) -> WatchdogCollector {
        WatchdogCollector {
            paths: c.paths.clone(),
        }
    }
}

impl BlockingCollector for WatchdogCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let wds = match read_watchdogs(&self.paths) {
            Ok(w) => w,
            Err(e) if is_missing(&e) || is_permission(&e) => {
                tracing::debug!(err = %e, "Could not read watchdog stats");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut numbers: Vec<MetricFamily> = NUMBERS
            .iter()
            .map(|(file, metric)| {
                family(
                    MetricKind::Gauge,
                    &format!("node_watchdog_{metric}"),
                    &format!("Value of /sys/class/watchdog/<watchdog>/{file}"),
                    &["name"],
                )
            })
            .collect();
        // client_golang writes label pairs sorted by name.
        let mut info = family(
            MetricKind::Gauge,
            "node_watchdog_info",
            "Info of /sys/class/watchdog/<watchdog>",
            &[
                "identity",
                "name",
                "options",
                "pretimeout_governor",
                "state",
                "status",
            ],
        );
        for wd in &wds {
            for (f, v) in numbers.iter_mut().zip(wd.numbers) {
                if let Some(v) = v {
                    push(f, &[&wd.name], v as f64);
                }
            }
            let t = |i: usize| wd.texts[i].as_deref().unwrap_or("");
            push(&mut info, &[t(1), &wd.name, t(0), t(4), t(2), t(3)], 1.0);
        }
        numbers.push(info);
        out.extend(numbers.into_iter().filter(|f| !f.is_empty()));
        Ok(())
    }
}
