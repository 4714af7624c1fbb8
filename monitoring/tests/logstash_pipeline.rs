//! The Logstash pipeline and settings: every file parsed by a Logstash config parser
//! (`logstash-pipeline-parser`), then the structure the rest of the stack relies on.
//!
//! Not covered here (no Logstash runs on this machine): plugin option validation as Logstash
//! does it at startup, and the behaviour of plugins other than the ones the routing tests
//! execute.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aiplatform_monitoring::logstash::{Pipeline, Plugin, parse_files, pipeline_files};
use aiplatform_monitoring::repo_root;
use serde_json::{Value, json};

fn dir(rel: &str) -> PathBuf {
    repo_root().join("monitoring/logstash").join(rel)
}

fn main_pipeline() -> Pipeline {
    let trees = parse_files(&pipeline_files(&dir("pipeline/main"))).expect("main pipeline parses");
    Pipeline::from_trees(&trees).expect("main pipeline builds")
}

#[test]
fn every_pipeline_file_parses() {
    let mut files = pipeline_files(&dir("pipeline/main"));
    files.extend(pipeline_files(&dir("pipeline/dead-letters")));
    assert!(files.len() >= 6, "pipeline files: {files:?}");
    let trees =
        parse_files(&files).unwrap_or_else(|e| panic!("a pipeline file does not parse: {e}"));
    assert_eq!(trees.len(), files.len());
}

#[test]
fn the_parser_rejects_a_broken_pipeline() {
    // The syntax gate can fail: drop one closing brace from the real routing file.
    let text = std::fs::read_to_string(dir("pipeline/main/40-route.conf")).unwrap();
    let broken = text.replacen("}\n  } else if", "\n  } else if", 1);
    assert_ne!(text, broken);
    let tmp = std::env::temp_dir().join(format!("aiplatform-broken-{}.conf", std::process::id()));
    std::fs::write(&tmp, broken).unwrap();
    let result = parse_files(std::slice::from_ref(&tmp));
    std::fs::remove_file(&tmp).ok();
    assert!(result.is_err(), "a missing brace parsed: {result:?}");
}

#[test]
fn a_hash_with_a_key_twice_is_refused_as_logstash_refuses_it() {
    // Logstash stops with "Duplicate keys found in your configuration"; the reader does too,
    // rather than keeping one of the two.
    let conf = "filter {\n  mutate {\n    copy => {\n      \"[a]\" => \"[b]\"\n      \"[a]\" => \"[c]\"\n    }\n  }\n}\n";
    let tmp = std::env::temp_dir().join(format!("aiplatform-dupkey-{}.conf", std::process::id()));
    std::fs::write(&tmp, conf).unwrap();
    let trees = parse_files(std::slice::from_ref(&tmp));
    std::fs::remove_file(&tmp).ok();
    let err = Pipeline::from_trees(&trees.unwrap()).unwrap_err();
    assert!(err.contains("duplicate key"), "{err}");
}

#[test]
fn inputs_are_the_tcp_sink_application_files_syslog_and_alertmanager() {
    let p = main_pipeline();
    let tcp = one(&p, "tcp");
    assert_eq!(tcp.get("port"), Some(&json!(5000)));
    let codec = tcp.get("codec").expect("tcp codec");
    assert!(
        codec.get("json_lines").is_some(),
        "our sink writes json_lines: {codec}"
    );
    assert!(
        codec["json_lines"]["decode_size_limit_bytes"]
            .as_u64()
            .is_some(),
        "an explicit line limit instead of the 512 MiB default"
    );
    assert_eq!(tcp.get("dns_reverse_lookup_enabled"), Some(&json!(false)));
    let file = one(&p, "file");
    assert!(
        file.get("path").and_then(Value::as_array).is_some_and(|a| a
            .iter()
            .all(|p| p.as_str().is_some_and(|p| p.starts_with('/')))),
        "file input paths must be absolute"
    );
    let udp = one(&p, "udp");
    assert_eq!(udp.get("port"), Some(&json!(5514)));
    // Alertmanager's webhooks: the whole notification under @metadata (the filters make one
    // event per alert), nothing of the request itself on the event.
    let http = one(&p, "http");
    assert_eq!(http.get("port"), Some(&json!(5001)));
    assert_eq!(http.get("ecs_compatibility"), Some(&json!("disabled")));
    assert!(
        matches!(http.get("additional_codecs"), Some(Value::Array(a)) if a.is_empty()),
        "every content type goes to the configured codec"
    );
    let target = http.get("codec").and_then(|c| c["json"]["target"].as_str());
    assert!(
        target.is_some_and(|t| t.starts_with("[@metadata]")),
        "{target:?}"
    );
    for field in ["remote_host_target_field", "request_headers_target_field"] {
        let to = http.get(field).and_then(Value::as_str);
        assert!(
            to.is_some_and(|t| t.starts_with("[@metadata]")),
            "{field}: {to:?}"
        );
    }
    for input in [tcp, file, udp, http] {
        let marks = input
            .get("add_field")
            .and_then(|f| f.get("[@metadata][input]"));
        assert!(
            marks.is_some(),
            "{} marks its events for the filters",
            input.id()
        );
    }
}

#[test]
fn outputs_write_the_three_daily_indices_by_event_hash() {
    let p = main_pipeline();
    let outputs = p.plugins("elasticsearch");
    let indices: BTreeSet<&str> = outputs
        .iter()
        .filter_map(|o| o.get("index").and_then(Value::as_str))
        .collect();
    assert_eq!(
        indices,
        BTreeSet::from([
            "aiplatform-errors-%{+YYYY.MM.dd}",
            "aiplatform-logs-%{+YYYY.MM.dd}",
            "aiplatform-metrics-%{+YYYY.MM.dd}",
        ])
    );
    for o in outputs {
        assert_eq!(
            o.get("document_id"),
            Some(&json!("%{[event][hash]}")),
            "{}",
            o.id()
        );
        assert_eq!(
            o.get("action"),
            Some(&json!("index")),
            "{}: a resend overwrites",
            o.id()
        );
        assert_eq!(
            o.get("manage_template"),
            Some(&json!(false)),
            "{}: apply.sh owns templates",
            o.id()
        );
        assert_eq!(o.get("data_stream"), Some(&json!("false")), "{}", o.id());
        assert_eq!(
            o.get("password"),
            Some(&json!("${LOGSTASH_INTERNAL_PASSWORD}")),
            "{}: the password comes from the environment",
            o.id()
        );
    }
}

#[test]
fn plugin_ids_are_unique() {
    let mut files = pipeline_files(&dir("pipeline/main"));
    files.extend(pipeline_files(&dir("pipeline/dead-letters")));
    let trees = parse_files(&files).unwrap();
    let p = Pipeline::from_trees(&trees).unwrap();
    let mut seen = BTreeSet::new();
    for name in [
        "tcp",
        "file",
        "udp",
        "http",
        "dead_letter_queue",
        "json",
        "grok",
        "kv",
        "syslog_pri",
        "mutate",
        "split",
        "date",
        "geoip",
        "fingerprint",
        "elasticsearch",
    ] {
        for plugin in p.plugins(name) {
            let id = plugin.get("id").and_then(Value::as_str);
            let id =
                id.unwrap_or_else(|| panic!("a {name} plugin has no id (monitoring API names)"));
            assert!(seen.insert(id.to_owned()), "plugin id {id} used twice");
        }
    }
}

#[test]
fn grok_filters_use_the_shipped_patterns_directory() {
    let p = main_pipeline();
    let defined = pattern_names(&dir("patterns/aiplatform"));
    for g in p.plugins("grok") {
        assert_eq!(
            g.get("patterns_dir"),
            Some(&json!(["/usr/share/logstash/patterns"])),
            "{}",
            g.id()
        );
        for pattern in grok_patterns(g) {
            let name = pattern.trim_start_matches("%{").trim_end_matches('}');
            assert!(
                defined.contains(name),
                "{}: {pattern} is not in patterns/aiplatform",
                g.id()
            );
        }
    }
}

#[test]
fn settings_persist_the_queue_and_keep_dead_letters() {
    let text = std::fs::read_to_string(dir("config/logstash.yml")).unwrap();
    let s: Value = serde_norway::from_str(&text).expect("logstash.yml is YAML");
    assert_eq!(s["queue.type"], "persisted");
    assert!(
        s["queue.max_bytes"].is_string(),
        "the persisted queue is bounded"
    );
    assert_eq!(s["dead_letter_queue.enable"], true);
    assert_eq!(s["pipeline.ecs_compatibility"], "v8");
    assert_eq!(s["api.http.port"], 9600);
    assert_eq!(s["api.http.host"], "0.0.0.0");
}

#[test]
fn pipelines_yml_points_at_the_shipped_pipeline_directories() {
    let text = std::fs::read_to_string(dir("config/pipelines.yml")).unwrap();
    let pipelines: Vec<Value> = serde_norway::from_str(&text).expect("pipelines.yml is YAML");
    let ids: Vec<&str> = pipelines
        .iter()
        .filter_map(|p| p["pipeline.id"].as_str())
        .collect();
    assert_eq!(ids, ["main", "dead-letters"]);
    for p in &pipelines {
        let glob = p["path.config"].as_str().expect("path.config");
        // Compose mounts monitoring/logstash/pipeline at /usr/share/logstash/pipeline.
        let rel = glob
            .strip_prefix("/usr/share/logstash/pipeline/")
            .unwrap_or_else(|| panic!("{glob} is outside the mounted pipeline directory"));
        let (sub, pattern) = rel.split_once('/').expect("a directory and a glob");
        assert_eq!(pattern, "*.conf");
        assert!(
            !pipeline_files(&dir("pipeline").join(sub)).is_empty(),
            "{glob} matches nothing"
        );
    }
    // The dead-letters pipeline reads the main pipeline's queue.
    let trees = parse_files(&pipeline_files(&dir("pipeline/dead-letters"))).unwrap();
    let dlq = Pipeline::from_trees(&trees).unwrap();
    let input = one(&dlq, "dead_letter_queue");
    assert_eq!(input.get("pipeline_id"), Some(&json!("main")));
    assert_eq!(
        input.get("path"),
        Some(&json!("/usr/share/logstash/data/dead_letter_queue"))
    );
}

fn one<'a>(p: &'a Pipeline, name: &str) -> &'a Plugin {
    let found = p.plugins(name);
    assert_eq!(found.len(), 1, "expected one {name} plugin");
    found[0]
}

/// The `match` patterns of a grok filter.
pub fn grok_patterns(g: &Plugin) -> Vec<String> {
    let m = g.get("match").expect("grok match");
    m.as_object()
        .expect("match is a hash")
        .values()
        .flat_map(|v| match v {
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Value::String(s) => vec![s.clone()],
            _ => vec![],
        })
        .collect()
}

fn pattern_names(file: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}
