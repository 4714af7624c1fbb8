//! The Log API output against a receiver that records what it gets and answers as New Relic
//! does: every payload decoded, checked against the documented contract, and compared with the
//! `tracing` events that were sent.

#[path = "../../push/tests/support/mod.rs"]
mod support;

mod contract;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aiplatform_logging::{LogGuard, LogLayer, Output};
use aiplatform_metrics::Registry;
use aiplatform_newrelic::{LOGS_SINK, NewRelic};
use aiplatform_push::SecretSource;
use contract::{Log, log_payload};
use serde_json::{Value, json};
use support::*;
use tracing_subscriber::prelude::*;

const KEY: &str = "0123456789abcdef0123456789abcdef0123NRAL";

fn accepted() -> Reply {
    Reply::status(202).body(r#"{"requestId":"7d0e5a3c-2b1f-4e6a-8c9d-0a1b2c3d4e5f"}"#)
}

fn newrelic(rx: &Receiver) -> NewRelic {
    NewRelic::license_key(SecretSource::value(KEY))
        .log_url(rx.url("/log/v1"))
        .host_name("web-1")
        .attribute("team", "payments")
}

/// A logging layer with the New Relic output built from `output`, counting into `registry`.
fn logging(output: Output, registry: &Registry) -> (LogLayer, LogGuard) {
    aiplatform_logging::builder()
        .service_name("billing")
        .service_version("1.4.2")
        .service_environment("prod")
        .registry(registry.clone())
        .shutdown_timeout(Duration::from_secs(3))
        .output(output)
        .build()
        .unwrap()
}

fn emit(layer: &LogLayer, f: impl FnOnce()) {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer.clone()), f);
}

fn decoded(rx: &Receiver) -> Vec<Vec<Log>> {
    rx.requests()
        .iter()
        .map(|r| log_payload(r, "api-key", KEY))
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn dropped(registry: &Registry, reason: &str) -> f64 {
    metric(
        registry,
        &format!(r#"aiplatform_log_events_dropped_total{{sink="{LOGS_SINK}",reason="{reason}"}}"#),
    )
}

/// The application's events (not the output's own drop notices).
fn ours(l: &Log) -> bool {
    !l.message.contains("dropped")
}

#[test]
fn payloads_follow_the_contract_and_match_the_events_sent() {
    let rx = Receiver::start_with(None, Arc::new(|_: &Captured, _: &[Captured]| accepted()));
    let registry = Registry::new();
    let (layer, guard) = logging(newrelic(&rx).log_output().unwrap(), &registry);
    let before = now_ms();
    emit(&layer, || {
        let span = tracing::info_span!(
            "request",
            tenant = "acme",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7"
        );
        let _in = span.enter();
        for i in 0..40u64 {
            tracing::info!(target: "billing::pay", amount = 12.5, paid = true, order.id = i, "payment accepted");
        }
        let err = std::io::Error::other("disk full");
        tracing::error!(
            target: "billing::store",
            password = "hunter2",
            count = 3,
            level = "custom",
            error = &err as &dyn std::error::Error,
            "write failed for card 4111 1111 1111 1111"
        );
        tracing::warn!(big = u64::MAX, ratio = f64::NAN, "odd numbers");
    });
    assert!(guard.flush(Duration::from_secs(10)));
    let after = now_ms();

    let requests = rx.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let text = r.text();
        assert!(
            !text.contains("hunter2") && !text.contains("4111 1111"),
            "{text}"
        );
    }
    let logs: Vec<Log> = decoded(&rx).into_iter().flatten().filter(ours).collect();
    assert_eq!(logs.len(), 42, "every event once, in order");

    // The common block: the process's resource, the host and attributes configured, once.
    let common = &logs[0].common;
    let want_common = json!({
        "service.name": "billing",
        "service.version": "1.4.2",
        "service.environment": "prod",
        "host.name": "web-1",
        "process.pid": std::process::id(),
        "collector.name": "aiplatform-newrelic",
        "collector.version": env!("CARGO_PKG_VERSION"),
        "team": "payments",
    });
    assert_eq!(&Value::Object(common.clone()), &want_common);
    for l in &logs {
        assert_eq!(&l.common, common);
        assert!(
            l.timestamp >= before && l.timestamp <= after,
            "{} not within the test",
            l.timestamp
        );
    }
    assert!(logs.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));

    for (i, l) in logs[..40].iter().enumerate() {
        assert_eq!(l.message, "payment accepted");
        for (k, v) in [
            ("level", json!("INFO")),
            ("logger.name", json!("billing::pay")),
            ("order.id", json!(i)),
            ("amount", json!(12.5)),
            ("paid", json!(true)),
            ("tenant", json!("acme")),
            ("spans", json!("request")),
            ("trace.id", json!("4bf92f3577b34da6a3ce929d0e0e4736")),
            ("span.id", json!("00f067aa0ba902b7")),
        ] {
            assert_eq!(l.attr(k), &v, "{k} of event {i}: {l:?}");
        }
        assert!(l.attr("event.hash").is_string(), "{l:?}");
        assert!(
            l.attr("code.filepath")
                .as_str()
                .unwrap()
                .ends_with("logs.rs")
        );
        assert!(l.attr("code.lineno").is_u64());
    }
    let sequences: Vec<u64> = logs
        .iter()
        .map(|l| l.attr("event.sequence").as_u64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");

    let failed = &logs[40];
    assert_eq!(failed.message, "write failed for card [REDACTED]");
    for (k, v) in [
        ("level", json!("ERROR")),
        ("logger.name", json!("billing::store")),
        ("password", json!("[REDACTED]")),
        // Names New Relic reserves, or that the encoder writes itself, keep the field apart.
        ("field.count", json!(3)),
        ("field.level", json!("custom")),
        ("error.message", json!("disk full")),
        ("error.class", json!("std::io::Error")),
    ] {
        assert_eq!(failed.attr(k), &v, "{k}: {failed:?}");
    }
    let odd = &logs[41];
    assert_eq!(odd.attr("level"), &json!("WARN"));
    // Beyond a Java long, or not finite: New Relic would drop a number, so it goes as text.
    assert_eq!(odd.attr("big"), &json!(u64::MAX.to_string()));
    assert_eq!(odd.attr("ratio"), &json!("NaN"));

    assert_eq!(dropped(&registry, "rejected"), 0.0);
    drop(guard);
}

/// Words that gzip cannot shrink much, and that the redactor leaves alone.
fn noisy(seed: u64, len: usize) -> String {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut s = String::with_capacity(len);
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let c = b"abcdefghijklmnopqrstuvwxyz"[(x % 26) as usize] as char;
        s.push(c);
        if x.is_multiple_of(7) {
            s.push(' ');
        }
    }
    s
}

#[test]
fn long_values_are_cut_with_a_marker_and_bodies_stay_below_the_limit() {
    let rx = Receiver::start_with(None, Arc::new(|_: &Captured, _: &[Captured]| accepted()));
    let registry = Registry::new();
    // Batches far above what compresses to 10^6 bytes: the output cuts them before sending.
    let export = newrelic(&rx)
        .log_export()
        .unwrap()
        .max_batch_bytes(8 * 1024 * 1024)
        .linger(Duration::from_secs(30));
    let (layer, guard) = logging(Output::export(export).name(LOGS_SINK), &registry);
    let long = noisy(99, 300_000);
    emit(&layer, || {
        tracing::info!(payload = long.as_str(), "one long value");
        for i in 0..40u64 {
            tracing::info!(i, body = noisy(i, 100_000).as_str(), "bulk");
        }
    });
    assert!(guard.flush(Duration::from_secs(20)));

    let pushes = decoded(&rx); // checks every body is at most 10^6 bytes compressed
    let logs: Vec<Log> = pushes
        .iter()
        .flatten()
        .filter(|l| ours(l))
        .cloned()
        .collect();
    assert_eq!(logs.len(), 41, "nothing lost to the cut");
    assert!(
        pushes.len() >= 4,
        "about 4 MB of text that gzip shrinks by a third cannot go in fewer than 3 bodies: {}",
        pushes.len()
    );
    let cut = logs[0].attr("payload").as_str().unwrap();
    // New Relic keeps the first 4094 characters and 128 000 bytes more (ASCII here).
    assert!(cut.len() <= 4094 + 128_000 && cut.len() > 4094 + 128_000 - 60);
    let marker = cut.rfind("…[truncated: ").expect("the cut shows");
    assert_eq!(&cut[..marker], &long[..marker]);
    assert_eq!(
        &cut[marker..],
        format!("…[truncated: {marker} of 300000 bytes]")
    );
    for (i, l) in logs[1..].iter().enumerate() {
        assert_eq!(l.attr("i"), &json!(i), "in order");
        assert_eq!(l.attr("body"), &json!(noisy(i as u64, 100_000)));
    }
    assert_eq!(dropped(&registry, "too_large"), 0.0);
    drop(guard);
}

/// A layer whose output retries quickly.
fn quick(rx: &Receiver, registry: &Registry) -> (LogLayer, LogGuard) {
    let export = newrelic(rx)
        .log_export()
        .unwrap()
        .backoff(Duration::from_millis(10), Duration::from_millis(50));
    logging(Output::export(export).name(LOGS_SINK), registry)
}

fn log_n(layer: &LogLayer, from: u64, n: u64) {
    emit(layer, || {
        for i in from..from + n {
            tracing::info!(i, "event");
        }
    });
}

fn indices(logs: &[Log]) -> Vec<u64> {
    logs.iter()
        .filter(|l| ours(l))
        .map(|l| l.attr("i").as_u64().unwrap())
        .collect()
}

#[test]
fn a_400_is_dropped_counted_and_not_retried() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, seen: &[Captured]| {
            if seen.len() == 1 {
                Reply::status(400).body(r#"{"error":"invalid json"}"#)
            } else {
                accepted()
            }
        }),
    );
    let registry = Registry::new();
    let (layer, guard) = quick(&rx, &registry);
    log_n(&layer, 0, 5);
    guard.flush(Duration::from_secs(5));
    assert_eq!(rx.requests().len(), 1, "not retried");
    assert_eq!(dropped(&registry, "rejected"), 5.0);
    log_n(&layer, 5, 3);
    assert!(guard.flush(Duration::from_secs(5)));
    let pushes = decoded(&rx);
    assert_eq!(indices(&pushes[0]), [0, 1, 2, 3, 4]);
    let later: Vec<Log> = pushes[1..].iter().flatten().cloned().collect();
    assert_eq!(indices(&later), [5, 6, 7]);
    // The drop explains itself in New Relic, with what the intake said.
    let notice = later
        .iter()
        .find(|l| !ours(l))
        .expect("a drop notice follows");
    assert_eq!(notice.attr("dropped_rejected"), &json!(5));
    assert!(
        notice
            .attr("last_error")
            .as_str()
            .unwrap()
            .contains("invalid json"),
        "{notice:?}"
    );
    drop(guard);
}

#[test]
fn a_413_is_answered_by_sending_halves() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, seen: &[Captured]| {
            if seen.len() == 1 {
                Reply::status(413)
            } else {
                accepted()
            }
        }),
    );
    let registry = Registry::new();
    let (layer, guard) = quick(&rx, &registry);
    log_n(&layer, 0, 8);
    assert!(guard.flush(Duration::from_secs(5)));
    let pushes = decoded(&rx);
    let sizes: Vec<usize> = pushes.iter().map(Vec::len).collect();
    assert_eq!(sizes, [8, 4, 4]);
    let resent: Vec<Log> = pushes[1..].iter().flatten().cloned().collect();
    assert_eq!(indices(&resent), (0..8).collect::<Vec<_>>());
    assert_eq!(dropped(&registry, "too_large"), 0.0);
    drop(guard);
}

#[test]
fn a_429_waits_for_retry_after_and_a_503_is_retried() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, seen: &[Captured]| match seen.len() {
            1 => Reply::status(429).header("Retry-After", "1"),
            2 => Reply::status(503),
            _ => accepted(),
        }),
    );
    let registry = Registry::new();
    let (layer, guard) = quick(&rx, &registry);
    log_n(&layer, 0, 3);
    assert!(guard.flush(Duration::from_secs(10)));
    let requests = rx.requests();
    assert_eq!(requests.len(), 3);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
    assert!(requests[2].at - requests[1].at < Duration::from_millis(900));
    let pushes = decoded(&rx);
    for p in &pushes {
        assert_eq!(indices(p), [0, 1, 2], "the same batch each time");
    }
    assert_eq!(dropped(&registry, "rejected"), 0.0);
    drop(guard);
}

#[test]
fn a_403_stops_the_output_and_says_once_that_the_key_was_refused() {
    capture_logs();
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, _: &[Captured]| Reply::status(403)),
    );
    let registry = Registry::new();
    let (layer, guard) = quick(&rx, &registry);
    log_n(&layer, 0, 4);
    guard.flush(Duration::from_secs(5));
    log_n(&layer, 4, 4);
    guard.flush(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1200)); // room for a drop notice
    log_n(&layer, 8, 1);
    guard.flush(Duration::from_secs(5));
    assert_eq!(rx.requests().len(), 1, "nothing is sent after the 403");
    assert_eq!(dropped(&registry, "rejected"), 9.0);
    let said: Vec<String> = logs()
        .lines()
        .filter(|l| l.contains("the Log API refuses this sender"))
        .map(str::to_owned)
        .collect();
    assert_eq!(said.len(), 1, "said once: {said:?}");
    assert!(said[0].contains("ERROR") && said[0].contains("refused the license key"));
    assert!(!said[0].contains(KEY));
    drop(guard);
}

/// Nine spans of thirty fields each: 270 fields on one event, more than New Relic keeps.
fn in_wide_spans(f: impl FnOnce()) {
    let s0 = tracing::info_span!(
        "wide0",
        w0_0 = 0u64,
        w0_1 = 1u64,
        w0_2 = 2u64,
        w0_3 = 3u64,
        w0_4 = 4u64,
        w0_5 = 5u64,
        w0_6 = 6u64,
        w0_7 = 7u64,
        w0_8 = 8u64,
        w0_9 = 9u64,
        w0_10 = 10u64,
        w0_11 = 11u64,
        w0_12 = 12u64,
        w0_13 = 13u64,
        w0_14 = 14u64,
        w0_15 = 15u64,
        w0_16 = 16u64,
        w0_17 = 17u64,
        w0_18 = 18u64,
        w0_19 = 19u64,
        w0_20 = 20u64,
        w0_21 = 21u64,
        w0_22 = 22u64,
        w0_23 = 23u64,
        w0_24 = 24u64,
        w0_25 = 25u64,
        w0_26 = 26u64,
        w0_27 = 27u64,
        w0_28 = 28u64,
        w0_29 = 29u64
    );
    let _e0 = s0.enter();
    let s1 = tracing::info_span!(
        "wide1",
        w1_0 = 0u64,
        w1_1 = 1u64,
        w1_2 = 2u64,
        w1_3 = 3u64,
        w1_4 = 4u64,
        w1_5 = 5u64,
        w1_6 = 6u64,
        w1_7 = 7u64,
        w1_8 = 8u64,
        w1_9 = 9u64,
        w1_10 = 10u64,
        w1_11 = 11u64,
        w1_12 = 12u64,
        w1_13 = 13u64,
        w1_14 = 14u64,
        w1_15 = 15u64,
        w1_16 = 16u64,
        w1_17 = 17u64,
        w1_18 = 18u64,
        w1_19 = 19u64,
        w1_20 = 20u64,
        w1_21 = 21u64,
        w1_22 = 22u64,
        w1_23 = 23u64,
        w1_24 = 24u64,
        w1_25 = 25u64,
        w1_26 = 26u64,
        w1_27 = 27u64,
        w1_28 = 28u64,
        w1_29 = 29u64
    );
    let _e1 = s1.enter();
    let s2 = tracing::info_span!(
        "wide2",
        w2_0 = 0u64,
        w2_1 = 1u64,
        w2_2 = 2u64,
        w2_3 = 3u64,
        w2_4 = 4u64,
        w2_5 = 5u64,
        w2_6 = 6u64,
        w2_7 = 7u64,
        w2_8 = 8u64,
        w2_9 = 9u64,
        w2_10 = 10u64,
        w2_11 = 11u64,
        w2_12 = 12u64,
        w2_13 = 13u64,
        w2_14 = 14u64,
        w2_15 = 15u64,
        w2_16 = 16u64,
        w2_17 = 17u64,
        w2_18 = 18u64,
        w2_19 = 19u64,
        w2_20 = 20u64,
        w2_21 = 21u64,
        w2_22 = 22u64,
        w2_23 = 23u64,
        w2_24 = 24u64,
        w2_25 = 25u64,
        w2_26 = 26u64,
        w2_27 = 27u64,
        w2_28 = 28u64,
        w2_29 = 29u64
    );
    let _e2 = s2.enter();
    let s3 = tracing::info_span!(
        "wide3",
        w3_0 = 0u64,
        w3_1 = 1u64,
        w3_2 = 2u64,
        w3_3 = 3u64,
        w3_4 = 4u64,
        w3_5 = 5u64,
        w3_6 = 6u64,
        w3_7 = 7u64,
        w3_8 = 8u64,
        w3_9 = 9u64,
        w3_10 = 10u64,
        w3_11 = 11u64,
        w3_12 = 12u64,
        w3_13 = 13u64,
        w3_14 = 14u64,
        w3_15 = 15u64,
        w3_16 = 16u64,
        w3_17 = 17u64,
        w3_18 = 18u64,
        w3_19 = 19u64,
        w3_20 = 20u64,
        w3_21 = 21u64,
        w3_22 = 22u64,
        w3_23 = 23u64,
        w3_24 = 24u64,
        w3_25 = 25u64,
        w3_26 = 26u64,
        w3_27 = 27u64,
        w3_28 = 28u64,
        w3_29 = 29u64
    );
    let _e3 = s3.enter();
    let s4 = tracing::info_span!(
        "wide4",
        w4_0 = 0u64,
        w4_1 = 1u64,
        w4_2 = 2u64,
        w4_3 = 3u64,
        w4_4 = 4u64,
        w4_5 = 5u64,
        w4_6 = 6u64,
        w4_7 = 7u64,
        w4_8 = 8u64,
        w4_9 = 9u64,
        w4_10 = 10u64,
        w4_11 = 11u64,
        w4_12 = 12u64,
        w4_13 = 13u64,
        w4_14 = 14u64,
        w4_15 = 15u64,
        w4_16 = 16u64,
        w4_17 = 17u64,
        w4_18 = 18u64,
        w4_19 = 19u64,
        w4_20 = 20u64,
        w4_21 = 21u64,
        w4_22 = 22u64,
        w4_23 = 23u64,
        w4_24 = 24u64,
        w4_25 = 25u64,
        w4_26 = 26u64,
        w4_27 = 27u64,
        w4_28 = 28u64,
        w4_29 = 29u64
    );
    let _e4 = s4.enter();
    let s5 = tracing::info_span!(
        "wide5",
        w5_0 = 0u64,
        w5_1 = 1u64,
        w5_2 = 2u64,
        w5_3 = 3u64,
        w5_4 = 4u64,
        w5_5 = 5u64,
        w5_6 = 6u64,
        w5_7 = 7u64,
        w5_8 = 8u64,
        w5_9 = 9u64,
        w5_10 = 10u64,
        w5_11 = 11u64,
        w5_12 = 12u64,
        w5_13 = 13u64,
        w5_14 = 14u64,
        w5_15 = 15u64,
        w5_16 = 16u64,
        w5_17 = 17u64,
        w5_18 = 18u64,
        w5_19 = 19u64,
        w5_20 = 20u64,
        w5_21 = 21u64,
        w5_22 = 22u64,
        w5_23 = 23u64,
        w5_24 = 24u64,
        w5_25 = 25u64,
        w5_26 = 26u64,
        w5_27 = 27u64,
        w5_28 = 28u64,
        w5_29 = 29u64
    );
    let _e5 = s5.enter();
    let s6 = tracing::info_span!(
        "wide6",
        w6_0 = 0u64,
        w6_1 = 1u64,
        w6_2 = 2u64,
        w6_3 = 3u64,
        w6_4 = 4u64,
        w6_5 = 5u64,
        w6_6 = 6u64,
        w6_7 = 7u64,
        w6_8 = 8u64,
        w6_9 = 9u64,
        w6_10 = 10u64,
        w6_11 = 11u64,
        w6_12 = 12u64,
        w6_13 = 13u64,
        w6_14 = 14u64,
        w6_15 = 15u64,
        w6_16 = 16u64,
        w6_17 = 17u64,
        w6_18 = 18u64,
        w6_19 = 19u64,
        w6_20 = 20u64,
        w6_21 = 21u64,
        w6_22 = 22u64,
        w6_23 = 23u64,
        w6_24 = 24u64,
        w6_25 = 25u64,
        w6_26 = 26u64,
        w6_27 = 27u64,
        w6_28 = 28u64,
        w6_29 = 29u64
    );
    let _e6 = s6.enter();
    let s7 = tracing::info_span!(
        "wide7",
        w7_0 = 0u64,
        w7_1 = 1u64,
        w7_2 = 2u64,
        w7_3 = 3u64,
        w7_4 = 4u64,
        w7_5 = 5u64,
        w7_6 = 6u64,
        w7_7 = 7u64,
        w7_8 = 8u64,
        w7_9 = 9u64,
        w7_10 = 10u64,
        w7_11 = 11u64,
        w7_12 = 12u64,
        w7_13 = 13u64,
        w7_14 = 14u64,
        w7_15 = 15u64,
        w7_16 = 16u64,
        w7_17 = 17u64,
        w7_18 = 18u64,
        w7_19 = 19u64,
        w7_20 = 20u64,
        w7_21 = 21u64,
        w7_22 = 22u64,
        w7_23 = 23u64,
        w7_24 = 24u64,
        w7_25 = 25u64,
        w7_26 = 26u64,
        w7_27 = 27u64,
        w7_28 = 28u64,
        w7_29 = 29u64
    );
    let _e7 = s7.enter();
    let s8 = tracing::info_span!(
        "wide8",
        w8_0 = 0u64,
        w8_1 = 1u64,
        w8_2 = 2u64,
        w8_3 = 3u64,
        w8_4 = 4u64,
        w8_5 = 5u64,
        w8_6 = 6u64,
        w8_7 = 7u64,
        w8_8 = 8u64,
        w8_9 = 9u64,
        w8_10 = 10u64,
        w8_11 = 11u64,
        w8_12 = 12u64,
        w8_13 = 13u64,
        w8_14 = 14u64,
        w8_15 = 15u64,
        w8_16 = 16u64,
        w8_17 = 17u64,
        w8_18 = 18u64,
        w8_19 = 19u64,
        w8_20 = 20u64,
        w8_21 = 21u64,
        w8_22 = 22u64,
        w8_23 = 23u64,
        w8_24 = 24u64,
        w8_25 = 25u64,
        w8_26 = 26u64,
        w8_27 = 27u64,
        w8_28 = 28u64,
        w8_29 = 29u64
    );
    let _e8 = s8.enter();
    f();
}

#[test]
fn an_event_keeps_at_most_255_attributes_and_says_how_many_it_left_out() {
    let rx = Receiver::start_with(None, Arc::new(|_: &Captured, _: &[Captured]| accepted()));
    let registry = Registry::new();
    let (layer, guard) = logging(newrelic(&rx).log_output().unwrap(), &registry);
    emit(&layer, || in_wide_spans(|| tracing::info!("wide")));
    assert!(guard.flush(Duration::from_secs(10)));
    // The contract checks that common and own attributes together are at most 255.
    let logs: Vec<Log> = decoded(&rx).into_iter().flatten().collect();
    assert_eq!(logs.len(), 1);
    let l = &logs[0];
    assert_eq!(
        l.common.len() + l.attributes.len(),
        255,
        "as many as fit: {l:?}"
    );
    let kept = l.attributes.keys().filter(|k| k.starts_with('w')).count();
    let left_out = l.attr("aiplatform.dropped_attributes").as_u64().unwrap();
    assert!(kept > 200, "{kept}");
    assert_eq!(kept as u64 + left_out, 270);
    // The event's closest context is kept (the innermost span's fields, with their values);
    // the outermost span's fields are what is left out.
    for i in 0..30u64 {
        assert_eq!(l.attr(&format!("w8_{i}")), &json!(i));
        assert_eq!(l.attr(&format!("w0_{i}")), &Value::Null);
    }
    drop(guard);
}

/// An application configures logging inside `#[tokio::main]`; an output it drops there (a
/// later setting failed) must not take the process down.
#[tokio::test]
async fn an_output_configured_and_dropped_inside_an_async_context_is_harmless() {
    let nr = NewRelic::license_key(SecretSource::value(KEY)).log_url("http://127.0.0.1:9/log/v1");
    let output = nr.log_output().unwrap();
    drop(output);
    let export = nr.log_export().unwrap();
    drop(export);
}
