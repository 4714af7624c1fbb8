//! An output's own encoder runs on the output's thread, from the event the layer copied once;
//! `capture` runs on the application thread and can leave an event out.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiplatform_logging::{
    EventEncoder, ExportConfig, ExportOutcome, LogBatch, LogEvent, LogExporter, Output,
};
use tracing_subscriber::prelude::*;

/// Writes `thread-that-encoded|captured|message`; leaves out events whose message is `skip`.
struct ThreadNames;

impl EventEncoder for ThreadNames {
    fn encode(&self, event: &LogEvent<'_>, out: &mut Vec<u8>) {
        let thread = std::thread::current();
        out.extend_from_slice(thread.name().unwrap_or("?").as_bytes());
        out.push(b'|');
        out.extend_from_slice(event.captured());
        out.push(b'|');
        out.extend_from_slice(event.message().as_bytes());
    }

    fn capture(&self, event: &LogEvent<'_>, context: &mut Vec<u8>) -> bool {
        if event.message() == "skip" {
            return false;
        }
        let thread = std::thread::current();
        context.extend_from_slice(thread.name().unwrap_or("?").as_bytes());
        true
    }
}

struct Collect(Arc<Mutex<Vec<String>>>);

impl LogExporter for Collect {
    fn export(&mut self, batch: &LogBatch<'_>) -> ExportOutcome {
        let mut seen = self.0.lock().unwrap();
        for r in batch.records() {
            seen.push(String::from_utf8(r.to_vec()).unwrap());
        }
        ExportOutcome::Delivered
    }
}

#[test]
fn encode_runs_on_the_output_thread_and_capture_on_the_application_thread() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let registry = aiplatform_metrics::Registry::new();
    let out = |name: &str| {
        Output::export(
            ExportConfig::new(Collect(seen.clone()))
                .encoder(ThreadNames)
                .linger(Duration::from_millis(10)),
        )
        .name(name)
    };
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("t")
        .registry(registry.clone())
        .output(out("first"))
        .output(out("second"))
        .build()
        .unwrap();
    let app = std::thread::Builder::new()
        .name("app-thread".into())
        .spawn(move || {
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, || {
                tracing::info!(secret = "hunter2", "one");
                tracing::info!("skip");
                tracing::warn!("two");
            });
        })
        .unwrap();
    app.join().unwrap();
    assert!(guard.flush(Duration::from_secs(5)));
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            "log-first|app-thread|one",
            "log-first|app-thread|two",
            "log-second|app-thread|one",
            "log-second|app-thread|two",
        ]
    );
    // Left out by `capture`: not a drop.
    let drops: f64 = ["first", "second"]
        .iter()
        .flat_map(|sink| {
            ["queue_full", "rejected", "closed"].map(|reason| {
                common::metric(
                    &registry,
                    "aiplatform_log_events_dropped_total",
                    &[("sink", sink), ("reason", reason)],
                )
            })
        })
        .sum();
    assert_eq!(drops, 0.0);
}
