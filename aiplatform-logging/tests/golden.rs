//! Whole output lines with a pinned clock and host: the exact bytes each format writes.

mod common;

use std::error::Error as StdError;
use std::fmt;

use aiplatform_logging::{Fingerprint, FixedClock, Format, Output};
use common::Buf;
use sha2::{Digest, Sha256};
use tracing_subscriber::prelude::*;

const T: u64 = 1_767_323_045_678; // 2026-01-02T03:04:05.678Z

fn capture(format: Format, fp: Option<Fingerprint>, f: impl FnOnce()) -> String {
    let buf = Buf::default();
    let mut b = aiplatform_logging::builder()
        .service_name("billing")
        .service_version("1.4.2")
        .service_environment("prod")
        .host_name("web-1")
        .clock(FixedClock::from_unix_millis(T))
        .output(Output::blocking_writer(buf.clone(), format));
    b = match fp {
        Some(fp) => b.fingerprint(fp),
        None => b.without_fingerprint(),
    };
    let (layer, guard) = b.build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    drop(guard);
    buf.text()
}

#[derive(Debug)]
struct CardDeclined {
    source: std::io::Error,
}

impl fmt::Display for CardDeclined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("card declined")
    }
}

impl StdError for CardDeclined {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

#[test]
fn ecs_json_line() {
    let pid = std::process::id();
    let line = std::cell::Cell::new(0);
    let out = capture(Format::Json, None, || {
        let span = tracing::info_span!(
            "request",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "00f067aa0ba902b7",
            http.request.method = "POST",
            tenant.id = 42
        );
        let _e = span.enter();
        let err = CardDeclined {
            source: std::io::Error::other("issuer timeout"),
        };
        line.set(line!() + 1);
        tracing::error!(
            target: "billing::charge",
            error = &err as &dyn StdError,
            event.outcome = "failure",
            url.full = "https://api.example.com/pay?api_key=abc123&amount=5",
            http.response.status_code = 402,
            user.id = "u-7",
            retry = true,
            "payment failed"
        );
    });
    let line = format!(
        concat!(
            r#"{{"@timestamp":"2026-01-02T03:04:05.678Z","log.level":"ERROR","message":"payment failed","#,
            r#""ecs.version":"8.11.0","service.name":"billing","service.version":"1.4.2","service.environment":"prod","#,
            r#""event.dataset":"billing","log.logger":"billing::charge","#,
            r#""trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","span.id":"00f067aa0ba902b7","#,
            r#""error":{{"message":"card declined","stack_trace":"card declined\ncaused by: issuer timeout","type":"CardDeclined"}},"#,
            r#""event":{{"outcome":"failure","sequence":0}},"host":{{"name":"web-1"}},"#,
            r#""http":{{"request":{{"method":"POST"}},"response":{{"status_code":402}}}},"#,
            r#""log":{{"origin":{{"file":{{"line":{line},"name":"aiplatform-logging/tests/golden.rs"}}}}}},"#,
            r#""process":{{"pid":{pid}}},"url":{{"full":"https://api.example.com/pay?api_key=[REDACTED]&amount=5"}},"#,
            r#""user":{{"id":"u-7"}},"labels":{{"spans":"request","retry":"true","tenant_id":"42"}}}}"#,
            "\n"
        ),
        line = line.get(),
        pid = pid
    );
    assert_eq!(out, line);
    serde_json::from_str::<serde_json::Value>(&out).unwrap();
}

#[test]
fn logfmt_line() {
    let line = std::cell::Cell::new(0);
    let out = capture(Format::Logfmt, None, || {
        line.set(line!() + 1);
        tracing::info!(target: "node_exporter", address = "0.0.0.0:9100", password = "hunter2", "Listening on");
    });
    let want = format!(
        "ts=2026-01-02T03:04:05.678Z caller=golden.rs:{} level=info msg=\"Listening on\" address=0.0.0.0:9100 password=[REDACTED]\n",
        line.get()
    );
    assert_eq!(out, want);
}

#[test]
fn pretty_line() {
    let out = capture(Format::Pretty, None, || {
        let span = tracing::info_span!("job", id = 7);
        let _e = span.enter();
        tracing::warn!(target: "worker", token = "t0k3n", "slow\nstep");
    });
    assert_eq!(
        out,
        "2026-01-02T03:04:05.678Z  WARN job worker: slow\\nstep token=[REDACTED] id=7\n"
    );
}

#[test]
fn duplicate_and_reserved_keys_are_written_once() {
    let out = capture(Format::Json, None, || {
        tracing::info!(
            a = 1,
            a = 2,
            message = "bb",
            service.name = "spoof",
            host.name = "h",
            "aa"
        );
    });
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // tracing records the format-string message before `message = "bb"`; the last one wins.
    assert_eq!(v["message"], "bb");
    assert_eq!(v["service.name"], "billing");
    assert_eq!(v["host"]["name"], "web-1");
    assert_eq!(v["labels"]["a"], "2");
    assert_eq!(v["labels"]["service_name"], "spoof");
    assert_eq!(v["labels"]["host_name"], "h");
    // Every key once: re-serialising the parsed object keeps the same number of keys.
    assert_eq!(out.matches("\"message\":").count(), 1);
    assert_eq!(out.matches("\"a\":").count(), 1);
}

#[test]
fn event_fields_win_over_span_fields_and_inner_spans_over_outer() {
    let out = capture(Format::Json, None, || {
        let outer = tracing::info_span!("outer", user.id = "outer", k = "outer", trace_id = "aaaa");
        let _o = outer.enter();
        let inner = tracing::info_span!("inner", k = "inner", trace_id = "bbbb");
        let _i = inner.enter();
        inner.record("k", "recorded");
        tracing::info!(user.id = "event", "x");
    });
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["user"]["id"], "event");
    assert_eq!(v["labels"]["k"], "recorded");
    assert_eq!(v["trace.id"], "bbbb");
    assert_eq!(v["labels"]["spans"], "outer>inner");
}

/// The documented fingerprint algorithm, recomputed here independently.
#[test]
fn event_hash_follows_the_documented_algorithm() {
    let kind = capture(
        Format::Json,
        Some(Fingerprint::new().fields(["user.id"]).per_occurrence(false)),
        || {
            tracing::info!(user.id = 7, other = "ignored", "user logged in");
        },
    );
    let v: serde_json::Value = serde_json::from_str(&kind).unwrap();
    let mut h = Sha256::new();
    h.update(b"aiplatform-logging/v1\x1fINFO\x1fgolden\x1fuser logged in\x1fuser.id\x1e7\x1f");
    let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v["event"]["hash"], want.as_str());

    let occ = capture(Format::Json, Some(Fingerprint::new()), || {
        tracing::info!(user.id = 7, "user logged in");
    });
    let v: serde_json::Value = serde_json::from_str(&occ).unwrap();
    let mut h = Sha256::new();
    h.update(b"aiplatform-logging/v1\x1fINFO\x1fgolden\x1fuser logged in\x1fuser.id\x1e7\x1f");
    h.update(format!(
        "@\x1f2026-01-02T03:04:05.678Z\x1fbilling\x1fweb-1\x1f{}\x1f0\x1f",
        std::process::id()
    ));
    let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v["event"]["hash"], want.as_str());
}

/// `service_node_name` and `log_origin(false)` change the line as documented, and
/// `all_fields()` undoes `fields(...)`: the hash is the default one again.
#[test]
fn node_name_origin_and_all_fields() {
    let buf = Buf::default();
    let (layer, guard) = aiplatform_logging::builder()
        .service_name("billing")
        .service_node_name("billing-3")
        .log_origin(false)
        .host_name("web-1")
        .clock(FixedClock::from_unix_millis(T))
        .output(Output::blocking_writer(buf.clone(), Format::Json))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("started");
    });
    drop(guard);
    let v: serde_json::Value = serde_json::from_str(&buf.text()).unwrap();
    assert_eq!(v["service.node.name"], "billing-3", "{v}");
    assert!(v.get("log").is_none(), "no log.origin: {v}");

    let hash = |fp: Fingerprint| {
        let out = capture(Format::Json, Some(fp.per_occurrence(false)), || {
            tracing::info!(user.id = 7, other = "kept", "user logged in");
        });
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["event"]["hash"].as_str().unwrap().to_owned()
    };
    let all = hash(Fingerprint::new());
    assert_ne!(all, hash(Fingerprint::new().fields(["user.id"])));
    assert_eq!(
        all,
        hash(Fingerprint::new().fields(["user.id"]).all_fields())
    );
}
