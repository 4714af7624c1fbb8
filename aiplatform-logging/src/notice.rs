//! "Lines were dropped" records, written through the same sink and format as everything else,
//! so a gap in the logs explains itself where it happens (tracing-appender only counts its
//! drops, tokio-rs/tracing#1941).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::clock::{Clock, rfc3339_millis};
use crate::encode::ecs::{EcsScratch, EcsStatic};
use crate::encode::{EventView, encode_format};
use crate::event::{LogEvent, LogResource};
use crate::export::Encoding;
use crate::metrics::SinkMetrics;
use crate::record::{Record, Val};
use crate::redact::Redactor;

/// Field name per drop reason; empty for reasons that cannot be reported through the sink
/// itself (it is shutting down or closed).
const KEYS: [&str; 9] = [
    "dropped_queue_full",
    "dropped_queue_timeout",
    "dropped_spool_full",
    "dropped_spool_corrupt",
    "",
    "",
    "dropped_io_error",
    "dropped_rejected",
    "dropped_too_large",
];

/// Writes at most one notice per this interval.
const EVERY: Duration = Duration::from_secs(1);

/// Watches a sink's drop counters and renders a WARN record when they grew.
pub(crate) struct Notice {
    encoding: Encoding,
    ecs: Arc<EcsStatic>,
    resource: Arc<LogResource>,
    clock: Arc<dyn Clock>,
    seq: Arc<AtomicU64>,
    seen: [u64; KEYS.len()],
    last: Option<Instant>,
    /// What the receiver said last time it refused something (`last_error`), redacted.
    detail: Option<String>,
    redactor: Redactor,
}

impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice")
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl Notice {
    pub(crate) fn new(
        encoding: Encoding,
        ecs: Arc<EcsStatic>,
        resource: Arc<LogResource>,
        clock: Arc<dyn Clock>,
        seq: Arc<AtomicU64>,
        redactor: Redactor,
    ) -> Notice {
        Notice {
            encoding,
            ecs,
            resource,
            clock,
            seq,
            seen: [0; KEYS.len()],
            last: None,
            detail: None,
            redactor,
        }
    }

    /// Remembers what the receiver said when it last refused records; the next notice
    /// carries it as `last_error`.
    /// The process-wide fields every event of the output carries.
    pub(crate) fn resource(&self) -> &Arc<LogResource> {
        &self.resource
    }

    pub(crate) fn set_detail(&mut self, detail: &str) {
        self.detail = Some(self.redactor.redact(detail).into_owned());
    }

    /// A line reporting the drops since the last notice, if there were any and the last
    /// notice is old enough (or `now` is set: the sink is about to stop).
    pub(crate) fn poll(&mut self, m: &SinkMetrics, now: bool) -> Option<Vec<u8>> {
        if !now && self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return None;
        }
        let now = m.dropped_counts();
        let mut rec = Record::default();
        let mut total = 0;
        for (i, key) in KEYS.iter().enumerate() {
            let d = now[i].saturating_sub(self.seen[i]);
            if d > 0 && !key.is_empty() {
                rec.synthetic_field(key, Val::U64(d));
                total += d;
            }
        }
        self.seen = now;
        if total == 0 {
            return None;
        }
        self.last = Some(Instant::now());
        if let Some(detail) = self.detail.take() {
            rec.synthetic_str_field("last_error", &detail);
        }
        rec.synthetic_message(&format!(
            "aiplatform-logging dropped {total} log lines (see aiplatform_log_events_dropped_total)"
        ));
        let time = self.clock.now();
        let mut ts = [0u8; 24];
        let ts = rfc3339_millis(time, &mut ts);
        let view = EventView {
            time,
            rec: &rec,
            level: tracing::Level::WARN,
            target: "aiplatform_logging",
            file: None,
            line: None,
            timestamp: std::str::from_utf8(ts).unwrap_or("1970-01-01T00:00:00.000Z"),
            sequence: self.seq.fetch_add(1, Ordering::Relaxed),
            hash: None,
            spans: "",
        };
        let mut out = Vec::new();
        match &self.encoding {
            Encoding::Format(format) => encode_format(
                *format,
                &self.ecs,
                &view,
                &mut EcsScratch::default(),
                &mut out,
            ),
            Encoding::Custom(encoder) => encoder.encode(
                &LogEvent {
                    view: &view,
                    resource: &self.resource,
                    captured: &[],
                },
                &mut out,
            ),
        }
        Some(out)
    }
}
