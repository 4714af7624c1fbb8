//! Property tests: arbitrary field values never break a line or the JSON, logfmt stays on one
//! line, redaction is idempotent and never panics.

mod common;

use aiplatform_logging::{FixedClock, Format, Output, Redactor};
use common::Buf;
use proptest::prelude::*;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

fn dispatch(format: Format, redactor: Redactor) -> (Dispatch, Buf, aiplatform_logging::LogGuard) {
    let buf = Buf::default();
    let (layer, guard) = aiplatform_logging::builder()
        .clock(FixedClock::from_unix_millis(0))
        .redactor(redactor)
        .output(Output::blocking_writer(buf.clone(), format))
        .build()
        .unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        buf,
        guard,
    )
}

/// Strings that mix arbitrary text with pieces of secrets, separators and quotes, so the
/// detectors see near-misses as well as hits.
fn secretish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "password=",
        "token: ",
        "\"api_key\":\"",
        "\\\"secret\\\":\\\"",
        "Bearer ",
        "bearer ",
        "eyJhbGciOiJIUzI1NiJ9.",
        "eyJzdWIiOiIx",
        ".sig",
        "AKIA",
        "IOSFODNN7EXAMPLE",
        "4111",
        " 1111",
        "-1111",
        "postgres://",
        "u:p@h",
        ":",
        "@",
        "/",
        "?",
        "&",
        "=",
        "'",
        "\"",
        "\\",
        " ",
        "{",
        "}",
        "[",
        "]",
        "[REDACTED]",
        "Cookie: a=b; ",
        "Authorization: Basic ",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "sk-",
        "ghp_",
        "xoxb-",
        "é",
        "\n",
        "0",
        "9",
    ]);
    prop::collection::vec(
        prop_oneof![
            pieces.prop_map(str::to_owned),
            "[ -~]{0,6}",
            any::<String>()
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_lines_stay_valid_and_exact(
        msg in any::<String>(),
        s in any::<String>(),
        f in any::<f64>(),
        i in any::<i128>(),
        u in any::<u128>(),
        b in any::<bool>(),
    ) {
        let (d, buf, _g) = dispatch(Format::Json, Redactor::disabled());
        tracing::dispatcher::with_default(&d, || {
            let span = tracing::info_span!("s", span_field = %s);
            let _e = span.enter();
            tracing::info!(text = %s, dbg = ?s, f, i, u, b, "{msg}");
        });
        let out = buf.text();
        prop_assert!(out.ends_with('\n'));
        prop_assert_eq!(out.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| TestCaseError::fail(format!("{e}: {out}")))?;
        prop_assert_eq!(v["message"].as_str(), Some(msg.as_str()));
        prop_assert_eq!(v["labels"]["text"].as_str(), Some(s.as_str()));
        prop_assert_eq!(v["labels"]["span_field"].as_str(), Some(s.as_str()));
        prop_assert_eq!(v["labels"]["dbg"].as_str().map(str::to_owned), Some(format!("{s:?}")));
        prop_assert_eq!(v["labels"]["i"].as_str().map(str::to_owned), Some(i.to_string()));
        prop_assert_eq!(v["labels"]["u"].as_str().map(str::to_owned), Some(u.to_string()));
    }

    #[test]
    fn redacted_json_lines_stay_valid(msg in secretish(), s in secretish()) {
        let (d, buf, _g) = dispatch(Format::Json, Redactor::new());
        tracing::dispatcher::with_default(&d, || tracing::warn!(body = %s, password = %s, "{msg}"));
        let out = buf.text();
        prop_assert_eq!(out.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| TestCaseError::fail(format!("{e}: {out}")))?;
        prop_assert_eq!(v["labels"]["password"].as_str(), Some(if s == "[REDACTED]" { s.as_str() } else { "[REDACTED]" }));
    }

    #[test]
    fn logfmt_and_pretty_stay_on_one_line(msg in secretish(), s in any::<String>()) {
        for format in [Format::Logfmt, Format::Pretty, Format::PrettyAnsi] {
            let (d, buf, _g) = dispatch(format, Redactor::new());
            tracing::dispatcher::with_default(&d, || {
                let span = tracing::info_span!("s", k = %s);
                let _e = span.enter();
                tracing::info!(v = %s, "{msg}");
            });
            let out = buf.text();
            prop_assert!(out.ends_with('\n'));
            prop_assert_eq!(out.matches(['\n', '\r']).count(), 1, "{:?}", out);
        }
    }

    #[test]
    fn redaction_is_idempotent(s in secretish()) {
        for r in [Redactor::new(), Redactor::builder().replacement("<redacted secret>").build().unwrap()] {
            let once = r.redact(&s).into_owned();
            let twice = r.redact(&once).into_owned();
            prop_assert_eq!(&twice, &once, "input {:?}", s);
            let f1 = r.redact_field("detail", &s).into_owned();
            prop_assert_eq!(r.redact_field("detail", &f1).into_owned(), f1);
        }
    }

    #[test]
    fn redaction_of_arbitrary_text_is_idempotent(s in any::<String>()) {
        let r = Redactor::new();
        let once = r.redact(&s).into_owned();
        prop_assert_eq!(r.redact(&once).into_owned(), once);
    }

    #[test]
    fn json_documents_stay_json_and_lose_sensitive_values(
        doc in prop::collection::btree_map(
            prop::sample::select(vec!["user", "password", "token", "note", "nested", "api_key", "max_tokens"]),
            secretish(),
            0..6,
        )
    ) {
        let mut v = serde_json::Map::new();
        for (k, val) in &doc {
            v.insert((*k).to_owned(), serde_json::Value::String(val.clone()));
        }
        let text = serde_json::Value::Object(v).to_string();
        let r = Redactor::new();
        let once = r.redact_field("body", &text).into_owned();
        let parsed: serde_json::Value = serde_json::from_str(&once).map_err(|e| TestCaseError::fail(format!("{e}: {once}")))?;
        for k in ["password", "token", "api_key"] {
            if doc.contains_key(k) {
                prop_assert_eq!(parsed[k].as_str(), Some("[REDACTED]"));
            }
        }
        prop_assert_eq!(r.redact_field("body", &once).into_owned(), once);
    }
}
