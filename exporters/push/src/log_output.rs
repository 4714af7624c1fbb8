//! What every `aiplatform-logging` export output built on this crate's transports shares:
//! reading a push [`Outcome`] as the log output's [`ExportOutcome`], and running one
//! asynchronous send on the output's own (synchronous) thread within the batch's deadline.
//!
//! ```
//! use aiplatform_logging::ExportOutcome;
//! use aiplatform_push::{Failure, LogRuntime, Outcome, export_outcome};
//!
//! let refused = Outcome::Stop { failure: Failure::Status(403), detail: "403".into() };
//! assert_eq!(export_outcome(refused), ExportOutcome::Rejected { detail: "403".into() });
//!
//! let mut runtime = LogRuntime::new();
//! let outcome = runtime.run(None, async { Outcome::Delivered });
//! assert_eq!(export_outcome(outcome), ExportOutcome::Delivered);
//! ```

use std::future::Future;
use std::time::Instant;

use aiplatform_logging::ExportOutcome;

use crate::{Failure, Outcome};

/// The log output's reading of a push outcome: delivered, partly rejected (counted, not
/// resent), retried (after `Retry-After`), split (413), or dropped. A refused sender
/// ([`Outcome::Stop`]) drops the batch; an exporter that should stop for good remembers that
/// itself.
pub fn export_outcome(outcome: Outcome) -> ExportOutcome {
    match outcome {
        Outcome::Delivered => ExportOutcome::Delivered,
        Outcome::PartlyDelivered { rejected, detail } => {
            ExportOutcome::PartlyRejected { rejected, detail }
        }
        Outcome::Retry { after, detail, .. } => ExportOutcome::Retry { after, detail },
        Outcome::TooLarge { detail } => ExportOutcome::TooLarge { detail },
        Outcome::Rejected { detail, .. } | Outcome::Stop { detail, .. } => {
            ExportOutcome::Rejected { detail }
        }
    }
}

/// A current-thread `tokio` runtime for a log exporter, built on the output's thread at the
/// first send (a runtime must not be dropped inside an async context, where the output may be
/// configured and, on an error, dropped).
#[derive(Debug, Default)]
pub struct LogRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl LogRuntime {
    /// A runtime not built yet.
    pub fn new() -> LogRuntime {
        LogRuntime::default()
    }

    /// Runs `send` to completion on this thread; past `deadline` (the batch's, at shutdown)
    /// it is cut short and reads as a timeout to retry.
    pub fn run(
        &mut self,
        deadline: Option<Instant>,
        send: impl Future<Output = Outcome>,
    ) -> Outcome {
        let runtime = match &mut self.runtime {
            Some(r) => r,
            slot @ None => match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => slot.insert(r),
                Err(e) => {
                    return Outcome::Retry {
                        failure: Failure::Io,
                        after: None,
                        detail: format!("starting the log exporter's runtime: {e}"),
                    };
                }
            },
        };
        runtime.block_on(async {
            let Some(deadline) = deadline else {
                return send.await;
            };
            let at =
                tokio::time::Instant::now() + deadline.saturating_duration_since(Instant::now());
            tokio::time::timeout_at(at, send)
                .await
                .unwrap_or_else(|_| Outcome::Retry {
                    failure: Failure::Timeout,
                    after: None,
                    detail: "the shutdown deadline passed during the request".into(),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_outcome_has_its_reading() {
        let d = || "d".to_owned();
        let cases = [
            (
                Outcome::PartlyDelivered {
                    rejected: 3,
                    detail: d(),
                },
                ExportOutcome::PartlyRejected {
                    rejected: 3,
                    detail: d(),
                },
            ),
            (
                Outcome::Retry {
                    failure: Failure::Status(429),
                    after: Some(Duration::from_secs(2)),
                    detail: d(),
                },
                ExportOutcome::Retry {
                    after: Some(Duration::from_secs(2)),
                    detail: d(),
                },
            ),
            (
                Outcome::TooLarge { detail: d() },
                ExportOutcome::TooLarge { detail: d() },
            ),
            (
                Outcome::Rejected {
                    failure: Failure::Status(400),
                    detail: d(),
                },
                ExportOutcome::Rejected { detail: d() },
            ),
        ];
        for (outcome, reading) in cases {
            assert_eq!(export_outcome(outcome), reading);
        }
    }

    #[test]
    fn a_send_past_the_deadline_is_cut_and_retried() {
        let mut rt = LogRuntime::new();
        let t = Instant::now();
        let outcome = rt.run(Some(t + Duration::from_millis(50)), async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Outcome::Delivered
        });
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            outcome,
            Outcome::Retry {
                failure: Failure::Timeout,
                ..
            }
        ));
    }
}
