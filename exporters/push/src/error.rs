//! Errors of the push pipeline. None of them carries a credential.

use std::path::PathBuf;
use std::time::Duration;

/// A credential could not be read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The environment variable is unset or empty.
    #[error("environment variable {name} is not set")]
    EnvUnset {
        /// The variable.
        name: String,
    },
    /// The file could not be read.
    #[error("reading credential file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds nothing but line breaks.
    #[error("credential file {} is empty", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// A header name is not a valid HTTP header name.
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The name.
        name: String,
    },
    /// A credential holds characters an HTTP header cannot carry (the value is not shown).
    #[error("the value for header {header} is not a valid HTTP header value")]
    InvalidHeaderValue {
        /// The header.
        header: String,
    },
}

/// A pipeline could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A credential is missing or unreadable.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The endpoint URL is not usable.
    #[error("invalid endpoint {url:?}: {reason}")]
    Endpoint {
        /// The URL as given (without its user-info part).
        url: String,
        /// Why.
        reason: String,
    },
    /// The TLS configuration is not usable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The on-disk spool could not be opened (another process holds it, or I/O failed).
    #[error("opening the spool: {0}")]
    Spool(#[from] aiplatform_logging::Error),
    /// The pipeline thread or its runtime could not be started.
    #[error("starting the push thread: {0}")]
    Thread(#[source] std::io::Error),
    /// A configuration value is out of range.
    #[error("{0}")]
    Config(String),
}

/// What [`Pipeline::flush`](crate::Pipeline::flush) and
/// [`Pipeline::shutdown`](crate::Pipeline::shutdown) report when not everything was delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The deadline passed with batches still queued (they stay queued, or spooled on disk).
    #[error("{pending_batches} batches ({pending_samples} samples) still pending after {waited:?}")]
    Timeout {
        /// Batches not delivered yet.
        pending_batches: u64,
        /// Samples in them.
        pending_samples: u64,
        /// How long the call waited.
        waited: Duration,
    },
    /// Some samples were dropped (rejected by the receiver, or evicted from the full queue)
    /// since the call began; see `aiplatform_push_dropped_samples_total` for the reasons.
    #[error("{samples} samples were dropped{}", last_error.as_deref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    Dropped {
        /// How many.
        samples: u64,
        /// The receiver's last refusal, cut short, credentials scrubbed.
        last_error: Option<String>,
    },
    /// The pipeline has stopped (shut down, or stopped by the receiver's answer).
    #[error("the pipeline has stopped")]
    Stopped,
}
