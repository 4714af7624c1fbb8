//! Errors of configuration and start-up.

/// Why OTLP export could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value it cannot have.
    #[error("{setting}: {value:?} is not valid: expected {expected}")]
    Invalid {
        /// The variable or builder setting.
        setting: String,
        /// The value given (never a credential).
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A header list has a malformed entry (the entry is not shown: it may hold a key).
    #[error("{setting}: entry {position} is not valid: {reason}")]
    Header {
        /// The variable.
        setting: String,
        /// 1-based position of the entry in the list.
        position: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting needs another one that is missing.
    #[error("{setting}: {missing}")]
    Incomplete {
        /// The variable that was set.
        setting: String,
        /// What is missing.
        missing: &'static str,
    },
    /// The push pipeline, HTTP client or TLS settings could not be built.
    #[error(transparent)]
    Push(#[from] aiplatform_push::BuildError),
    /// The tracing exporter could not be built.
    #[error("traces: {0}")]
    Traces(String),
    /// A background thread could not be started.
    #[error("starting the OTLP I/O thread")]
    Thread(#[source] std::io::Error),
}

impl ConfigError {
    /// The same error, attributed to `setting` (an `Invalid` from a parser that did not know
    /// which variable it read).
    pub(crate) fn for_setting(self, setting: &str) -> ConfigError {
        match self {
            ConfigError::Invalid {
                value, expected, ..
            } => ConfigError::Invalid {
                setting: setting.into(),
                value,
                expected,
            },
            other => other,
        }
    }
}
