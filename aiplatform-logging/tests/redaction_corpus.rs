//! The committed redaction corpus: every secret (in messages, event fields, span fields,
//! nested JSON strings and URLs) must be gone from every output format, and no clean line may
//! change. Prints recall and false positives for the issue note.

mod common;

use aiplatform_logging::{FixedClock, Format, Output, Redactor};
use common::Buf;
use tracing_subscriber::prelude::*;

const SECRETS: &str = include_str!("corpus/secrets.tsv");
const CLEAN: &str = include_str!("corpus/clean.txt");

struct Outputs {
    json: Buf,
    logfmt: Buf,
    pretty: Buf,
}

/// Logs `text` as the corpus placement says, through one layer writing all three formats.
fn log(placement: &str, text: &str) -> Outputs {
    let o = Outputs {
        json: Buf::default(),
        logfmt: Buf::default(),
        pretty: Buf::default(),
    };
    let (layer, guard) = aiplatform_logging::builder()
        .clock(FixedClock::from_unix_millis(0))
        .output(Output::blocking_writer(o.json.clone(), Format::Json))
        .output(Output::blocking_writer(o.logfmt.clone(), Format::Logfmt))
        .output(Output::blocking_writer(o.pretty.clone(), Format::Pretty))
        .build()
        .unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(layer),
        || match placement {
            "message" => tracing::info!("{text}"),
            "field:detail" => tracing::info!(detail = text, "corpus"),
            "field:body" => tracing::info!(body = text, "corpus"),
            "field:headers" => tracing::info!(headers = text, "corpus"),
            "field:url.full" => tracing::info!(url.full = text, "corpus"),
            "field:password" => tracing::info!(password = text, "corpus"),
            "field:db.password" => tracing::info!(db.password = text, "corpus"),
            "field:client_secret" => tracing::info!(client_secret = text, "corpus"),
            "field:x_api_key" => tracing::info!(x_api_key = text, "corpus"),
            "field:authorization" => tracing::info!(authorization = text, "corpus"),
            "field:cookie" => tracing::info!(cookie = text, "corpus"),
            "field:set_cookie" => tracing::info!(set_cookie = text, "corpus"),
            "field:private_key" => tracing::info!(private_key = text, "corpus"),
            "field:access_token" => tracing::info!(access_token = text, "corpus"),
            "span:detail" => {
                let s = tracing::info_span!("corpus_span", detail = text);
                let _e = s.enter();
                tracing::info!("inside span");
            }
            "span:password" => {
                let s = tracing::info_span!("corpus_span", password = text);
                let _e = s.enter();
                tracing::info!("inside span");
            }
            other => panic!("unknown placement {other}"),
        },
    );
    drop(guard);
    o
}

#[test]
fn recall_and_false_positives() {
    let mut secrets = 0usize;
    let mut caught = 0usize;
    let mut missed = Vec::new();
    for row in SECRETS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let cols: Vec<&str> = row.split('\t').collect();
        let [kind, placement, text, wanted] = cols[..] else {
            panic!("bad corpus row {row}")
        };
        let text = text.replace("\\n", "\n");
        let o = log(placement, &text);
        let json = o.json.text();
        assert_eq!(json.matches('\n').count(), 1, "one line: {json}");
        serde_json::from_str::<serde_json::Value>(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        for secret in wanted.split('|') {
            secrets += 1;
            let leaked: Vec<&str> = [
                ("json", json.as_str()),
                ("logfmt", &o.logfmt.text()),
                ("pretty", &o.pretty.text()),
            ]
            .into_iter()
            .filter(|(_, out)| out.contains(secret) || out.contains(&secret.replace('"', "\\\"")))
            .map(|(f, _)| f)
            .collect();
            if leaked.is_empty() {
                caught += 1;
            } else {
                missed.push(format!(
                    "{kind} {placement} {secret:?} leaked in {leaked:?}"
                ));
            }
        }
    }

    let clean: Vec<&str> = CLEAN
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let redactor = Redactor::new();
    let mut altered = Vec::new();
    for line in &clean {
        let msg = log("message", line);
        let field = log("field:detail", line);
        let m: serde_json::Value = serde_json::from_str(&msg.json.text()).unwrap();
        let f: serde_json::Value = serde_json::from_str(&field.json.text()).unwrap();
        if m["message"] != *line || f["labels"]["detail"] != *line || redactor.redact(line) != *line
        {
            altered.push(format!(
                "{line:?} -> {} / {}",
                m["message"], f["labels"]["detail"]
            ));
        }
    }

    println!(
        "redaction corpus: recall {:.2}% ({caught}/{secrets} secrets in {} rows, 3 formats), false positives {}/{} clean lines ({:.2}%)",
        100.0 * caught as f64 / secrets as f64,
        SECRETS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count(),
        altered.len(),
        clean.len(),
        100.0 * altered.len() as f64 / clean.len() as f64,
    );
    assert!(missed.is_empty(), "missed secrets:\n{}", missed.join("\n"));
    assert!(
        altered.is_empty(),
        "altered clean lines:\n{}",
        altered.join("\n")
    );
}
