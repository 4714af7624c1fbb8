//! Outputs added from other crates: a log intake over HTTP, a vendor API, an OTLP exporter.
//!
//! The layer collects and redacts each event once, on the application thread. An output in
//! one of the built-in [`Format`]s gets the line the layer encodes once for every output of
//! that format. An output with its own [`EventEncoder`] gets the redacted event itself: the
//! layer copies it once into an owned form shared by every such output, and each output's
//! thread encodes it, so a vendor encoding costs the application thread nothing but that
//! copy and the hand-off. Either way the record goes through the output's bounded memory
//! queue (the same queue, [`FullPolicy`](crate::FullPolicy) and drop accounting as every
//! other output). The output's own thread packs records into batches (by count, bytes and
//! age) and hands each batch to a [`LogExporter`], which sends it and says how it went. The
//! thread applies the delivery rules, so an exporter only makes one attempt per call:
//!
//! | [`ExportOutcome`] | what the thread does |
//! |---|---|
//! | `Delivered` | done |
//! | `PartlyRejected { rejected }` | done; `rejected` records counted as dropped (`rejected`) |
//! | `Retry { after }` | waits `after` (capped at [`ExportConfig::max_retry_after`]) or the backoff (exponential, with jitter), then calls again with the same batch; records waiting meanwhile stay in the queue |
//! | `TooLarge` | sends each half separately, down to a single record, which is dropped (`too_large`) |
//! | `Rejected` | drops the batch (`rejected`) |
//!
//! Every record given up is counted in `aiplatform_log_events_dropped_total{sink, reason}`
//! and reported by a WARN record sent through the output itself, with the exporter's last
//! `detail` as `last_error`. Retried records are counted in `aiplatform_log_sink_resent_total`.
//! [`LogGuard::flush`](crate::LogGuard::flush) sends a partly filled batch at once and waits
//! for it; dropping the guard delivers what it can before the shutdown deadline and counts
//! the rest as dropped (`shutdown`).
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use aiplatform_logging::{ExportConfig, ExportOutcome, LogBatch, LogExporter, Output};
//! use tracing_subscriber::prelude::*;
//!
//! /// Sends each batch as a JSON array of ECS objects (here: into memory).
//! struct JsonArrays(Arc<Mutex<Vec<String>>>);
//!
//! impl LogExporter for JsonArrays {
//!     fn export(&mut self, batch: &LogBatch<'_>) -> ExportOutcome {
//!         let mut body = String::from("[");
//!         for (i, record) in batch.records().enumerate() {
//!             if i > 0 {
//!                 body.push(',');
//!             }
//!             // Records in `Format::Json` are ECS lines; drop the line ending.
//!             body.push_str(std::str::from_utf8(record).unwrap().trim_end());
//!         }
//!         body.push(']');
//!         self.0.lock().unwrap().push(body);
//!         ExportOutcome::Delivered
//!     }
//! }
//!
//! let sent = Arc::new(Mutex::new(Vec::new()));
//! let config = ExportConfig::new(JsonArrays(sent.clone()))
//!     .max_batch_records(100)
//!     .linger(Duration::from_millis(200));
//! let (layer, guard) = aiplatform_logging::builder()
//!     .service_name("billing")
//!     .output(Output::export(config).name("intake"))
//!     .build()
//!     .unwrap();
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     tracing::info!(order = 7, "paid");
//!     tracing::warn!("slow");
//! });
//! assert!(guard.flush(Duration::from_secs(5)));
//! let sent = sent.lock().unwrap();
//! assert_eq!(sent.len(), 1);
//! assert!(sent[0].starts_with(r#"[{"@timestamp":"#));
//! assert!(sent[0].contains(r#""message":"slow""#));
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::LogEvent;
use crate::output::Format;

/// Turns one event into one record of an output's batches.
///
/// [`encode`](Self::encode) runs on the output's own thread, after the event went through
/// the queue: the application thread only pays for [`capture`](Self::capture), which does
/// nothing unless an encoder needs what only the application thread knows (its current
/// span, a flag of its own).
pub trait EventEncoder: Send + Sync + 'static {
    /// Appends the encoded `event` to `out`, on the output's thread. `out` is empty (its
    /// capacity is reused from event to event). Leaving it empty leaves the event out of
    /// this output (not counted as dropped). Do not log from it.
    fn encode(&self, event: &LogEvent<'_>, out: &mut Vec<u8>);

    /// Runs on the application thread, inside the `tracing` call, before the event is handed
    /// to the output: returns `false` to leave the event out of this output (not counted as
    /// dropped; an exporter's own threads keep their events from coming back to it that
    /// way). Bytes appended to `context` (empty) reach [`encode`](Self::encode) as
    /// [`LogEvent::captured`]. Keep it fast, never block, do not log from it. The default
    /// keeps every event and captures nothing.
    fn capture(&self, event: &LogEvent<'_>, context: &mut Vec<u8>) -> bool {
        let _ = (event, context);
        true
    }
}

impl<F> EventEncoder for F
where
    F: Fn(&LogEvent<'_>, &mut Vec<u8>) + Send + Sync + 'static,
{
    fn encode(&self, event: &LogEvent<'_>, out: &mut Vec<u8>) {
        self(event, out);
    }
}

/// `s` cut to at most `max_bytes` bytes, at a character boundary: the part of a value an
/// encoder keeps when its receiver limits a value's size (the encoder adds its own marker).
///
/// ```
/// assert_eq!(aiplatform_logging::export::cut_to_bytes("héllo", 2), "h");
/// assert_eq!(aiplatform_logging::export::cut_to_bytes("héllo", 3), "hé");
/// assert_eq!(aiplatform_logging::export::cut_to_bytes("hi", 10), "hi");
/// ```
pub fn cut_to_bytes(s: &str, max_bytes: usize) -> &str {
    &s[..s.floor_char_boundary(max_bytes)]
}

/// Sends batches of records somewhere. Runs on the output's own thread; one call is one
/// attempt, and the thread decides about retries from the [`ExportOutcome`].
///
/// An exporter must not log through `tracing` for each batch (its events would come back to
/// it); report problems in the outcome's `detail` instead, which the output's drop notice
/// carries. Never put credentials in a `detail`.
pub trait LogExporter: Send + 'static {
    /// Makes one attempt to deliver `batch`; should return by [`LogBatch::deadline`] when it
    /// has one.
    fn export(&mut self, batch: &LogBatch<'_>) -> ExportOutcome;
}

/// A run of encoded records handed to a [`LogExporter`].
#[derive(Debug)]
pub struct LogBatch<'a> {
    pub(crate) records: &'a [Vec<u8>],
    pub(crate) deadline: Option<Instant>,
    pub(crate) attempt: u32,
}

impl<'a> LogBatch<'a> {
    /// The records, oldest first, as the output's encoding wrote them (the built-in formats
    /// end each record with `\n`).
    pub fn records(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        self.records.iter().map(Vec::as_slice)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records (never, for a batch handed to an exporter).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Total bytes of the records.
    pub fn bytes(&self) -> usize {
        self.records.iter().map(Vec::len).sum()
    }

    /// When the output is shutting down: the time by which this attempt must be over.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// 1 for the first attempt at this batch, then 2, 3, ... for retries.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// How one attempt to deliver a [`LogBatch`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportOutcome {
    /// Every record was accepted.
    Delivered,
    /// Accepted, but the receiver says it discarded `rejected` records (OTLP partial
    /// success); they are counted as dropped, not resent.
    PartlyRejected {
        /// Records the receiver discarded.
        rejected: u64,
        /// Why, as the receiver said it (no credentials).
        detail: String,
    },
    /// Not delivered, try again: connection errors, timeouts, 429, 5xx.
    Retry {
        /// How long the receiver asked to wait (`Retry-After`), if it did.
        after: Option<Duration>,
        /// What went wrong (no credentials).
        detail: String,
    },
    /// The receiver refuses the batch as too large (413): it is sent again in two halves.
    TooLarge {
        /// What the receiver said (no credentials).
        detail: String,
    },
    /// The receiver refuses the batch for good (other 4xx): it is dropped.
    Rejected {
        /// What the receiver said (no credentials).
        detail: String,
    },
}

/// How an output encodes events.
#[derive(Clone)]
pub(crate) enum Encoding {
    /// A built-in format, shared with other outputs of the same format (encoded once).
    Format(Format),
    /// The output's own encoder, run on the output's thread.
    Custom(Arc<dyn EventEncoder>),
}

impl std::fmt::Debug for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encoding::Format(format) => f.debug_tuple("Format").field(format).finish(),
            Encoding::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// An output whose batches a [`LogExporter`] sends; add it with [`Output::export`](crate::Output::export).
///
/// Defaults: records in [`Format::Json`] (ECS lines), batches of at most 512 records and
/// 1 MiB, sent when full or 1 s after their first record; retries after 100 ms doubling up to
/// 30 s (each with jitter), `Retry-After` honoured up to 5 min. The output's queue holds
/// 65 536 records and drops the newest when full, as the Logstash output does.
pub struct ExportConfig {
    pub(crate) exporter: Box<dyn LogExporter>,
    pub(crate) encoding: Encoding,
    pub(crate) max_batch_records: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) linger: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_retry_after: Duration,
}

impl std::fmt::Debug for ExportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportConfig")
            .field("encoding", &self.encoding)
            .field("max_batch_records", &self.max_batch_records)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("linger", &self.linger)
            .finish_non_exhaustive()
    }
}

impl ExportConfig {
    /// Sends batches with `exporter`.
    pub fn new(exporter: impl LogExporter) -> ExportConfig {
        ExportConfig {
            exporter: Box::new(exporter),
            encoding: Encoding::Format(Format::Json),
            max_batch_records: 512,
            max_batch_bytes: 1024 * 1024,
            linger: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }

    /// Encodes records in a built-in format (default [`Format::Json`]).
    pub fn format(mut self, format: Format) -> Self {
        self.encoding = Encoding::Format(format);
        self
    }

    /// Encodes records with `encoder` instead of a built-in format.
    pub fn encoder(mut self, encoder: impl EventEncoder) -> Self {
        self.encoding = Encoding::Custom(Arc::new(encoder));
        self
    }

    /// Records per batch at most (default 512).
    pub fn max_batch_records(mut self, n: usize) -> Self {
        self.max_batch_records = n.max(1);
        self
    }

    /// Record bytes per batch at most, before any framing or compression the exporter adds
    /// (default 1 MiB; a single larger record goes alone).
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes.max(1);
        self
    }

    /// How long a batch waits for more records after its first one (default 1 s).
    pub fn linger(mut self, t: Duration) -> Self {
        self.linger = t;
        self
    }

    /// Retry delays: `initial`, doubling up to `max`, each with jitter (uniform in the upper
    /// half of the delay). Defaults 100 ms and 30 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// The longest `Retry-After` honoured (default 5 min); longer ones are cut to it.
    pub fn max_retry_after(mut self, t: Duration) -> Self {
        self.max_retry_after = t;
        self
    }
}
