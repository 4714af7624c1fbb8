//! The flags every exporter binary shares, with the Go exporters' names.
//!
//! [`WebArgs`] is a `clap::Args` struct a binary flattens into its own parser; the binary
//! sets its default listen address and environment variable names with [`WebDefaults`]
//! (usually through [`ExporterCli`](crate::ExporterCli)). Values may be given as
//! `--flag=value` or `--flag value`; boolean flags also take `--flag=false` and kingpin's
//! `--no-flag`.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Command};

use crate::{LogFormat, LogLevel};

/// `--web.*` and `--log.*`.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Addresses on which to expose metrics and web interface. Repeatable for multiple
    /// addresses. `:PORT` listens on every interface.
    #[arg(
        id = "web.listen-address",
        long = "web.listen-address",
        value_name = "ADDRESS",
        action = ArgAction::Append
    )]
    pub listen_addresses: Vec<String>,

    /// Path under which to expose metrics.
    #[arg(
        id = "web.telemetry-path",
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Path to configuration file that can enable TLS or authentication (exporter-toolkit
    /// format).
    #[arg(id = "web.config.file", long = "web.config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Maximum number of parallel scrape requests. Use 0 to disable.
    #[arg(
        id = "web.max-requests",
        long = "web.max-requests",
        value_name = "N",
        default_value_t = crate::DEFAULT_MAX_REQUESTS
    )]
    pub max_requests: usize,

    /// Exclude metrics about the exporter itself (promhttp_*, process_*).
    #[arg(
        id = "web.disable-exporter-metrics",
        long = "web.disable-exporter-metrics",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_name = "BOOL",
        value_parser = BoolishValueParser::new(),
        overrides_with = "no-web.disable-exporter-metrics"
    )]
    pub disable_exporter_metrics: bool,

    /// kingpin's negation of `--web.disable-exporter-metrics`.
    #[arg(
        id = "no-web.disable-exporter-metrics",
        long = "no-web.disable-exporter-metrics",
        action = ArgAction::SetTrue,
        hide = true,
        overrides_with = "web.disable-exporter-metrics"
    )]
    pub no_disable_exporter_metrics: bool,

    /// Only log messages with the given severity or above.
    #[arg(
        id = "log.level",
        long = "log.level",
        value_enum,
        value_name = "LEVEL",
        default_value = "info"
    )]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(
        id = "log.format",
        long = "log.format",
        value_enum,
        value_name = "FORMAT",
        default_value = "logfmt"
    )]
    pub log_format: LogFormat,
}

impl WebArgs {
    /// Installs logging as `--log.level` and `--log.format` ask ([`crate::init_logging`]).
    /// Keep the guard in `main`.
    pub fn init_logging(&self) -> Result<aiplatform_logging::LogGuard, aiplatform_logging::Error> {
        crate::init_logging(self.log_level, self.log_format)
    }
}

/// One of the shared flags, for [`WebDefaults::env`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebFlag {
    /// `--web.listen-address`.
    ListenAddress,
    /// `--web.telemetry-path`.
    TelemetryPath,
    /// `--web.config.file`.
    ConfigFile,
    /// `--web.max-requests`.
    MaxRequests,
    /// `--web.disable-exporter-metrics`.
    DisableExporterMetrics,
    /// `--log.level`.
    LogLevel,
    /// `--log.format`.
    LogFormat,
}

impl WebFlag {
    /// The flag's name (and clap id), without dashes.
    pub fn name(self) -> &'static str {
        match self {
            WebFlag::ListenAddress => "web.listen-address",
            WebFlag::TelemetryPath => "web.telemetry-path",
            WebFlag::ConfigFile => "web.config.file",
            WebFlag::MaxRequests => "web.max-requests",
            WebFlag::DisableExporterMetrics => "web.disable-exporter-metrics",
            WebFlag::LogLevel => "log.level",
            WebFlag::LogFormat => "log.format",
        }
    }
}

/// What differs between binaries in the shared flags: the default listen address and the
/// environment variables that may set them.
///
/// ```
/// use aiplatform_prometheus::{WebDefaults, WebFlag};
///
/// // postgres_exporter 0.11.1
/// let postgres = WebDefaults::new(":9187")
///     .env(WebFlag::ListenAddress, "PG_EXPORTER_WEB_LISTEN_ADDRESS")
///     .env(WebFlag::TelemetryPath, "PG_EXPORTER_WEB_TELEMETRY_PATH");
/// ```
#[derive(Debug, Clone)]
pub struct WebDefaults {
    listen_address: String,
    env: Vec<(WebFlag, String)>,
}

impl WebDefaults {
    /// Defaults with this listen address (`:9100`, `:9187`, `:9121`).
    pub fn new(listen_address: impl Into<String>) -> WebDefaults {
        WebDefaults {
            listen_address: listen_address.into(),
            env: Vec::new(),
        }
    }

    /// Lets the environment variable `var` set `flag` (the command line wins).
    pub fn env(mut self, flag: WebFlag, var: impl Into<String>) -> WebDefaults {
        self.env.push((flag, var.into()));
        self
    }

    /// Sets the defaults on a command that flattens [`WebArgs`].
    ///
    /// # Panics
    ///
    /// If the command does not contain [`WebArgs`].
    pub fn apply(&self, cmd: Command) -> Command {
        let listen = self.listen_address.clone();
        let mut cmd = cmd.mut_arg(WebFlag::ListenAddress.name(), |a| a.default_value(listen));
        for (flag, var) in &self.env {
            let var = var.clone();
            cmd = cmd.mut_arg(flag.name(), |a| a.env(var));
        }
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        web: WebArgs,
    }

    fn parse(defaults: &WebDefaults, args: &[&str]) -> Result<WebArgs, clap::Error> {
        let cmd = defaults.apply(Cli::command());
        let m =
            cmd.try_get_matches_from(std::iter::once("exporter").chain(args.iter().copied()))?;
        Ok(Cli::from_arg_matches(&m)?.web)
    }

    #[test]
    fn defaults() {
        let w = parse(&WebDefaults::new(":9100"), &[]).unwrap();
        assert_eq!(w.listen_addresses, [":9100"]);
        assert_eq!(w.telemetry_path, "/metrics");
        assert_eq!(w.config_file, None);
        assert_eq!(w.max_requests, 40);
        assert!(!w.disable_exporter_metrics);
        assert_eq!(w.log_level, LogLevel::Info);
        assert_eq!(w.log_format, LogFormat::Logfmt);
    }

    #[test]
    fn both_value_forms_and_repeats() {
        let w = parse(
            &WebDefaults::new(":9100"),
            &[
                "--web.listen-address=:1",
                "--web.listen-address",
                "127.0.0.1:2",
                "--web.telemetry-path",
                "/m",
                "--web.config.file=/etc/web.yml",
                "--web.max-requests=0",
                "--log.level",
                "debug",
                "--log.format=json",
                "--web.disable-exporter-metrics",
            ],
        )
        .unwrap();
        assert_eq!(w.listen_addresses, [":1", "127.0.0.1:2"]);
        assert_eq!(w.telemetry_path, "/m");
        assert_eq!(w.config_file, Some(PathBuf::from("/etc/web.yml")));
        assert_eq!(w.max_requests, 0);
        assert!(w.disable_exporter_metrics);
        assert_eq!(w.log_level, LogLevel::Debug);
        assert_eq!(w.log_format, LogFormat::Json);
    }

    #[test]
    fn boolean_forms() {
        let d = WebDefaults::new(":9100");
        let on = |args: &[&str]| parse(&d, args).unwrap().disable_exporter_metrics;
        assert!(on(&["--web.disable-exporter-metrics=true"]));
        assert!(!on(&["--web.disable-exporter-metrics=false"]));
        assert!(!on(&[
            "--web.disable-exporter-metrics",
            "--no-web.disable-exporter-metrics"
        ]));
        assert!(on(&[
            "--no-web.disable-exporter-metrics",
            "--web.disable-exporter-metrics"
        ]));
    }

    #[test]
    fn bad_values_are_refused() {
        let d = WebDefaults::new(":9100");
        for args in [
            &["--log.level=verbose"][..],
            &["--log.format=text"],
            &["--web.max-requests=-1"],
            &["--web.unknown=1"],
        ] {
            assert!(parse(&d, args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn environment_variables() {
        // Unique names: tests run in parallel in one process.
        let d = WebDefaults::new(":9187")
            .env(
                WebFlag::TelemetryPath,
                "AIPLATFORM_TEST_PG_EXPORTER_WEB_TELEMETRY_PATH",
            )
            .env(
                WebFlag::ListenAddress,
                "AIPLATFORM_TEST_PG_EXPORTER_WEB_LISTEN_ADDRESS",
            );
        // SAFETY: no other test reads or writes these variables.
        unsafe {
            std::env::set_var("AIPLATFORM_TEST_PG_EXPORTER_WEB_TELEMETRY_PATH", "/pg");
            std::env::set_var("AIPLATFORM_TEST_PG_EXPORTER_WEB_LISTEN_ADDRESS", ":9999");
        }
        let w = parse(&d, &[]).unwrap();
        assert_eq!(w.telemetry_path, "/pg");
        assert_eq!(w.listen_addresses, [":9999"]);
        let w = parse(&d, &["--web.telemetry-path=/flag"]).unwrap();
        assert_eq!(w.telemetry_path, "/flag");
    }
}
