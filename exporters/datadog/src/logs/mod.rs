//! Logs: `tracing` events, collected and redacted by `aiplatform-logging`, to Datadog's logs
//! intake (`POST /api/v2/logs`) through the logging crate's pluggable outputs (its bounded
//! queue, drop accounting and flush on shutdown).

mod encode;
mod export;

use aiplatform_logging::{ExportConfig, Output};
use aiplatform_push::BuildError;

pub use encode::{DatadogLogEncoder, MAX_LOG_BYTES, TRUNCATION_MARKER};
pub use export::DatadogLogExporter;

use crate::config::Datadog;
use crate::intake::IntakeTransport;

/// The intake takes at most this many logs per request.
pub const MAX_LOGS_PER_REQUEST: usize = 1000;

/// The intake takes at most this many bytes per request, uncompressed (5 MB).
pub const MAX_LOGS_PAYLOAD_BYTES: usize = 5_000_000;

/// The `sink` label of the Datadog log output's self-metrics.
pub const LOGS_SINK: &str = "datadog";

impl Datadog {
    /// A logging output sending events to the logs intake: at most 1000 logs and 5 MB
    /// (uncompressed, array included) per request, one log at most 1 MB (longer values cut,
    /// with a marker), gzip by default. Needs the API key.
    ///
    /// ```
    /// use aiplatform_datadog::Datadog;
    ///
    /// let dd = Datadog::from_vars(|k| (k == "DD_API_KEY").then(|| "k".to_string())).unwrap();
    /// let (layer, guard) = aiplatform_logging::builder()
    ///     .service_name("billing")
    ///     .output(dd.logs_output().unwrap())
    ///     .build()
    ///     .unwrap();
    /// # drop((layer, guard));
    /// ```
    pub fn logs_output(&self) -> Result<Output, BuildError> {
        Ok(Output::export(self.logs_export_config()?).name(LOGS_SINK))
    }

    /// The export configuration behind [`Datadog::logs_output`], to adjust batching first.
    pub fn logs_export_config(&self) -> Result<ExportConfig, BuildError> {
        let key = self.api_key_source().ok_or_else(|| {
            BuildError::Config(
                "Datadog logs need an API key (DD_API_KEY or DD_API_KEY_FILE)".into(),
            )
        })?;
        let intake =
            IntakeTransport::new(&self.logs_intake_url(), key, self.http_options(), "logs")?;
        let exporter = DatadogLogExporter::new(intake, self.body_compression());
        let encoder = DatadogLogEncoder::new(
            "rust",
            &self.global_tags(),
            &self.host(),
            self.service_name(),
        );
        // Records are joined by one comma inside `[` `]`.
        let max_bytes = MAX_LOGS_PAYLOAD_BYTES - MAX_LOGS_PER_REQUEST - 2;
        Ok(ExportConfig::new(exporter)
            .encoder(encoder)
            .max_batch_records(MAX_LOGS_PER_REQUEST)
            .max_batch_bytes(max_bytes))
    }
}
