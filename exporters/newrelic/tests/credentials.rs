//! Keys reach New Relic in their header and nowhere else: not in a log line, an error, a
//! metric or `Debug` output, even when the receiver echoes them back.

#[path = "../../push/tests/support/mod.rs"]
mod support;

mod contract;

use std::sync::Arc;
use std::time::Duration;

use aiplatform_metrics::{ExpositionFormat, Registry};
use aiplatform_newrelic::NewRelic;
use aiplatform_push::SecretSource;
use support::*;

const LICENSE: &str = "eu01xxSECRETlicense0123456789abcdefNRAL";
const INSERT: &str = "NRII-SECRETinsertkey-0123456789";

fn registry() -> Registry {
    let r = Registry::builder().without_self_metrics().build().unwrap();
    r.counter("checkouts_total", "Checkouts.")
        .unwrap()
        .inc_by(2);
    r
}

/// Answers with the request's headers in the body, as a careless error page would.
fn echoing(status: u16) -> Receiver {
    Receiver::start_with(
        None,
        Arc::new(move |q: &Captured, _: &[Captured]| {
            let headers: Vec<String> = q
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
                .collect();
            Reply::status(status).body(format!("rejected; you sent {}", headers.join("; ")))
        }),
    )
}

#[test]
fn keys_never_show_in_logs_errors_metrics_or_debug() {
    capture_logs();
    let mut shown = Vec::new();
    for (status, nr, header, key) in [
        (
            400,
            NewRelic::license_key(SecretSource::value(LICENSE)),
            "api-key",
            LICENSE,
        ),
        (
            403,
            NewRelic::insert_key(SecretSource::value(INSERT)),
            "x-insert-key",
            INSERT,
        ),
    ] {
        let rx = echoing(status);
        let r = registry();
        let nr = nr.metric_url(rx.url("/metric/v1"));
        shown.push(format!("{nr:?} {:?}", nr.key()));
        let builder = nr.metrics(&r).unwrap().periodic(false);
        shown.push(format!("{builder:?}"));
        let p = builder.build().unwrap();
        shown.push(format!("{p:?}"));
        let err = p.flush(Duration::from_secs(5)).unwrap_err();
        shown.push(format!("{err} {err:?}"));
        drop(p);
        shown.push(String::from_utf8(r.encode(ExpositionFormat::Text)).unwrap());
        let reqs = rx.requests();
        assert!(!reqs.is_empty());
        for q in &reqs {
            contract::check_headers(q, header, key);
            let other = if header == "api-key" {
                "x-insert-key"
            } else {
                "api-key"
            };
            assert!(!q.headers.contains_key(other), "one key header");
        }
    }
    let logs = logs();
    assert!(
        logs.contains("rejected; you sent"),
        "the echo was logged:\n{logs}"
    );
    assert!(logs.contains("refused the insert key"), "{logs}");
    shown.push(logs);
    // Configuration errors do not show the key either.
    let user_key = "NRAK-SECRETuserkey0123456789";
    let err = NewRelic::from_env_vars(|n| (n == "NEW_RELIC_API_KEY").then(|| user_key.to_owned()))
        .unwrap_err();
    shown.push(format!("{err} {err:?}"));
    for text in &shown {
        for key in [LICENSE, INSERT, user_key, "SECRET"] {
            assert!(!text.contains(key), "{key} shown in:\n{text}");
        }
    }
}

#[test]
fn a_key_file_is_read_again_for_every_request() {
    let rx = Receiver::start_with(
        None,
        Arc::new(|_: &Captured, _: &[Captured]| Reply::status(202)),
    );
    let dir = std::env::temp_dir().join(format!("nr-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("license");
    std::fs::write(&path, "first-key-NRAL\n").unwrap();
    let r = registry();
    let vars = |n: &str| match n {
        "NEW_RELIC_LICENSE_KEY_FILE" => Some(path.display().to_string()),
        "NEW_RELIC_METRIC_URL" => Some(rx.url("/metric/v1")),
        _ => None,
    };
    let nr = NewRelic::from_env_vars(vars).unwrap().unwrap();
    let p = nr.metrics(&r).unwrap().periodic(false).build().unwrap();
    p.flush(Duration::from_secs(5)).unwrap();
    std::fs::write(&path, "rotated-key-NRAL\n").unwrap();
    p.flush(Duration::from_secs(5)).unwrap();
    p.shutdown(Duration::from_secs(5)).unwrap();
    let keys: Vec<String> = rx
        .requests()
        .iter()
        .map(|q| q.headers["api-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        ["first-key-NRAL", "rotated-key-NRAL", "rotated-key-NRAL"]
    );
    // A missing file is an error at start-up that names the file.
    std::fs::remove_file(&path).unwrap();
    let err = NewRelic::from_env_vars(vars)
        .unwrap()
        .unwrap()
        .metrics(&r)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keys_never_show_in_what_the_log_output_sends_logs_or_shows() {
    use aiplatform_logging::Output;
    use aiplatform_newrelic::LOGS_SINK;
    use tracing_subscriber::prelude::*;

    capture_logs();
    let mut shown = Vec::new();
    let mut bodies = Vec::new();
    for (status, nr, header, key) in [
        (
            400,
            NewRelic::insert_key(SecretSource::value(INSERT)),
            "x-insert-key",
            INSERT,
        ),
        (
            403,
            NewRelic::license_key(SecretSource::value(LICENSE)),
            "api-key",
            LICENSE,
        ),
    ] {
        let rx = echoing(status);
        let nr = nr.log_url(rx.url("/log/v1"));
        let export = nr.log_export().unwrap();
        shown.push(format!("{export:?}"));
        let output = Output::export(export).name(LOGS_SINK);
        shown.push(format!("{output:?}"));
        let (layer, guard) = aiplatform_logging::builder()
            .registry(Registry::new())
            .output(output)
            .build()
            .unwrap();
        let emit = |n: u32| {
            tracing::subscriber::with_default(
                tracing_subscriber::registry().with(layer.clone()),
                || tracing::info!(n, "checkout"),
            )
        };
        emit(1);
        guard.flush(Duration::from_secs(5));
        // The drop notice (at most one a second) carries what the intake answered.
        std::thread::sleep(Duration::from_millis(1100));
        emit(2);
        guard.flush(Duration::from_secs(5));
        drop(guard);
        let reqs = rx.requests();
        assert!(!reqs.is_empty());
        for q in &reqs {
            contract::check_headers(q, header, key);
            bodies.push(q.text());
        }
    }
    let echoed = bodies.iter().any(|b| b.contains("rejected; you sent"));
    assert!(
        echoed,
        "the 400's drop notice carries the answer: {bodies:?}"
    );
    let logs = logs();
    assert!(logs.contains("refused the license key"), "{logs}");
    shown.push(logs);
    shown.extend(bodies);
    for text in &shown {
        for key in [LICENSE, INSERT, "SECRET"] {
            assert!(!text.contains(key), "{key} shown in:\n{text}");
        }
    }
}
