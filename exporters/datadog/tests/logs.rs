//! Logs to `POST /api/v2/logs`: a stand-in intake decodes every request and checks the
//! documented fields and limits against the events sent.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aiplatform_datadog::{Datadog, MAX_LOG_BYTES, TRUNCATION_MARKER};
use aiplatform_logging::LogGuard;
use serde_json::Value;
use support::{Intake, Request};
use tracing_subscriber::prelude::*;

const KEY: &str = "fedcba9876543210fedcba9876543210";

fn datadog(intake: &Intake) -> Datadog {
    let vars = [
        ("DD_API_KEY", KEY.to_owned()),
        ("DD_LOGS_CONFIG_LOGS_DD_URL", intake.url()),
        ("DD_HOSTNAME", "web-1".to_owned()),
        ("DD_ENV", "prod".to_owned()),
        ("DD_SERVICE", "billing".to_owned()),
        ("DD_VERSION", "1.4.2".to_owned()),
    ];
    Datadog::from_vars(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
}

/// Runs `f` with events going to `intake`, then flushes.
fn with_logs(intake: &Intake, f: impl FnOnce()) -> LogGuard {
    let output = datadog(intake).logs_output().unwrap();
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("billing")
        .service_version("1.4.2")
        .filter("debug")
        .output(output)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    guard.flush(Duration::from_secs(20));
    guard
}

/// Checks one request against the intake's contract; returns its logs.
fn check(req: &Request) -> Vec<Value> {
    assert_eq!(req.path, "/api/v2/logs");
    assert_eq!(req.header("dd-api-key"), Some(KEY));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert!(
        req.body.len() <= 5_000_000,
        "{} bytes uncompressed",
        req.body.len()
    );
    let logs = req.json().as_array().expect("a JSON array").clone();
    assert!(
        !logs.is_empty() && logs.len() <= 1000,
        "{} logs",
        logs.len()
    );
    for log in &logs {
        assert!(serde_json::to_vec(log).unwrap().len() <= 1_000_000);
        assert_eq!(log["ddsource"], "rust");
        assert_eq!(log["ddtags"], "env:prod,service:billing,version:1.4.2");
        assert_eq!(log["hostname"], "web-1");
        assert_eq!(log["service"], "billing");
        assert!(log["message"].is_string());
        assert!(
            ["error", "warn", "info", "debug"].contains(&log["status"].as_str().unwrap()),
            "{log}"
        );
        assert!(log["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        assert!(log["@timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(log["log.logger"].is_string() && log["log.level"].is_string());
    }
    logs
}

fn all_logs(intake: &Intake) -> Vec<Value> {
    intake.requests().iter().flat_map(check).collect()
}

#[derive(Debug)]
struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

impl std::error::Error for Boom {}

#[test]
fn events_arrive_with_datadog_and_ecs_attributes_redacted() {
    let intake = Intake::accepting();
    let _guard = with_logs(&intake, || {
        tracing::info!(
            order = 7_u64,
            amount = 12.5,
            password = "hunter2",
            "payment accepted"
        );
        tracing::error!(
            error = &Boom as &dyn std::error::Error,
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            "payment failed"
        );
        tracing::warn!(service = "spoof", "slow");
        tracing::debug!("details");
    });
    let logs = all_logs(&intake);
    let by_msg = |m: &str| {
        logs.iter()
            .find(|l| l["message"] == m)
            .unwrap_or_else(|| panic!("no {m} in {logs:#?}"))
    };
    let ok = by_msg("payment accepted");
    assert_eq!(ok["status"], "info");
    assert_eq!(ok["order"], 7);
    assert_eq!(ok["amount"], 12.5);
    assert_eq!(ok["password"], "[REDACTED]");
    assert_eq!(ok["service.version"], "1.4.2");
    assert!(ok["process.pid"].as_u64().is_some());
    let failed = by_msg("payment failed");
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error.message"], "card declined");
    assert_eq!(failed["trace.id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    // A field cannot override a reserved attribute.
    let slow = by_msg("slow");
    assert_eq!(slow["status"], "warn");
    assert_eq!(slow["service"], "billing");
    assert_eq!(slow["field.service"], "spoof");
    assert_eq!(by_msg("details")["status"], "debug");
    let raw: Vec<u8> = intake
        .requests()
        .iter()
        .flat_map(|r| r.body.clone())
        .collect();
    assert!(!String::from_utf8_lossy(&raw).contains("hunter2"));
}

#[test]
fn at_most_1000_logs_per_request_and_every_one_once() {
    let intake = Intake::accepting();
    let _guard = with_logs(&intake, || {
        for i in 0..2500 {
            tracing::info!(i, "event {i}");
        }
    });
    let reqs = intake.requests();
    assert!(reqs.len() >= 3, "{} requests", reqs.len());
    let mut seen: Vec<u64> = all_logs(&intake)
        .iter()
        .filter_map(|l| l["i"].as_u64())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..2500).collect::<Vec<_>>());
}

#[test]
fn a_log_over_1_mb_is_cut_with_a_marker_never_dropped() {
    let intake = Intake::accepting();
    let big = "é".repeat(1_500_000);
    let field = "x".repeat(400_000);
    let _guard = with_logs(&intake, || {
        tracing::info!(blob = field.as_str(), "{big}");
        tracing::info!("after");
    });
    let logs = all_logs(&intake);
    let cut = logs
        .iter()
        .find(|l| l["truncated"] == true)
        .unwrap_or_else(|| panic!("no truncated log in {} logs", logs.len()));
    let len = serde_json::to_vec(cut).unwrap().len();
    assert!(
        len <= MAX_LOG_BYTES && len > MAX_LOG_BYTES / 2,
        "{len} bytes"
    );
    let msg = cut["message"].as_str().unwrap();
    assert!(msg.ends_with(TRUNCATION_MARKER) && msg.starts_with("éé"));
    assert!(cut["blob"].as_str().unwrap().starts_with("xxx"));
    assert!(logs.iter().any(|l| l["message"] == "after"));
}

#[test]
fn too_large_is_split_and_rate_limits_are_retried() {
    let intake = Intake::scripted(Arc::new(|req, n| {
        if n == 1 {
            return (429, vec![("retry-after", "1".into())], "{}".into());
        }
        if req.body.len() > 30_000 {
            return (413, Vec::new(), "{}".into());
        }
        (202, Vec::new(), "{}".into())
    }));
    let _guard = with_logs(&intake, || {
        for i in 0..300 {
            tracing::info!(i, pad = "p".repeat(200).as_str(), "event");
        }
    });
    let accepted: Vec<Value> = intake
        .requests()
        .iter()
        .skip(1)
        .filter(|r| r.body.len() <= 30_000)
        .flat_map(check)
        .collect();
    let mut seen: Vec<u64> = accepted.iter().filter_map(|l| l["i"].as_u64()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
}

#[test]
fn a_refused_key_drops_unsent_and_is_never_shown() {
    let intake = Intake::scripted(Arc::new(|_, _| {
        (403, Vec::new(), r#"{"errors":["Forbidden"]}"#.into())
    }));
    let dd = datadog(&intake);
    assert!(!format!("{dd:?}").contains(KEY));
    let config = dd.logs_export_config().unwrap();
    assert!(!format!("{config:?}").contains(KEY));
    let registry = aiplatform_metrics::Registry::new();
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("billing")
        .registry(registry.clone())
        .output(aiplatform_logging::Output::export(config).name("datadog"))
        .build()
        .unwrap();
    let sub = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(sub, || {
        tracing::info!("first");
        guard.flush(Duration::from_secs(10));
        tracing::info!("second");
        guard.flush(Duration::from_secs(10));
    });
    assert_eq!(
        intake.requests().len(),
        1,
        "sent again after the key was refused"
    );
    let text =
        String::from_utf8(registry.encode(aiplatform_metrics::ExpositionFormat::Text)).unwrap();
    assert!(!text.contains(KEY));
    let dropped: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("aiplatform_log_events_dropped_total{") && l.contains("sink=\"datadog\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(dropped >= 2.0, "{text}");
}

#[test]
fn logs_need_a_key() {
    let err = Datadog::new().logs_output().unwrap_err().to_string();
    assert!(err.contains("DD_API_KEY"), "{err}");
}
