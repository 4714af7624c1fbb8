//! The receiver is stopped and restarted in the middle of a stream: every event arrives, and
//! the only duplicates are resends of lines that were unconfirmed at the disconnect.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aiplatform_logging::{LogstashConfig, Output};
use common::{Receiver, metric};
use tracing_subscriber::prelude::*;

const N: usize = 5000;

#[test]
fn receiver_restart_mid_stream_loses_nothing() {
    let mut rx = Receiver::start(0);
    let cfg = LogstashConfig::new(format!("127.0.0.1:{}", rx.port))
        .backoff(Duration::from_millis(10), Duration::from_millis(200))
        .confirm_after(Duration::from_millis(100));
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("reconnect-test")
        .output(Output::logstash(cfg))
        .build()
        .unwrap();
    let registry = guard.registry().clone();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..N {
            tracing::info!(i, payload = "x".repeat(i % 200), "event {i}");
            if i == N / 2 {
                // Everything so far reached the receiver; now it dies with the stream running.
                assert!(rx.wait_for(Duration::from_secs(10), |l| l.len() > N / 4));
                rx.stop();
            }
            if i == N / 2 + 500 {
                rx.restart();
            }
            // A steady stream (about 4 events per ms), so the resend window is a slice of it.
            if i % 5 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    assert!(
        guard.flush(Duration::from_secs(20)),
        "flush did not complete"
    );
    assert!(rx.wait_for(Duration::from_secs(10), |l| {
        let mut seen = vec![false; N];
        l.iter()
            .filter_map(|r| index(&r.line))
            .for_each(|i| seen[i] = true);
        seen.iter().all(|&s| s)
    }));
    drop(guard);
    let received = rx.received();

    // Count and content: every event once at least, every copy byte-identical and valid.
    let mut copies: HashMap<usize, Vec<&common::Received>> = HashMap::new();
    for r in &received {
        let v: serde_json::Value =
            serde_json::from_str(&r.line).expect("every received line is one JSON object");
        let i = v["labels"]["i"].as_str().unwrap().parse::<usize>().unwrap();
        assert_eq!(v["message"], format!("event {i}").as_str());
        assert_eq!(v["labels"]["payload"].as_str().unwrap().len(), i % 200);
        copies.entry(i).or_default().push(r);
    }
    assert_eq!(copies.len(), N, "every event arrived");
    let duplicates: usize = copies.values().map(|c| c.len() - 1).sum();
    let resent = metric(
        &registry,
        "aiplatform_log_sink_resent_total",
        &[("sink", "logstash")],
    ) as usize;
    let reconnects = metric(
        &registry,
        "aiplatform_log_sink_reconnects_total",
        &[("sink", "logstash")],
    );
    println!(
        "restart test: {N} events, {} lines received, {duplicates} duplicates, {resent} resent, {reconnects} reconnects",
        received.len()
    );
    assert!(reconnects >= 1.0);
    // Duplicates are only resends: at most two copies, identical, on different connections.
    assert!(
        duplicates <= resent,
        "{duplicates} duplicates but only {resent} resends"
    );
    for (i, c) in &copies {
        assert!(c.len() <= 2, "event {i} arrived {} times", c.len());
        if c.len() == 2 {
            assert_eq!(c[0].line, c[1].line);
            assert!(
                c[0].conn < c[1].conn,
                "event {i} duplicated on one connection"
            );
        }
    }
    // Each connection carries events in order.
    let mut last: HashMap<usize, usize> = HashMap::new();
    for r in &received {
        let i = index(&r.line).unwrap();
        if let Some(&p) = last.get(&r.conn) {
            assert!(i > p, "connection {} went back from {p} to {i}", r.conn);
        }
        last.insert(r.conn, i);
    }
    assert_eq!(
        metric(
            &registry,
            "aiplatform_log_events_dropped_total",
            &[("sink", "logstash"), ("reason", "queue_full")]
        ),
        0.0
    );
}

fn index(line: &str) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v["labels"]["i"].as_str()?.parse().ok()
}
