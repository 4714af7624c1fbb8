//! Every grok pattern of the pipeline, on sample lines: the patterns are read from the parsed
//! pipeline (the `match` lists, in order) and expanded from the shipped patterns file plus
//! pygrok's base patterns; the first pattern that matches wins, as with Logstash's
//! `break_on_match`. Each sample names the pattern that must take it and the fields it must
//! yield; lines no pattern may take are checked too.
//!
//! pygrok ships Logstash's legacy pattern set; Logstash 8+ loads the ECS set. Only base
//! patterns whose definitions are identical in both sets (`VERIFIED_BASE_PATTERNS`) may be
//! used, directly or through another pattern; the test fails on any other.

use std::io::Write;
use std::process::{Command, Stdio};

use aiplatform_monitoring::logstash::{Pipeline, Plugin, parse_files, pipeline_files};
use aiplatform_monitoring::repo_root;
use aiplatform_monitoring::tools::require_python_module;
use serde_json::{Value, json};

/// Base patterns whose definition in pygrok 1.0.0's `grok-patterns` is the same text as in
/// logstash-patterns-core's `patterns/ecs-v1/grok-patterns` (compared line by line). Patterns
/// that differ (MONTH, LOGLEVEL, SYSLOGBASE, URI*, TZ, ...) are deliberately absent.
const VERIFIED_BASE_PATTERNS: &[&str] = &[
    "BASE10NUM",
    "BASE16FLOAT",
    "BASE16NUM",
    "DATA",
    "GREEDYDATA",
    "HOSTNAME",
    "HOSTPORT",
    "HOUR",
    "INT",
    "IP",
    "IPORHOST",
    "IPV4",
    "IPV6",
    "ISO8601_TIMEZONE",
    "MINUTE",
    "MONTHDAY",
    "MONTHNUM",
    "MONTHNUM2",
    "NONNEGINT",
    "NOTSPACE",
    "NUMBER",
    "POSINT",
    "PROG",
    "QS",
    "QUOTEDSTRING",
    "SECOND",
    "SPACE",
    "TIME",
    "TIMESTAMP_ISO8601",
    "USER",
    "USERNAME",
    "UUID",
    "WORD",
    "YEAR",
];

struct Sample {
    text: &'static str,
    /// The pattern (by name) that must take the line, or None when none may.
    pattern: Option<&'static str>,
    fields: Value,
}

fn file_samples() -> Vec<Sample> {
    vec![
        Sample {
            text: "2026-01-02T03:04:05.678Z  INFO request>db aiplatform_api::store: row saved key=42",
            pattern: Some("AIPLATFORM_PRETTY_LINE"),
            fields: json!({
                "[@metadata][timestamp]": "2026-01-02T03:04:05.678Z",
                "[log][level]": "INFO",
                "[labels][spans]": "request>db",
                "[log][logger]": "aiplatform_api::store",
                "message": "row saved key=42",
            }),
        },
        Sample {
            // No spans; a colon in the message does not move the logger.
            text: "2026-01-02T03:04:05.678Z ERROR aiplatform_api: upstream failed: connection reset",
            pattern: Some("AIPLATFORM_PRETTY_LINE"),
            fields: json!({
                "[@metadata][timestamp]": "2026-01-02T03:04:05.678Z",
                "[log][level]": "ERROR",
                "[log][logger]": "aiplatform_api",
                "message": "upstream failed: connection reset",
            }),
        },
        Sample {
            text: "2026-01-02T03:04:05.678Z  WARN aiplatform_logging: dropped lines dropped_queue_full=3",
            pattern: Some("AIPLATFORM_PRETTY_LINE"),
            fields: json!({
                "[@metadata][timestamp]": "2026-01-02T03:04:05.678Z",
                "[log][level]": "WARN",
                "[log][logger]": "aiplatform_logging",
                "message": "dropped lines dropped_queue_full=3",
            }),
        },
        Sample {
            text: r#"ts=2026-01-02T03:04:05.678Z caller=main.rs:42 level=info msg="Listening on" address=0.0.0.0:9100"#,
            pattern: Some("AIPLATFORM_LOGFMT_LINE"),
            fields: json!({
                "[@metadata][timestamp]": "2026-01-02T03:04:05.678Z",
                "[log][origin][file][name]": "main.rs",
                "[log][origin][file][line]": 42,
                "[log][level]": "info",
                "message": "Listening on",
                "[@metadata][logfmt_fields]": "address=0.0.0.0:9100",
            }),
        },
        Sample {
            // Go exporters' lines: unquoted msg, no caller, escaped quotes kept.
            text: r#"ts=2026-01-02T03:04:05.678Z level=error msg=scrape err="dial tcp: \"refused\"""#,
            pattern: Some("AIPLATFORM_LOGFMT_LINE"),
            fields: json!({
                "[@metadata][timestamp]": "2026-01-02T03:04:05.678Z",
                "[log][level]": "error",
                "message": "scrape",
                "[@metadata][logfmt_fields]": r#"err="dial tcp: \"refused\"""#,
            }),
        },
        Sample {
            text: r#"ts=2026-01-02T03:04:05.678Z level=warn msg="queue \"main\" full""#,
            pattern: Some("AIPLATFORM_LOGFMT_LINE"),
            fields: json!({
                "[@metadata][timestamp]": "2026-01-02T03:04:05.678Z",
                "[log][level]": "warn",
                "message": r#"queue \"main\" full"#,
            }),
        },
        Sample {
            text: r#"203.0.113.9 - alice [02/Jan/2026:03:04:05 +0000] "POST /api/v1/predict?model=fraud HTTP/1.1" 200 512 "https://app.example.com/" "curl/8.5.0""#,
            pattern: Some("AIPLATFORM_ACCESS_LINE"),
            fields: json!({
                "[source][address]": "203.0.113.9",
                "[user][name]": "alice",
                "[@metadata][timestamp]": "02/Jan/2026:03:04:05 +0000",
                "[http][request][method]": "POST",
                "[url][original]": "/api/v1/predict?model=fraud",
                "[http][version]": "1.1",
                "[http][response][status_code]": 200,
                "[http][response][body][bytes]": 512,
                "[http][request][referrer]": "https://app.example.com/",
                "[user_agent][original]": "curl/8.5.0",
            }),
        },
        Sample {
            // Common log format (no referrer/agent), IPv6 peer, no body, no user.
            text: r#"2001:db8::7 - - [02/Jan/2026:03:04:05 -0700] "GET /health HTTP/2.0" 204 -"#,
            pattern: Some("AIPLATFORM_ACCESS_LINE"),
            fields: json!({
                "[source][address]": "2001:db8::7",
                "[@metadata][timestamp]": "02/Jan/2026:03:04:05 -0700",
                "[http][request][method]": "GET",
                "[url][original]": "/health",
                "[http][version]": "2.0",
                "[http][response][status_code]": 204,
            }),
        },
        Sample {
            // A malformed request line still yields the status.
            text: r#"198.51.100.4 - - [02/Jan/2026:03:04:05 +0000] "\x16\x03\x01" 400 157 "-" "-""#,
            pattern: Some("AIPLATFORM_ACCESS_LINE"),
            fields: json!({
                "[source][address]": "198.51.100.4",
                "[@metadata][timestamp]": "02/Jan/2026:03:04:05 +0000",
                "[http][response][status_code]": 400,
                "[http][response][body][bytes]": 157,
            }),
        },
        Sample {
            text: "thread 'main' panicked at src/main.rs:4:5",
            pattern: None,
            fields: json!({}),
        },
        Sample {
            // Lower-case month: Logstash's ECS MONTH would take it, pygrok's legacy one not,
            // so our own month pattern refuses it in both.
            text: r#"203.0.113.9 - - [02/jan/2026:03:04:05 +0000] "GET / HTTP/1.1" 200 1"#,
            pattern: None,
            fields: json!({}),
        },
    ]
}

fn syslog_samples() -> Vec<Sample> {
    vec![
        Sample {
            text: r#"<165>1 2026-01-02T03:04:05.003Z web-1 aiplatform-api 4242 ID47 [exampleSDID@32473 iut="3" eventSource="App"] request served"#,
            pattern: Some("AIPLATFORM_SYSLOG5424_LINE"),
            fields: json!({
                "[log][syslog][priority]": 165,
                "[log][syslog][version]": "1",
                "[@metadata][timestamp]": "2026-01-02T03:04:05.003Z",
                "[host][hostname]": "web-1",
                "[log][syslog][appname]": "aiplatform-api",
                "[log][syslog][procid]": "4242",
                "[log][syslog][msgid]": "ID47",
                "[labels][syslog_structured_data]": r#"[exampleSDID@32473 iut="3" eventSource="App"]"#,
                "message": "request served",
            }),
        },
        Sample {
            text: "<14>1 2026-01-02T03:04:05+01:00 db-2 postgres - - - checkpoint complete",
            pattern: Some("AIPLATFORM_SYSLOG5424_LINE"),
            fields: json!({
                "[log][syslog][priority]": 14,
                "[log][syslog][version]": "1",
                "[@metadata][timestamp]": "2026-01-02T03:04:05+01:00",
                "[host][hostname]": "db-2",
                "[log][syslog][appname]": "postgres",
                "message": "checkpoint complete",
            }),
        },
        Sample {
            text: "<34>Jan  2 03:04:05 web-1 sshd[4242]: Failed password for root from 198.51.100.7 port 22 ssh2",
            pattern: Some("AIPLATFORM_SYSLOG3164_LINE"),
            fields: json!({
                "[log][syslog][priority]": 34,
                "[@metadata][timestamp]": "Jan  2 03:04:05",
                "[host][hostname]": "web-1",
                "[process][name]": "sshd",
                "[process][pid]": 4242,
                "message": "Failed password for root from 198.51.100.7 port 22 ssh2",
            }),
        },
        Sample {
            text: "<13>Dec 31 23:59:59 10.0.0.5 kernel: Out of memory: Killed process 912",
            pattern: Some("AIPLATFORM_SYSLOG3164_LINE"),
            fields: json!({
                "[log][syslog][priority]": 13,
                "[@metadata][timestamp]": "Dec 31 23:59:59",
                "[host][hostname]": "10.0.0.5",
                "[process][name]": "kernel",
                "message": "Out of memory: Killed process 912",
            }),
        },
        Sample {
            text: "Jan  2 03:04:05 web-1 sshd[4242]: no priority",
            pattern: None,
            fields: json!({}),
        },
    ]
}

fn grok(p: &Pipeline, id: &str) -> Vec<String> {
    let g: &Plugin = p
        .plugins("grok")
        .into_iter()
        .find(|g| g.id() == id)
        .unwrap_or_else(|| panic!("no grok filter {id}"));
    g.get("match").expect("match")["message"]
        .as_array()
        .expect("a list of patterns")
        .iter()
        .map(|v| v.as_str().expect("a pattern").to_owned())
        .collect()
}

fn run_grok(patterns: &[String], samples: &[Sample]) -> Value {
    require_python_module("pygrok");
    let request = json!({
        "patterns_dirs": [repo_root().join("monitoring/logstash/patterns")],
        "cases": samples.iter().map(|s| json!({"patterns": patterns, "text": s.text})).collect::<Vec<_>>(),
    });
    let mut child = Command::new("python3")
        .arg(repo_root().join("monitoring/tests/helpers/grok_match.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "grok_match.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(filter_id: &str, samples: Vec<Sample>) {
    let trees = parse_files(&pipeline_files(
        &repo_root().join("monitoring/logstash/pipeline/main"),
    ))
    .unwrap();
    let p = Pipeline::from_trees(&trees).unwrap();
    let patterns = grok(&p, filter_id);
    let answer = run_grok(&patterns, &samples);
    for (s, r) in samples.iter().zip(answer["results"].as_array().unwrap()) {
        let matched = r["matched"].as_u64().map(|i| {
            patterns[i as usize]
                .trim_start_matches("%{")
                .trim_end_matches('}')
        });
        assert_eq!(matched, s.pattern, "which pattern takes {:?}", s.text);
        assert_eq!(r["fields"], s.fields, "fields of {:?}", s.text);
    }
    // Every pattern of the filter is exercised by at least one sample.
    for pattern in &patterns {
        let name = pattern.trim_start_matches("%{").trim_end_matches('}');
        assert!(
            samples.iter().any(|s| s.pattern == Some(name)),
            "no sample for {name}"
        );
    }
    for used in answer["used"].as_array().unwrap() {
        let used = used.as_str().unwrap();
        assert!(
            used.starts_with("AIPLATFORM_") || VERIFIED_BASE_PATTERNS.contains(&used),
            "{used} differs between Logstash's ECS and legacy pattern sets (or was not compared)"
        );
    }
}

#[test]
fn application_file_lines() {
    check("parse_text_lines", file_samples());
}

#[test]
fn syslog_lines() {
    check("parse_syslog", syslog_samples());
}

#[test]
fn the_base_pattern_check_can_fail() {
    // SYSLOGTIMESTAMP uses MONTH, whose definition differs between the two pattern sets.
    let answer = run_grok(
        &["%{SYSLOGTIMESTAMP:ts}".to_owned()],
        &[Sample {
            text: "Jan  2 03:04:05",
            pattern: None,
            fields: json!({}),
        }],
    );
    let used: Vec<&str> = answer["used"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(used.contains(&"MONTH"), "{used:?}");
    assert!(!VERIFIED_BASE_PATTERNS.contains(&"MONTH"));
}
