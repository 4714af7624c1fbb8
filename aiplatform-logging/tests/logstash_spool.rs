//! Logstash is down for longer than the memory queue holds, and the process "restarts" (the
//! sink is dropped and re-created on the same spool directory): every event is delivered, in
//! order, once Logstash is back.

mod common;

use std::time::Duration;

use aiplatform_logging::{FullPolicy, LogGuard, LogstashConfig, Output, SpoolConfig};
use aiplatform_testkit::free_port;
use common::{Receiver, metric};
use tracing_subscriber::prelude::*;

fn sink(port: u16, dir: &std::path::Path) -> (aiplatform_logging::LogLayer, LogGuard) {
    let cfg = LogstashConfig::new(format!("127.0.0.1:{port}"))
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
        .spill_after(Duration::from_millis(20))
        .confirm_after(Duration::from_millis(50))
        .spool(SpoolConfig::new(dir).segment_bytes(64 * 1024));
    aiplatform_logging::builder()
        .service_name("spool-test")
        .shutdown_timeout(Duration::from_secs(2))
        .output(
            Output::logstash(cfg)
                .queue_capacity(100)
                .full_policy(FullPolicy::Block(Duration::from_secs(5))),
        )
        .build()
        .unwrap()
}

fn emit(layer: aiplatform_logging::LogLayer, range: std::ops::Range<usize>) {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in range {
            tracing::info!(i, "spooled event {i}");
        }
    });
}

#[test]
fn outage_longer_than_the_queue_and_a_restart_lose_nothing() {
    let spool = aiplatform_testkit::TempDir::new("log-spool");
    let dir = spool.path();
    let port = free_port();

    // First process: Logstash is down the whole time; 3000 events, queue of 100.
    let (layer, guard) = sink(port, dir);
    let registry = guard.registry().clone();
    emit(layer, 0..3000);
    drop(guard);
    for reason in [
        "queue_full",
        "queue_timeout",
        "spool_full",
        "shutdown",
        "io_error",
    ] {
        let labels = [("sink", "logstash"), ("reason", reason)];
        assert_eq!(
            metric(&registry, "aiplatform_log_events_dropped_total", &labels),
            0.0,
            "{reason}"
        );
    }
    let spooled: u64 = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        spooled > 3000 * 50,
        "the spool holds the events ({spooled} bytes)"
    );

    // Second process: Logstash is back; the spool is replayed first, then new events.
    let rx = Receiver::start(port);
    let (layer, guard) = sink(port, dir);
    emit(layer, 3000..3100);
    assert!(guard.flush(Duration::from_secs(20)));
    assert!(rx.wait_for(Duration::from_secs(10), |l| l.len() >= 3100));
    drop(guard);
    let order: Vec<usize> = rx
        .received()
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(&r.line).unwrap();
            v["labels"]["i"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(
        order,
        (0..3100).collect::<Vec<_>>(),
        "delivered once each, in order"
    );
}
