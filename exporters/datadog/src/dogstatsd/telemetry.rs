//! Client telemetry: the `datadog.dogstatsd.client.*` counts the official clients send about
//! themselves, so Datadog's own DogStatsD dashboards show what this client sent and dropped.
//!
//! | metric | tags | counts, since the previous flush |
//! |---|---|---|
//! | `datadog.dogstatsd.client.metrics` | | metric lines written |
//! | `datadog.dogstatsd.client.metrics_by_type` | `metrics_type:count\|gauge` | metric lines written, by type |
//! | `datadog.dogstatsd.client.aggregated_context` | | series flushed (the client aggregates) |
//! | `datadog.dogstatsd.client.packets_sent`, `bytes_sent` | | datagrams (frames) and payload bytes handed to the socket, with the `\n` padding of segmented UDP sends (what went on the wire) |
//! | `datadog.dogstatsd.client.packets_dropped`, `bytes_dropped` | | all drops: the two below |
//! | `datadog.dogstatsd.client.packets_dropped_queue`, `bytes_dropped_queue` | | dropped before the socket: the bounded queue was full, or shutdown came first |
//! | `datadog.dogstatsd.client.packets_dropped_writer`, `bytes_dropped_writer` | | the socket refused them or stayed full past the write timeout |
//! | `datadog.dogstatsd.client.metrics_dropped_too_long` | | lines longer than a whole datagram, never sent |
//!
//! Every one carries `client:rust`, `client_version:<crate version>`, `client_transport:udp|uds|uds-stream`
//! and the global tags (`env`, `service`, `version`, `DD_TAGS`). They are counts (`|c`): the
//! change since the previous flush, as datadog-go sends them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the transport, the pipeline's drop observer and the encoder update.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) packets_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) packets_dropped_writer: AtomicU64,
    pub(crate) bytes_dropped_writer: AtomicU64,
    pub(crate) packets_dropped_queue: AtomicU64,
    pub(crate) bytes_dropped_queue: AtomicU64,
    pub(crate) lines_too_long: AtomicU64,
}

impl Counters {
    pub(crate) fn sent(&self, packets: u64, bytes: u64) {
        self.packets_sent.fetch_add(packets, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn dropped_writer(&self, packets: u64, bytes: u64) {
        self.packets_dropped_writer
            .fetch_add(packets, Ordering::Relaxed);
        self.bytes_dropped_writer
            .fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn dropped_queue(&self, packets: u64, bytes: u64) {
        self.packets_dropped_queue
            .fetch_add(packets, Ordering::Relaxed);
        self.bytes_dropped_queue.fetch_add(bytes, Ordering::Relaxed);
    }

    fn read(&self) -> [u64; 7] {
        [
            &self.packets_sent,
            &self.bytes_sent,
            &self.packets_dropped_writer,
            &self.bytes_dropped_writer,
            &self.packets_dropped_queue,
            &self.bytes_dropped_queue,
            &self.lines_too_long,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// What the encoder sent last time, to send differences.
#[derive(Debug, Default)]
pub(crate) struct LastSent {
    counters: [u64; 7],
}

/// One flush's own numbers, counted by the encoder as it writes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FlushCounts {
    pub(crate) counts: u64,
    pub(crate) gauges: u64,
    pub(crate) contexts: u64,
}

impl LastSent {
    /// Calls `line(name, metrics_type tag or "", value)` for every telemetry metric.
    pub(crate) fn lines(
        &mut self,
        counters: &Counters,
        flush: FlushCounts,
        mut line: impl FnMut(&str, &str, u64),
    ) {
        let now = counters.read();
        let d: Vec<u64> = now
            .iter()
            .zip(self.counters)
            .map(|(n, l)| n.wrapping_sub(l))
            .collect();
        self.counters = now;
        let [
            p_sent,
            b_sent,
            p_writer,
            b_writer,
            p_queue,
            b_queue,
            too_long,
        ] = [d[0], d[1], d[2], d[3], d[4], d[5], d[6]];
        let c = "datadog.dogstatsd.client.";
        let name = |n: &str| format!("{c}{n}");
        line(&name("metrics"), "", flush.counts + flush.gauges);
        line(&name("metrics_by_type"), "metrics_type:count", flush.counts);
        line(&name("metrics_by_type"), "metrics_type:gauge", flush.gauges);
        line(&name("aggregated_context"), "", flush.contexts);
        line(&name("packets_sent"), "", p_sent);
        line(&name("bytes_sent"), "", b_sent);
        line(&name("packets_dropped"), "", p_writer + p_queue);
        line(&name("bytes_dropped"), "", b_writer + b_queue);
        line(&name("packets_dropped_queue"), "", p_queue);
        line(&name("bytes_dropped_queue"), "", b_queue);
        line(&name("packets_dropped_writer"), "", p_writer);
        line(&name("bytes_dropped_writer"), "", b_writer);
        line(&name("metrics_dropped_too_long"), "", too_long);
    }
}
