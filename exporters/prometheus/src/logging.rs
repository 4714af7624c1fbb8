//! Logging as the Go exporters do it: `--log.level` and `--log.format` on standard error,
//! go-kit's logfmt by default.

use aiplatform_logging::{Format, LogBuilder, LogGuard, Output};
use clap::ValueEnum;

/// Lines the standard-error queue holds before its full policy applies. An exporter logs a few
/// lines a minute, and a queue slot costs memory from start-up whether used or not (the
/// logging crate's default, 16 Ki lines, would be half a MiB of a small exporter's heap).
pub const LOG_QUEUE_LINES: usize = 1024;

/// `--log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including each collector's outcome.
    Debug,
    /// Start-up, listeners and failures (the default).
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// The level: this and more severe events are written.
    pub fn level(self) -> tracing::Level {
        match self {
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }

    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, as go-kit's logfmt (the default).
    Logfmt,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The logging crate's format.
    pub fn format(self) -> Format {
        match self {
            LogFormat::Logfmt => Format::Logfmt,
            LogFormat::Json => Format::Json,
        }
    }

    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Logfmt => "logfmt",
            LogFormat::Json => "json",
        }
    }
}

/// The logging an exporter's `--log.level` and `--log.format` ask for: that level as the
/// filter, that format on standard error through a queue of [`LOG_QUEUE_LINES`] lines. No
/// `event.hash` fingerprint: the Go exporters' lines, which operators already search, carry
/// none (call [`LogBuilder::fingerprint`] to add it back).
///
/// ```
/// use aiplatform_prometheus::{LogFormat, LogLevel, exporter_logging};
///
/// let builder = exporter_logging(LogLevel::Debug, LogFormat::Json);
/// assert_eq!(builder.env_filter().unwrap().to_string(), "debug");
/// ```
pub fn exporter_logging(level: LogLevel, format: LogFormat) -> LogBuilder {
    aiplatform_logging::builder()
        .filter(level.as_str())
        .output(Output::stderr(format.format()).queue_capacity(LOG_QUEUE_LINES))
        .without_fingerprint()
}

/// Installs [`exporter_logging`] as the global subscriber. Keep the guard in `main`.
pub fn init_logging(
    level: LogLevel,
    format: LogFormat,
) -> Result<LogGuard, aiplatform_logging::Error> {
    exporter_logging(level, format).init()
}
