//! `--collector.<name>` / `--no-collector.<name>` / `--collector.disable-defaults`, generated
//! from the registered collectors (kingpin's `--[no-]collector.<name>` in node_exporter).
//!
//! The last of `--collector.x` and `--no-collector.x` wins; `--collector.x=false` also
//! disables. `--collector.disable-defaults` turns off every collector not enabled by name.

use clap::builder::BoolishValueParser;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::{CollectorSet, DefaultState};

const DISABLE_DEFAULTS: &str = "collector.disable-defaults";

fn on_id(name: &str) -> String {
    format!("collector.{name}")
}

fn off_id(name: &str) -> String {
    format!("no-collector.{name}")
}

impl CollectorSet {
    /// Adds the collector flags to a clap command (the binary's own flags stay as they are).
    ///
    /// ```
    /// use aiplatform_prometheus::{CollectorSet, DefaultState, ScrapeContext, CollectError};
    /// use aiplatform_metrics::MetricFamily;
    ///
    /// fn noop(_: &ScrapeContext, _: &mut Vec<MetricFamily>) -> Result<(), CollectError> { Ok(()) }
    ///
    /// let mut set = CollectorSet::new("node", "node_exporter").unwrap();
    /// set.register_blocking("cpu", DefaultState::Enabled, noop).unwrap();
    /// set.register_blocking("wifi", DefaultState::Disabled, noop).unwrap();
    /// let cmd = set.augment_command(clap::Command::new("node_exporter"));
    /// let m = cmd.try_get_matches_from(["node_exporter", "--no-collector.cpu", "--collector.wifi"]).unwrap();
    /// set.apply_matches(&m);
    /// assert_eq!(set.enabled().collect::<Vec<_>>(), ["wifi"]);
    /// ```
    pub fn augment_command(&self, cmd: Command) -> Command {
        let mut cmd = cmd.arg(
            Arg::new(DISABLE_DEFAULTS)
                .long(DISABLE_DEFAULTS)
                .action(ArgAction::SetTrue)
                .help("Set all collectors to disabled by default."),
        );
        for (name, default) in self.defaults() {
            let (on, off) = (on_id(name), off_id(name));
            let state = match default {
                DefaultState::Enabled => "enabled",
                DefaultState::Disabled => "disabled",
            };
            cmd = cmd
                .arg(
                    Arg::new(on.clone())
                        .long(on.clone())
                        .num_args(0..=1)
                        .require_equals(true)
                        .default_missing_value("true")
                        .value_name("BOOL")
                        .value_parser(BoolishValueParser::new())
                        .overrides_with(off.clone())
                        .help(format!(
                            "Enable the {name} collector (default: {state}). --{off} disables it."
                        )),
                )
                .arg(
                    Arg::new(off.clone())
                        .long(off)
                        .action(ArgAction::SetTrue)
                        .hide(true)
                        .overrides_with(on),
                );
        }
        cmd
    }

    /// Applies parsed collector flags: explicit flags first, then
    /// `--collector.disable-defaults`, then each collector's default.
    pub fn apply_matches(&mut self, matches: &ArgMatches) {
        let disable_defaults = matches
            .try_get_one::<bool>(DISABLE_DEFAULTS)
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false);
        let states: Vec<(String, bool)> = self
            .defaults()
            .map(|(name, default)| {
                let explicit_on = (matches.value_source(&on_id(name))
                    == Some(ValueSource::CommandLine))
                .then(|| matches.get_one::<bool>(&on_id(name)).copied())
                .flatten();
                let explicit_off = matches.value_source(&off_id(name))
                    == Some(ValueSource::CommandLine)
                    && matches.get_flag(&off_id(name));
                let on = if explicit_off {
                    false
                } else if let Some(v) = explicit_on {
                    v
                } else {
                    !disable_defaults && default == DefaultState::Enabled
                };
                (name.to_owned(), on)
            })
            .collect();
        for (name, on) in states {
            self.set_enabled(&name, on)
                .expect("names come from the set itself");
        }
    }
}

#[cfg(test)]
mod tests {
    use aiplatform_metrics::MetricFamily;

    use super::*;
    use crate::{CollectError, ScrapeContext};

    fn noop(_: &ScrapeContext, _: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        Ok(())
    }

    fn enabled_after(args: &[&str]) -> Result<Vec<String>, clap::Error> {
        let mut set = CollectorSet::new("node", "node_exporter").unwrap();
        set.register_blocking("cpu", DefaultState::Enabled, noop)
            .unwrap();
        set.register_blocking("meminfo", DefaultState::Enabled, noop)
            .unwrap();
        set.register_blocking("wifi", DefaultState::Disabled, noop)
            .unwrap();
        let cmd = set.augment_command(Command::new("node_exporter"));
        let m =
            cmd.try_get_matches_from(std::iter::once("node_exporter").chain(args.iter().copied()))?;
        set.apply_matches(&m);
        Ok(set.enabled().map(str::to_owned).collect())
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(enabled_after(&[]).unwrap(), ["cpu", "meminfo"]);
        assert_eq!(enabled_after(&["--no-collector.cpu"]).unwrap(), ["meminfo"]);
        assert_eq!(
            enabled_after(&["--collector.wifi"]).unwrap(),
            ["cpu", "meminfo", "wifi"]
        );
        assert_eq!(
            enabled_after(&["--collector.cpu=false"]).unwrap(),
            ["meminfo"]
        );
        assert_eq!(
            enabled_after(&["--collector.wifi=true"]).unwrap(),
            ["cpu", "meminfo", "wifi"]
        );
    }

    #[test]
    fn last_flag_wins() {
        assert_eq!(
            enabled_after(&["--collector.cpu", "--no-collector.cpu"]).unwrap(),
            ["meminfo"]
        );
        assert_eq!(
            enabled_after(&["--no-collector.cpu", "--collector.cpu"]).unwrap(),
            ["cpu", "meminfo"]
        );
    }

    #[test]
    fn disable_defaults_keeps_only_named() {
        assert_eq!(
            enabled_after(&["--collector.disable-defaults", "--collector.meminfo"]).unwrap(),
            ["meminfo"]
        );
        assert!(
            enabled_after(&["--collector.disable-defaults"])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn unknown_collector_flag_is_an_error() {
        let err = enabled_after(&["--collector.nope"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(enabled_after(&["--collector.cpu=maybe"]).is_err());
    }
}
