//! Queued writers, rotating files, full-queue accounting, self-metrics and configuration errors.

mod common;

use std::io::Write;
use std::time::Duration;

use aiplatform_logging::{Error, Format, FullPolicy, Output, Rotation};
use aiplatform_metrics::Registry;
use common::{Buf, metric};
use tracing_subscriber::prelude::*;

/// A writer that is slow, so a small queue overflows.
#[derive(Clone, Default)]
struct Slow(Buf);

impl Write for Slow {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_line_is_written_or_counted_as_dropped_and_the_gap_is_reported() {
    const N: usize = 300;
    let out = Slow::default();
    let registry = Registry::new();
    let (layer, guard) = aiplatform_logging::builder()
        .registry(registry.clone())
        .output(
            Output::writer(out.clone(), Format::Json)
                .queue_capacity(4)
                .full_policy(FullPolicy::DropNewest),
        )
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..N {
            tracing::info!(i, "line {i}");
        }
    });
    assert!(guard.flush(Duration::from_secs(10)));
    // Stopping reports any drops not yet reported (notices are otherwise once a second).
    drop(guard);
    let lines = out.0.lines();
    let events = lines
        .iter()
        .filter(|l| l.contains("\"message\":\"line "))
        .count();
    let dropped = metric(
        &registry,
        "aiplatform_log_events_dropped_total",
        &[("sink", "writer"), ("reason", "queue_full")],
    ) as usize;
    assert!(
        dropped > 0,
        "a 4-line queue in front of a slow writer must overflow"
    );
    assert_eq!(events + dropped, N, "written {events} + dropped {dropped}");
    let notices: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["log.logger"] == "aiplatform_logging")
        .collect();
    assert!(!notices.is_empty(), "a WARN record reports the gap");
    assert_eq!(notices[0]["log.level"], "WARN");
    let reported: u64 = notices
        .iter()
        .map(|v| {
            v["labels"]["dropped_queue_full"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(reported as usize, dropped);
    assert_eq!(
        metric(&registry, "aiplatform_log_events_total", &[]),
        N as f64
    );
}

#[test]
fn drop_oldest_keeps_the_newest_lines() {
    let out = Slow::default();
    let registry = Registry::new();
    let (layer, guard) = aiplatform_logging::builder()
        .registry(registry.clone())
        .output(
            Output::writer(out.clone(), Format::Logfmt)
                .queue_capacity(4)
                .full_policy(FullPolicy::DropOldest),
        )
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..200 {
            tracing::info!(i, "line");
        }
    });
    assert!(guard.flush(Duration::from_secs(10)));
    drop(guard);
    let text = out.0.text();
    assert!(text.contains(" i=199 "), "the newest line survives: {text}");
    assert!(
        metric(
            &registry,
            "aiplatform_log_events_dropped_total",
            &[("sink", "writer"), ("reason", "queue_full")]
        ) > 0.0
    );
}

#[test]
fn rolling_file_output() {
    let dir = aiplatform_testkit::TempDir::new("log-files");
    let (layer, guard) = aiplatform_logging::builder()
        .output(Output::rolling_file(dir.path(), "app", Rotation::DAILY, Format::Json).max_files(3))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(token = "abc", "to a file");
    });
    drop(guard);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().into_string().unwrap();
    assert!(name.starts_with("app.") && name.ends_with(".log"), "{name}");
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(v["message"], "to a file");
    assert_eq!(v["labels"]["token"], "[REDACTED]");
}

#[test]
fn self_metrics_count_events_and_redactions() {
    let buf = Buf::default();
    let registry = Registry::new();
    let (layer, guard) = aiplatform_logging::builder()
        .registry(registry.clone())
        .output(Output::blocking_writer(buf, Format::Json))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("s", password = "p");
        let _e = span.enter();
        tracing::info!(
            api_key = "k",
            "Bearer abcdef123456 and card 4111111111111111"
        );
        tracing::info!("nothing secret");
    });
    assert_eq!(metric(&registry, "aiplatform_log_events_total", &[]), 2.0);
    // span password, event api_key, bearer token, card number
    assert_eq!(
        metric(&registry, "aiplatform_log_redactions_total", &[]),
        4.0
    );
    // Registering the same families twice in one registry is a typed error.
    let again = aiplatform_logging::builder()
        .registry(registry.clone())
        .build();
    assert!(matches!(again, Err(Error::Metrics(_))));
    drop(guard);
}

#[test]
fn configuration_errors_are_typed() {
    assert!(matches!(
        aiplatform_logging::builder().filter("info,=[").env_filter(),
        Err(Error::Filter { .. })
    ));
    assert!(matches!("xml".parse::<Format>(), Err(Error::Format { .. })));
    assert_eq!("LOGFMT".parse::<Format>().unwrap(), Format::Logfmt);
    let bad = aiplatform_logging::builder()
        .output(Output::logstash(aiplatform_logging::LogstashConfig::new(
            "no-port",
        )))
        .build();
    assert!(matches!(bad, Err(Error::Address(_))));
    let spool_file = std::env::temp_dir().join(format!("aiplog-not-a-dir-{}", std::process::id()));
    std::fs::write(&spool_file, b"x").unwrap();
    let bad = aiplatform_logging::builder()
        .output(Output::logstash(
            aiplatform_logging::LogstashConfig::new("127.0.0.1:1")
                .spool(aiplatform_logging::SpoolConfig::new(&spool_file)),
        ))
        .build();
    assert!(matches!(bad, Err(Error::Spool { .. })));
    let _ = std::fs::remove_file(&spool_file);
}
