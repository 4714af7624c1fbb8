//! Outputs added from other crates (`Output::export`): batching, the delivery rules, drop
//! accounting, flush and shutdown, and what a custom encoder sees.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiplatform_logging::{
    EventEncoder, ExportConfig, ExportOutcome, FieldValue, FullPolicy, LogBatch, LogEvent,
    LogExporter, Output,
};
use aiplatform_metrics::Registry;
use common::metric;
use tracing_subscriber::prelude::*;

/// One call to the exporter: the records it was given and when.
#[derive(Debug, Clone)]
struct Call {
    records: Vec<String>,
    at: Instant,
    attempt: u32,
}

type Rule = Box<dyn FnMut(&LogBatch<'_>, usize) -> ExportOutcome + Send>;

/// An exporter that answers each call by a rule (given the call's number) and records it.
struct Scripted {
    calls: Arc<Mutex<Vec<Call>>>,
    rule: Rule,
}

impl LogExporter for Scripted {
    fn export(&mut self, batch: &LogBatch<'_>) -> ExportOutcome {
        let n = self.calls.lock().unwrap().len();
        let outcome = (self.rule)(batch, n);
        self.calls.lock().unwrap().push(Call {
            records: batch
                .records()
                .map(|r| String::from_utf8(r.to_vec()).unwrap())
                .collect(),
            at: Instant::now(),
            attempt: batch.attempt(),
        });
        outcome
    }
}

/// Encodes the message only, so records are easy to compare.
fn message_only(e: &LogEvent<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(e.message().as_bytes());
}

struct Setup {
    calls: Arc<Mutex<Vec<Call>>>,
    registry: Registry,
}

impl Setup {
    fn start(
        rule: impl FnMut(&LogBatch<'_>, usize) -> ExportOutcome + Send + 'static,
        configure: impl FnOnce(ExportConfig) -> ExportConfig,
        output: impl FnOnce(Output) -> Output,
    ) -> (
        Setup,
        aiplatform_logging::LogLayer,
        aiplatform_logging::LogGuard,
    ) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let registry = Registry::new();
        let exporter = Scripted {
            calls: calls.clone(),
            rule: Box::new(rule),
        };
        let cfg = configure(
            ExportConfig::new(exporter)
                .encoder(message_only)
                .backoff(Duration::from_millis(10), Duration::from_millis(40)),
        );
        let (layer, guard) = aiplatform_logging::builder()
            .registry(registry.clone())
            .shutdown_timeout(Duration::from_secs(2))
            .output(output(Output::export(cfg).name("test")))
            .build()
            .unwrap();
        (Setup { calls, registry }, layer, guard)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// `aiplatform_log_events_dropped_total` of the output for `reason`.
    fn dropped(&self, reason: &str) -> f64 {
        metric(
            &self.registry,
            "aiplatform_log_events_dropped_total",
            &[("sink", "test"), ("reason", reason)],
        )
    }
}

fn log_n(layer: aiplatform_logging::LogLayer, n: usize) {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..n {
            tracing::info!("m{i}");
        }
    });
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i}")).collect()
}

#[test]
fn batches_by_count_and_bytes_in_order_and_flush_sends_at_once() {
    let (s, layer, guard) = Setup::start(
        |_, _| ExportOutcome::Delivered,
        |c| {
            c.max_batch_records(4)
                .max_batch_bytes(9)
                .linger(Duration::from_secs(60))
        },
        |o| o,
    );
    let started = Instant::now();
    log_n(layer, 10);
    assert!(guard.flush(Duration::from_secs(5)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "flush must not wait for the linger"
    );
    let calls = s.calls();
    let all: Vec<String> = calls.iter().flat_map(|c| c.records.clone()).collect();
    assert_eq!(all, names(10), "every record once, in order");
    for c in &calls {
        assert!(c.records.len() <= 4, "{c:?}");
        let bytes: usize = c.records.iter().map(String::len).sum();
        assert!(bytes <= 9, "{c:?}");
    }
    // m0..m9 are 2 bytes each: four per batch would be 8 bytes, so count limits first.
    assert_eq!(calls[0].records, ["m0", "m1", "m2", "m3"]);
}

#[test]
fn a_partial_batch_goes_after_the_linger() {
    let (s, layer, _guard) = Setup::start(
        |_, _| ExportOutcome::Delivered,
        |c| c.linger(Duration::from_millis(150)),
        |o| o,
    );
    let t = Instant::now();
    log_n(layer, 3);
    while s.calls().is_empty() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let calls = s.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].records, names(3));
    let waited = calls[0].at - t;
    assert!(
        waited >= Duration::from_millis(140) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn retries_the_same_batch_with_backoff_then_delivers() {
    let (s, layer, guard) = Setup::start(
        |_, n| {
            if n < 3 {
                ExportOutcome::Retry {
                    after: None,
                    detail: "HTTP 503".into(),
                }
            } else {
                ExportOutcome::Delivered
            }
        },
        |c| c,
        |o| o,
    );
    log_n(layer, 5);
    assert!(guard.flush(Duration::from_secs(5)));
    let calls = s.calls();
    assert_eq!(calls.len(), 4);
    for (i, c) in calls.iter().enumerate() {
        assert_eq!(c.records, names(5), "same batch every attempt");
        assert_eq!(c.attempt, i as u32 + 1);
    }
    // Backoff 10 ms doubling (jitter in the upper half): 5+10+20 ms at least.
    assert!(calls[3].at - calls[0].at >= Duration::from_millis(35));
    assert_eq!(
        metric(
            &s.registry,
            "aiplatform_log_sink_resent_total",
            &[("sink", "test")]
        ),
        15.0
    );
    assert_eq!(s.dropped("rejected"), 0.0);
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let (s, layer, guard) = Setup::start(
        |_, n| match n {
            0 => ExportOutcome::Retry {
                after: Some(Duration::from_millis(400)),
                detail: "HTTP 429".into(),
            },
            1 => ExportOutcome::Retry {
                after: Some(Duration::from_secs(3600)),
                detail: "HTTP 429".into(),
            },
            _ => ExportOutcome::Delivered,
        },
        |c| c.max_retry_after(Duration::from_millis(300)),
        |o| o,
    );
    log_n(layer, 1);
    assert!(guard.flush(Duration::from_secs(5)));
    let c = s.calls();
    assert_eq!(c.len(), 3);
    let (first, second) = (c[1].at - c[0].at, c[2].at - c[1].at);
    assert!(
        first >= Duration::from_millis(295),
        "capped at 300 ms: {first:?}"
    );
    assert!(first < Duration::from_millis(1000), "{first:?}");
    assert!(
        second >= Duration::from_millis(295) && second < Duration::from_millis(1000),
        "an hour is cut to the cap: {second:?}"
    );
}

#[test]
fn too_large_halves_down_to_one_record_which_is_dropped() {
    // The receiver takes at most 2 records, and never "m5".
    let (s, layer, guard) = Setup::start(
        |b, _| {
            if b.len() > 2 {
                ExportOutcome::TooLarge {
                    detail: "HTTP 413".into(),
                }
            } else if b.records().any(|r| r == b"m5") && b.len() == 1 {
                ExportOutcome::TooLarge {
                    detail: "HTTP 413: record m5 over the limit".into(),
                }
            } else if b.records().any(|r| r == b"m5") {
                ExportOutcome::TooLarge {
                    detail: "HTTP 413".into(),
                }
            } else {
                ExportOutcome::Delivered
            }
        },
        |c| c.max_batch_records(8),
        |o| o,
    );
    log_n(layer, 8);
    assert!(guard.flush(Duration::from_secs(5)));
    let calls = s.calls();
    let delivered: Vec<String> = calls
        .iter()
        .filter(|c| c.records.len() <= 2 && !c.records.iter().any(|r| r == "m5"))
        .flat_map(|c| c.records.clone())
        .collect();
    let mut expected = names(8);
    expected.retain(|m| m != "m5");
    assert_eq!(
        delivered, expected,
        "every other record exactly once, in order"
    );
    assert_eq!(s.dropped("too_large"), 1.0);
    assert_eq!(calls[0].records.len(), 8);
    assert_eq!(calls[1].records, ["m0", "m1", "m2", "m3"]);
}

#[test]
fn rejected_is_dropped_counted_not_retried_and_reported_redacted() {
    let (s, layer, guard) = Setup::start(
        |b, _| {
            if b.records()
                .any(|r| r.starts_with(b"aiplatform-logging dropped"))
            {
                ExportOutcome::Delivered
            } else {
                ExportOutcome::Rejected {
                    detail: "HTTP 400: bad field; echo Authorization: Bearer abcdef0123456789"
                        .into(),
                }
            }
        },
        |c| {
            c.encoder(|e: &LogEvent<'_>, out: &mut Vec<u8>| {
                out.extend_from_slice(e.message().as_bytes());
                for (k, v) in e.fields() {
                    if let FieldValue::Str(v) = v {
                        out.extend_from_slice(format!(" {k}={v}").as_bytes());
                    }
                }
            })
        },
        |o| o,
    );
    log_n(layer, 3);
    assert!(guard.flush(Duration::from_secs(5)));
    assert_eq!(s.dropped("rejected"), 3.0);
    // Let the notice go out (at most one a second) by stopping: the last word.
    drop(guard);
    let calls = s.calls();
    let data_calls = calls
        .iter()
        .filter(|c| c.records.iter().any(|r| r.starts_with("m")))
        .count();
    assert_eq!(data_calls, 1, "no retry: {calls:?}");
    let notice = calls
        .iter()
        .flat_map(|c| c.records.clone())
        .find(|r| r.starts_with("aiplatform-logging dropped"))
        .expect("a drop notice goes through the output");
    assert!(
        notice.contains("last_error=HTTP 400: bad field"),
        "{notice}"
    );
    assert!(!notice.contains("abcdef0123456789"), "{notice}");
}

#[test]
fn partial_success_counts_the_rejected_records() {
    let (s, layer, guard) = Setup::start(
        |b, _| ExportOutcome::PartlyRejected {
            rejected: 2.min(b.len() as u64),
            detail: "2 records had invalid attributes".into(),
        },
        |c| c,
        |o| o,
    );
    log_n(layer, 5);
    assert!(guard.flush(Duration::from_secs(5)));
    assert_eq!(s.dropped("rejected"), 2.0);
    assert_eq!(s.calls().len(), 1);
}

#[test]
fn a_full_queue_drops_and_counts_while_the_receiver_is_down() {
    const N: usize = 200;
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let up2 = up.clone();
    let (s, layer, guard) = Setup::start(
        move |_, _| {
            if up2.load(std::sync::atomic::Ordering::SeqCst) {
                ExportOutcome::Delivered
            } else {
                ExportOutcome::Retry {
                    after: None,
                    detail: "connection refused".into(),
                }
            }
        },
        |c| c.max_batch_records(10),
        |o| o.queue_capacity(20).full_policy(FullPolicy::DropNewest),
    );
    let t = Instant::now();
    log_n(layer, N);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "the application never waits for the receiver"
    );
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(guard.flush(Duration::from_secs(5)));
    let delivered: Vec<String> = {
        let calls = s.calls();
        let mut seen = Vec::new();
        // Only the last attempt at each batch was delivered.
        for (i, c) in calls.iter().enumerate() {
            let next_same = calls.get(i + 1).is_some_and(|n| n.attempt > 1);
            if !next_same {
                seen.extend(c.records.iter().filter(|r| r.starts_with('m')).cloned());
            }
        }
        seen
    };
    let dropped = s.dropped("queue_full") as usize;
    assert!(dropped > 0);
    assert_eq!(delivered.len() + dropped, N, "sent + dropped == produced");
    let mut sorted = delivered.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), delivered.len(), "nothing twice");
}

#[test]
fn shutdown_keeps_its_deadline_and_counts_what_is_left() {
    let (s, layer, guard) = Setup::start(
        |_, _| ExportOutcome::Retry {
            after: None,
            detail: "HTTP 503".into(),
        },
        |c| c.max_batch_records(5),
        |o| o,
    );
    log_n(layer, 12);
    let t = Instant::now();
    drop(guard);
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2600),
        "shutdown deadline 2 s: {took:?}"
    );
    assert_eq!(s.dropped("shutdown"), 12.0);
    assert!(!s.calls().is_empty());
}

#[test]
fn shutdown_delivers_what_is_queued() {
    let (s, layer, guard) = Setup::start(
        |_, _| ExportOutcome::Delivered,
        |c| c.linger(Duration::from_secs(60)).max_batch_records(7),
        |o| o,
    );
    log_n(layer, 30);
    drop(guard);
    let all: Vec<String> = s.calls().iter().flat_map(|c| c.records.clone()).collect();
    assert_eq!(all, names(30));
    assert_eq!(s.dropped("shutdown"), 0.0);
}

/// Writes what an encoder can see, one `key=value` per line.
struct Inspect;

impl EventEncoder for Inspect {
    fn encode(&self, e: &LogEvent<'_>, out: &mut Vec<u8>) {
        let mut s = format!(
            "level={}\ntarget={}\nmessage={}\nspans={}\nservice={}\nhost={}\ntrace={:?}\nhash={}\n",
            e.level(),
            e.target(),
            e.message(),
            e.span_path(),
            e.resource().service_name(),
            e.resource().host_name(),
            e.trace_id(),
            e.hash().is_some(),
        );
        for (k, v) in e.fields() {
            s.push_str(&format!("field {k}={v:?}\n"));
        }
        if let Some(err) = e.error() {
            s.push_str(&format!("error={}|{}\n", err.message, err.kind));
        }
        let age = e.time().elapsed().unwrap_or_default();
        assert!(age < Duration::from_secs(60));
        out.extend_from_slice(s.as_bytes());
    }
}

#[test]
fn a_custom_encoder_sees_the_event_redacted_with_its_spans() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let exporter = Scripted {
        calls: calls.clone(),
        rule: Box::new(|_, _| ExportOutcome::Delivered),
    };
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("billing")
        .host_name("web-1")
        .output(Output::export(ExportConfig::new(exporter).encoder(Inspect)))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(
            "request",
            tenant = "acme",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let _e = span.enter();
        let err = std::io::Error::other("disk full");
        tracing::warn!(
            target: "billing::pay",
            password = "hunter2",
            attempt = 3u64,
            error = &err as &dyn std::error::Error,
            "charge failed for card 4111 1111 1111 1111"
        );
    });
    assert!(guard.flush(Duration::from_secs(5)));
    let calls = calls.lock().unwrap();
    let rec = &calls[0].records[0];
    for want in [
        "level=WARN\n",
        "target=billing::pay\n",
        "spans=request\n",
        "service=billing\n",
        "host=web-1\n",
        "trace=Some(\"4bf92f3577b34da6a3ce929d0e0e4736\")\n",
        "hash=true\n",
        "field password=Str(\"[REDACTED]\")\n",
        "field attempt=U64(3)\n",
        "field tenant=Str(\"acme\")\n",
        "error=disk full|std::io::Error\n",
    ] {
        assert!(rec.contains(want), "{want:?} missing from\n{rec}");
    }
    assert!(!rec.contains("hunter2"), "{rec}");
    assert!(!rec.contains("4111 1111"), "{rec}");
    assert!(
        rec.contains("message=charge failed for card [REDACTED]"),
        "{rec}"
    );
}

#[test]
fn an_encoder_that_writes_nothing_leaves_the_event_out() {
    let (s, layer, guard) = Setup::start(
        |_, _| ExportOutcome::Delivered,
        |c| {
            c.encoder(|e: &LogEvent<'_>, out: &mut Vec<u8>| {
                if !e.message().starts_with("skip") {
                    out.extend_from_slice(e.message().as_bytes());
                }
            })
        },
        |o| o,
    );
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("keep 1");
        tracing::info!("skip me");
        tracing::info!("keep 2");
    });
    assert!(guard.flush(Duration::from_secs(5)));
    let all: Vec<String> = s.calls().iter().flat_map(|c| c.records.clone()).collect();
    assert_eq!(all, ["keep 1", "keep 2"]);
    assert_eq!(s.dropped("queue_full"), 0.0);
}
