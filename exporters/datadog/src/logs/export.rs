//! Batches of log objects to `POST /api/v2/logs`, on the logging output's own thread.

use aiplatform_logging::{ExportOutcome, LogBatch, LogExporter};
use aiplatform_push::{Compression, LogRuntime, Outcome, export_outcome};

use crate::intake::IntakeTransport;

/// Sends each batch as one JSON array, compressed, with the API key; maps Datadog's answers
/// to the logging output's delivery rules: 2xx delivered; 408, 429 and 5xx retried (after
/// `Retry-After`); 413 split; other 4xx dropped and counted. 401 and 403 (a wrong key, or a
/// key of another site) drop the batch and every later one unsent: a refused key stays
/// refused, and the output's drop notice says why, once per notice, without the key.
pub struct DatadogLogExporter {
    intake: IntakeTransport,
    compression: Compression,
    runtime: LogRuntime,
    body: Vec<u8>,
    refused: Option<String>,
}

impl std::fmt::Debug for DatadogLogExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogLogExporter")
            .field("intake", &self.intake)
            .field("compression", &self.compression)
            .field("refused", &self.refused.is_some())
            .finish_non_exhaustive()
    }
}

impl DatadogLogExporter {
    pub(crate) fn new(intake: IntakeTransport, compression: Compression) -> DatadogLogExporter {
        DatadogLogExporter {
            intake,
            compression,
            runtime: LogRuntime::new(),
            body: Vec::new(),
            refused: None,
        }
    }
}

impl LogExporter for DatadogLogExporter {
    fn export(&mut self, batch: &LogBatch<'_>) -> ExportOutcome {
        if let Some(why) = &self.refused {
            return ExportOutcome::Rejected {
                detail: why.clone(),
            };
        }
        self.body.clear();
        self.body.push(b'[');
        for (i, record) in batch.records().enumerate() {
            if i > 0 {
                self.body.push(b',');
            }
            self.body.extend_from_slice(record);
        }
        self.body.push(b']');
        let mut compressed = Vec::new();
        let body = match self.compression.compress(&self.body, &mut compressed) {
            Ok(()) => bytes::Bytes::from(compressed),
            Err(e) => {
                return ExportOutcome::Rejected {
                    detail: format!("compressing logs: {e}"),
                };
            }
        };
        let send = self.intake.post(body, self.compression);
        let outcome = self.runtime.run(batch.deadline(), send);
        if let Outcome::Stop { detail, .. } = &outcome {
            self.refused = Some(detail.clone());
        }
        export_outcome(outcome)
    }
}
