//! "Lines were dropped" records, written through the same sink and format as everything else,
//! so a gap in the logs explains itself where it happens (tracing-appender only counts its
//! drops, tokio-rs/tracing#1941).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::clock::{Clock, rfc3339_millis};
use crate::encode::ecs::{self, EcsScratch, EcsStatic};
use crate::encode::{EventView, logfmt, pretty};
use crate::metrics::SinkMetrics;
use crate::output::Format;
use crate::record::{Record, Val};

/// Field name per drop reason; empty for reasons that cannot be reported through the sink
/// itself (it is shutting down or closed).
const KEYS: [&str; 7] = [
    "dropped_queue_full",
    "dropped_queue_timeout",
    "dropped_spool_full",
    "dropped_spool_corrupt",
    "",
    "",
    "dropped_io_error",
];

/// Writes at most one notice per this interval.
const EVERY: Duration = Duration::from_secs(1);

/// Watches a sink's drop counters and renders a WARN record when they grew.
pub(crate) struct Notice {
    format: Format,
    ecs: Arc<EcsStatic>,
    clock: Arc<dyn Clock>,
    seq: Arc<AtomicU64>,
    seen: [u64; 7],
    last: Option<Instant>,
}

impl std::fmt::Debug for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notice")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Notice {
    pub(crate) fn new(
        format: Format,
        ecs: Arc<EcsStatic>,
        clock: Arc<dyn Clock>,
        seq: Arc<AtomicU64>,
    ) -> Notice {
        Notice {
            format,
            ecs,
            clock,
            seq,
            seen: [0; 7],
            last: None,
        }
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
        rec.synthetic_message(&format!(
            "aiplatform-logging dropped {total} log lines (see aiplatform_log_events_dropped_total)"
        ));
        let mut ts = [0u8; 24];
        let ts = rfc3339_millis(self.clock.now(), &mut ts);
        let view = EventView {
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
        match self.format {
            Format::Json => ecs::encode(&self.ecs, &view, &mut EcsScratch::default(), &mut out),
            Format::Logfmt => logfmt::encode(&view, &mut out),
            Format::Pretty => pretty::encode(&view, false, &mut out),
            Format::PrettyAnsi => pretty::encode(&view, true, &mut out),
        }
        Some(out)
    }
}
