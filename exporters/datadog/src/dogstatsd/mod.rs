//! DogStatsD: the registry's values to the Datadog Agent every flush interval, over UDP or a
//! Unix socket.

mod addr;
mod encode;
mod pack;
mod socket;
mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_push::{DropReason, Pipeline, PipelineBuilder, Temporality};

pub use addr::{
    AgentAddr, DEFAULT_PORT, UDP_MAX_PAYLOAD_BYTES, UDP_PAYLOAD_BYTES, UDS_PAYLOAD_BYTES,
};
pub use encode::DogStatsdEncoder;
pub(crate) use encode::push_metric_name;
pub use socket::DogStatsdTransport;

use telemetry::Counters;

/// The `backend` label of the DogStatsD pipeline's `aiplatform_push_*` self-metrics.
pub const BACKEND: &str = "datadog_dogstatsd";

/// Bound of the queue of unsent lines by default. A datagram transport never waits long, so
/// the queue only fills while the agent's Unix socket stays full; then the oldest go first.
pub const DEFAULT_QUEUE_BYTES: u64 = 8 * 1024 * 1024;

/// What a DogStatsD pipeline needs, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) addr: AgentAddr,
    pub(crate) namespace: String,
    pub(crate) tags: Vec<String>,
    pub(crate) max_payload: usize,
    pub(crate) timestamps: bool,
    pub(crate) telemetry: bool,
    pub(crate) write_timeout: Duration,
    pub(crate) interval: Duration,
}

/// A pipeline builder for `settings`: delta temporality, one batch per megabyte of lines
/// (the transport cuts it into datagrams), a bounded queue, client telemetry.
pub(crate) fn pipeline(
    registry: &Registry,
    settings: &Settings,
) -> PipelineBuilder<DogStatsdEncoder, DogStatsdTransport> {
    let counters = Arc::new(Counters::default());
    let mut encoder = DogStatsdEncoder::new(
        &settings.namespace,
        &settings.tags,
        settings.max_payload,
        settings.timestamps,
    );
    if settings.telemetry {
        encoder = encoder.with_telemetry(counters.clone(), settings.addr.transport_name());
    }
    let transport = DogStatsdTransport::new(
        settings.addr.clone(),
        settings.max_payload,
        settings.write_timeout,
        counters.clone(),
    );
    let max_payload = settings.max_payload;
    Pipeline::builder(registry, BACKEND, encoder, transport)
        .temporality(Temporality::Delta)
        .interval(settings.interval)
        .max_batch_bytes(1024 * 1024)
        .max_batch_series(u64::from(u32::MAX))
        .queue_max_bytes(DEFAULT_QUEUE_BYTES)
        .on_drop(move |reason, batch| {
            // What the transport refused it counted itself.
            if reason != DropReason::Rejected {
                let mut ranges = Vec::new();
                pack::pack(batch.body(), max_payload, &mut ranges);
                let bytes = ranges.iter().map(|r| r.len() as u64).sum();
                counters.dropped_queue(ranges.len() as u64, bytes);
            }
        })
}
