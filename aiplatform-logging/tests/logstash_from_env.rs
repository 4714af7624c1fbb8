//! `logstash_from_env` adds the Logstash output only when the variable names an address. In
//! its own test binary: it sets a process environment variable.

mod common;

use std::time::Duration;

use common::Receiver;
use tracing_subscriber::prelude::*;

#[test]
fn ships_when_the_variable_is_set() {
    let rx = Receiver::start(0);
    // SAFETY: this binary has a single test, so no other thread reads the environment now.
    unsafe {
        std::env::set_var(
            "AIPLOG_TEST_LOGSTASH_ADDR",
            format!("127.0.0.1:{}", rx.port),
        )
    };
    let (layer, guard) = aiplatform_logging::builder()
        .output(aiplatform_logging::Output::blocking_writer(
            std::io::sink(),
            aiplatform_logging::Format::Json,
        ))
        .logstash_from_env("AIPLOG_TEST_LOGSTASH_ADDR")
        .logstash_from_env("AIPLOG_TEST_UNSET_VARIABLE")
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(
            http.request.method = "GET",
            url.full = "http://api/v1?token=t0k",
            "request served"
        );
    });
    assert!(guard.flush(Duration::from_secs(10)));
    assert!(rx.wait_for(Duration::from_secs(10), |l| l.len() == 1));
    let v: serde_json::Value = serde_json::from_str(&rx.received()[0].line).unwrap();
    assert_eq!(v["url"]["full"], "http://api/v1?token=[REDACTED]");
    assert_eq!(v["http"]["request"]["method"], "GET");
}
