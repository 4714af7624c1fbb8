//! Self-metrics: the library reports on itself in an `aiplatform-metrics` registry, so an
//! operator sees lost or delayed logs in the same dashboards as everything else.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `aiplatform_log_events_total` | counter | | events the layer formatted (after level filtering) |
//! | `aiplatform_log_events_dropped_total` | counter | `sink`, `reason` | lines a sink gave up on: `queue_full`, `queue_timeout`, `spool_full`, `spool_corrupt`, `shutdown`, `closed`, `io_error`, `rejected` (refused by the receiver), `too_large` (a single record the receiver refuses as too large) |
//! | `aiplatform_log_redactions_total` | counter | | secrets replaced |
//! | `aiplatform_log_sink_reconnects_total` | counter | `sink` | connections to Logstash re-established after a failure |
//! | `aiplatform_log_sink_resent_total` | counter | `sink` | lines written again after a reconnect because their delivery was not confirmed, or sent again after a failed attempt |
//! | `aiplatform_log_queue_depth` | gauge | `sink` | lines waiting in the sink's memory queue |
//! | `aiplatform_log_spool_bytes` | gauge | `sink` | bytes held in the on-disk spool |

use aiplatform_metrics::{Counter, Family, Gauge, Registry};

use crate::Error;

/// Every reason a line can be dropped, in the order of [`DropReason`].
const REASONS: [&str; 9] = [
    "queue_full",
    "queue_timeout",
    "spool_full",
    "spool_corrupt",
    "shutdown",
    "closed",
    "io_error",
    "rejected",
    "too_large",
];

/// Why a sink gave up on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    QueueFull = 0,
    QueueTimeout = 1,
    SpoolFull = 2,
    SpoolCorrupt = 3,
    Shutdown = 4,
    Closed = 5,
    IoError = 6,
    Rejected = 7,
    TooLarge = 8,
}

/// Families registered once per layer.
#[derive(Debug, Clone)]
pub(crate) struct SelfMetrics {
    pub(crate) events: Counter,
    pub(crate) redactions: Counter,
    dropped: Family<Counter>,
    reconnects: Family<Counter>,
    resent: Family<Counter>,
    depth: Family<Gauge>,
    spool: Family<Gauge>,
}

impl SelfMetrics {
    pub(crate) fn register(r: &Registry) -> Result<SelfMetrics, Error> {
        Ok(SelfMetrics {
            events: r.counter(
                "aiplatform_log_events_total",
                "Log events formatted by the layer.",
            )?,
            redactions: r.counter(
                "aiplatform_log_redactions_total",
                "Secrets replaced in log events.",
            )?,
            dropped: r.counter_family(
                "aiplatform_log_events_dropped_total",
                "Log lines a sink dropped, by reason.",
                &["sink", "reason"],
            )?,
            reconnects: r.counter_family(
                "aiplatform_log_sink_reconnects_total",
                "Connections re-established after a failure.",
                &["sink"],
            )?,
            resent: r.counter_family(
                "aiplatform_log_sink_resent_total",
                "Lines written again after a reconnect or a failed attempt, because delivery was not confirmed.",
                &["sink"],
            )?,
            depth: r.gauge_family(
                "aiplatform_log_queue_depth",
                "Lines waiting in a sink's memory queue.",
                &["sink"],
            )?,
            spool: r.gauge_family(
                "aiplatform_log_spool_bytes",
                "Bytes held in a sink's on-disk spool.",
                &["sink"],
            )?,
        })
    }

    /// Handles for one sink, resolved once so the hot path touches no label lookup.
    pub(crate) fn sink(&self, name: &str) -> SinkMetrics {
        SinkMetrics {
            dropped: REASONS.map(|r| self.dropped.with(&[name, r])),
            reconnects: self.reconnects.with(&[name]),
            resent: self.resent.with(&[name]),
            depth: self.depth.with(&[name]),
            spool_bytes: self.spool.with(&[name]),
        }
    }
}

/// One sink's self-metric handles.
#[derive(Debug, Clone)]
pub(crate) struct SinkMetrics {
    dropped: [Counter; REASONS.len()],
    pub(crate) reconnects: Counter,
    pub(crate) resent: Counter,
    pub(crate) depth: Gauge,
    pub(crate) spool_bytes: Gauge,
}

impl SinkMetrics {
    pub(crate) fn dropped(&self, reason: DropReason, n: u64) {
        self.dropped[reason as usize].inc_by(n);
    }

    #[cfg(test)]
    pub(crate) fn dropped_count(&self, reason: DropReason) -> f64 {
        self.dropped[reason as usize].get()
    }

    /// Lines dropped so far, per reason (indexed like [`DropReason`]).
    pub(crate) fn dropped_counts(&self) -> [u64; REASONS.len()] {
        std::array::from_fn(|i| self.dropped[i].get() as u64)
    }
}
