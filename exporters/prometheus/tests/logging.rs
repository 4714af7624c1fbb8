//! Exporter logging: what `--log.level` and `--log.format` install, written as the Go
//! exporters write it. In its own test binary, since one test installs the global subscriber.

use std::time::Duration;

use aiplatform_logging::{Format, Output};
use aiplatform_prometheus::{LogFormat, LogLevel, exporter_logging, init_logging};
use aiplatform_testkit::Buf;
use tracing_subscriber::prelude::*;

#[test]
fn lines_look_like_the_go_exporters_and_carry_no_fingerprint() {
    let out = Buf::default();
    let (layer, guard) = exporter_logging(LogLevel::Info, LogFormat::Logfmt)
        .output(Output::blocking_writer(out.clone(), Format::Logfmt))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(address = "[::]:9100", "Listening on");
    });
    assert!(guard.flush(Duration::from_secs(5)));
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.starts_with("ts="), "{line}");
    assert!(line.contains(" level=info msg=\"Listening on\""), "{line}");
    assert!(line.contains("address=[::]:9100"), "{line}");
    assert!(!line.contains("event_hash"), "{line}");
}

#[test]
fn the_level_flag_filters_and_logging_installs_once() {
    for (flag, want) in [
        (LogLevel::Debug, "debug"),
        (LogLevel::Info, "info"),
        (LogLevel::Warn, "warn"),
        (LogLevel::Error, "error"),
    ] {
        let filter = exporter_logging(flag, LogFormat::Json)
            .env_filter()
            .unwrap();
        assert_eq!(filter.to_string(), want);
        assert_eq!(flag.level().as_str().to_ascii_lowercase(), want);
    }
    let guard = init_logging(LogLevel::Debug, LogFormat::Logfmt).expect("first install");
    tracing::debug!(collector = "cpu", "collector succeeded");
    assert!(tracing::enabled!(tracing::Level::DEBUG));
    assert!(matches!(
        init_logging(LogLevel::Info, LogFormat::Json),
        Err(aiplatform_logging::Error::AlreadyInstalled(_))
    ));
    assert!(guard.flush(Duration::from_secs(5)));
}
