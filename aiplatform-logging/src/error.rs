//! The one error type of the crate, so callers match on a closed set of causes.

use std::path::PathBuf;

/// Why logging could not be configured or started.
///
/// Every variant keeps its cause in [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A user-supplied redaction pattern is not a valid regular expression.
    #[error("redaction pattern {pattern:?} is not a valid regular expression")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What the regex parser said.
        #[source]
        source: Box<regex::Error>,
    },
    /// A user-supplied redaction pattern matches the replacement text, so redacting twice would
    /// not give the same result.
    #[error("redaction pattern {pattern:?} matches the replacement text {replacement:?}")]
    PatternMatchesReplacement {
        /// The pattern as given.
        pattern: String,
        /// The replacement text.
        replacement: String,
    },
    /// The replacement text is empty or spans lines.
    #[error("redaction replacement {0:?} must be non-empty and on one line")]
    Replacement(String),
    /// The level filter (`RUST_LOG` syntax) could not be parsed.
    #[error("invalid level filter {directives:?}")]
    Filter {
        /// The directives as given.
        directives: String,
        /// What tracing-subscriber said.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A log format name is not one the caller accepts.
    #[error("unknown log format {given:?}: expected one of {expected}")]
    Format {
        /// The name given.
        given: String,
        /// The accepted names.
        expected: &'static str,
    },
    /// A Logstash address is not `host:port`.
    #[error("logstash address {0:?} must be host:port")]
    Address(String),
    /// A TLS certificate or key file could not be read, or holds a malformed PEM block or
    /// none of the expected kind.
    #[error(transparent)]
    Pem(#[from] aiplatform_tls::PemError),
    /// rustls refused the TLS configuration.
    #[error("TLS configuration rejected")]
    Tls(#[from] rustls::Error),
    /// The TLS server name is not a valid DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// The spool directory cannot be created, opened or locked.
    #[error("spool directory {path}")]
    Spool {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A log file or directory cannot be created.
    #[error("cannot open log file in {path}")]
    File {
        /// The directory or file.
        path: PathBuf,
        /// What tracing-appender said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A sink's background thread could not be started.
    #[error("cannot start the {0} writer thread")]
    Thread(String, #[source] std::io::Error),
    /// A self-metric could not be registered (usually: already registered in that registry).
    #[error("cannot register self-metrics")]
    Metrics(#[from] aiplatform_metrics::RegistrationError),
    /// A global default subscriber is already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[source] tracing_subscriber::util::TryInitError),
}
