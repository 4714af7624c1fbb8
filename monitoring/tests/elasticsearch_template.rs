//! The ECS mappings component template against (a) every field our logging crate can write,
//! read from its source, (b) every field the Logstash pipeline adds, read from the parsed
//! pipeline and the grok patterns file, and (c) the ECS reference (`@elastic/ecs` 9.4.0) for
//! the type of each field. No field our logs carry is left to dynamic mapping.

use std::collections::{BTreeMap, BTreeSet};

use aiplatform_monitoring::logstash::{Pipeline, field_path, parse_files, pipeline_files};
use aiplatform_monitoring::mappings::Mappings;
use aiplatform_monitoring::repo_root;
use aiplatform_monitoring::tools::ecs_flat_path;
use serde_json::Value;

fn template() -> Value {
    let path = repo_root()
        .join("monitoring/elasticsearch/component_templates/aiplatform-ecs-mappings.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn mappings() -> Mappings {
    Mappings::new(&template()["template"]["mappings"])
}

fn ecs() -> BTreeMap<String, Value> {
    serde_json::from_str(&std::fs::read_to_string(ecs_flat_path()).unwrap()).unwrap()
}

/// Mapped fields that ECS 9.4 does not define, with the type we give them and why.
const NON_ECS: &[(&str, &str, &str)] = &[
    ("@version", "keyword", "Logstash adds it to every event"),
    (
        "client.geo.region_code",
        "keyword",
        "the GeoIP filter writes it beside region_iso_code",
    ),
    (
        "source.geo.region_code",
        "keyword",
        "the GeoIP filter writes it beside region_iso_code",
    ),
    // OpenTelemetry GenAI conventions (ECS 9.5 adds them with these types; finish_reasons is a
    // list of strings in our logs, so keyword rather than the unreleased schema's nested).
    ("gen_ai.operation.name", "keyword", "OTel GenAI"),
    ("gen_ai.request.max_tokens", "integer", "OTel GenAI"),
    ("gen_ai.request.model", "keyword", "OTel GenAI"),
    ("gen_ai.request.temperature", "double", "OTel GenAI"),
    ("gen_ai.request.top_p", "double", "OTel GenAI"),
    ("gen_ai.response.finish_reasons", "keyword", "OTel GenAI"),
    ("gen_ai.response.id", "keyword", "OTel GenAI"),
    ("gen_ai.response.model", "keyword", "OTel GenAI"),
    ("gen_ai.system", "keyword", "OTel GenAI"),
    ("gen_ai.usage.input_tokens", "integer", "OTel GenAI"),
    ("gen_ai.usage.output_tokens", "integer", "OTel GenAI"),
    (
        "labels.severity",
        "keyword",
        "the pipeline's severity class; ECS labels are keywords",
    ),
    (
        "labels.spans",
        "keyword",
        "the logging crate's span path; ECS labels are keywords",
    ),
    (
        "labels.syslog_structured_data",
        "keyword",
        "RFC 5424 structured data, as sent",
    ),
];

/// The field names in a `static NAME: &[&str] = &[...]` table of a Rust source file.
fn rust_table(source: &str, table: &str) -> Vec<String> {
    let start = source
        .find(&format!("static {table}: &[&str] = &["))
        .unwrap_or_else(|| panic!("table {table} not found in the logging crate"));
    let body = &source[start..];
    let end = body.find("];").expect("table end");
    let re = regex::Regex::new(r#""([^"]+)""#).unwrap();
    re.captures_iter(&body[..end])
        .map(|c| c[1].to_owned())
        .collect()
}

/// Every field name aiplatform-logging writes as an ECS field (not under labels).
fn logging_crate_fields() -> BTreeSet<String> {
    let src = std::fs::read_to_string(repo_root().join("aiplatform-logging/src/encode/fields.rs"))
        .expect("aiplatform-logging/src/encode/fields.rs");
    let mut fields: BTreeSet<String> = rust_table(&src, "ECS_FIELDS").into_iter().collect();
    fields.extend(rust_table(&src, "RESERVED"));
    assert!(fields.len() > 50, "{fields:?}");
    // Written by the encoder itself besides those tables.
    fields.extend(["message", "trace.id", "span.id"].map(str::to_owned));
    fields
}

fn dotted(reference: &str) -> String {
    field_path(reference).join(".")
}

/// Every field the main pipeline writes, from grok captures, mutate and the plugins' own
/// ECS output fields.
fn pipeline_fields() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let patterns =
        std::fs::read_to_string(repo_root().join("monitoring/logstash/patterns/aiplatform"))
            .unwrap();
    let capture = regex::Regex::new(r"%\{\w+:([^:}]+)(?::\w+)?\}").unwrap();
    for c in capture.captures_iter(&patterns) {
        out.insert(dotted(&c[1]));
    }
    let trees = parse_files(&pipeline_files(
        &repo_root().join("monitoring/logstash/pipeline/main"),
    ))
    .unwrap();
    let p = Pipeline::from_trees(&trees).unwrap();
    let every_plugin = [
        "tcp",
        "file",
        "udp",
        "http",
        "json",
        "grok",
        "kv",
        "syslog_pri",
        "mutate",
        "split",
        "date",
        "geoip",
        "fingerprint",
    ];
    for name in every_plugin {
        for plugin in p.plugins(name) {
            for option in ["add_field", "copy", "rename", "replace"] {
                if let Some(Value::Object(m)) = plugin.get(option) {
                    for (k, v) in m {
                        out.insert(dotted(if option == "add_field" || option == "replace" {
                            k
                        } else {
                            v.as_str().unwrap()
                        }));
                    }
                }
            }
            if let Some(t) = plugin.get("target").and_then(Value::as_str)
                && ["fingerprint", "date", "split"].contains(&name)
            {
                out.insert(dotted(t));
            }
            for option in ["remote_host_target_field", "request_headers_target_field"] {
                if let Some(t) = plugin.get(option).and_then(Value::as_str) {
                    out.insert(dotted(t));
                }
            }
            if let Some(t) = plugin
                .get("codec")
                .and_then(|c| c["json"]["target"].as_str())
            {
                out.insert(dotted(t));
            }
        }
    }
    // What the plugins write on their own in ECS mode (v8):
    // file input: host.name, log.file.path; plain codec (file, udp): event.original;
    // udp input: host.ip; syslog_pri: facility and severity; geoip (City database) below;
    // Logstash itself: @version, tags.
    out.extend(
        [
            "host.name",
            "log.file.path",
            "event.original",
            "host.ip",
            "log.syslog.facility.code",
            "log.syslog.facility.name",
            "log.syslog.severity.code",
            "log.syslog.severity.name",
            "@version",
            "tags",
            "event.severity",
        ]
        .map(str::to_owned),
    );
    let geo = [
        "ip",
        "geo.city_name",
        "geo.country_name",
        "geo.continent_code",
        "geo.continent_name",
        "geo.country_iso_code",
        "geo.postal_code",
        "geo.region_name",
        "geo.region_code",
        "geo.region_iso_code",
        "geo.timezone",
        "geo.location",
    ];
    for g in p.plugins("geoip") {
        let target = g
            .get("target")
            .and_then(Value::as_str)
            .expect("geoip target");
        out.extend(geo.iter().map(|f| format!("{target}.{f}")));
    }
    out.retain(|f| !f.starts_with("@metadata") && f != "labels");
    out
}

#[test]
fn every_field_our_logs_and_the_pipeline_write_is_mapped() {
    let m = mappings();
    let mut missing = Vec::new();
    for f in logging_crate_fields().iter().chain(&pipeline_fields()) {
        if f == "labels" {
            assert_eq!(
                m.fields.get("labels").map(|f| f.ty.as_str()),
                Some("object")
            );
            continue;
        }
        match m.fields.get(f) {
            Some(field) if field.ty != "object" => {}
            _ => missing.push(f.clone()),
        }
    }
    assert!(missing.is_empty(), "not mapped: {missing:#?}");
}

#[test]
fn mapped_types_are_the_ecs_types() {
    let ecs = ecs();
    let m = mappings();
    let non_ecs: BTreeMap<&str, &str> = NON_ECS.iter().map(|(f, t, _)| (*f, *t)).collect();
    let mut wrong = Vec::new();
    for (path, field) in &m.fields {
        if field.ty == "object" {
            continue;
        }
        let parent_is_multi_field = m.fields.iter().any(|(p, f)| {
            path.starts_with(&format!("{p}."))
                && f.mapping["fields"]
                    .get(path[p.len() + 1..].to_owned())
                    .is_some()
        });
        if parent_is_multi_field {
            continue;
        }
        let want = match (ecs.get(path), non_ecs.get(path.as_str())) {
            (Some(def), None) => def,
            (None, Some(ty)) => {
                if field.ty != *ty {
                    wrong.push(format!("{path}: {} (listed as {ty})", field.ty));
                }
                continue;
            }
            (Some(_), Some(_)) => {
                wrong.push(format!("{path}: is ECS now; remove it from NON_ECS"));
                continue;
            }
            (None, None) => {
                wrong.push(format!("{path}: neither ECS nor listed in NON_ECS"));
                continue;
            }
        };
        let ty = want["type"].as_str().unwrap();
        if field.ty != ty {
            wrong.push(format!("{path}: {} but ECS says {ty}", field.ty));
        }
        if let Some(above) = want.get("ignore_above")
            && field.mapping.get("ignore_above") != Some(above)
        {
            wrong.push(format!("{path}: ignore_above should be {above}"));
        }
        for flag in ["index", "doc_values"] {
            if let Some(v) = want.get(flag)
                && field.mapping.get(flag) != Some(v)
            {
                wrong.push(format!("{path}: {flag} should be {v}"));
            }
        }
        for mf in want["multi_fields"].as_array().into_iter().flatten() {
            let name = mf["name"].as_str().unwrap();
            if field.mapping["fields"][name]["type"] != mf["type"] {
                wrong.push(format!(
                    "{path}.{name}: should be a {} multi-field",
                    mf["type"]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn nothing_is_mapped_dynamically_except_labels_as_keywords() {
    let t = template();
    let mappings = &t["template"]["mappings"];
    assert_eq!(
        mappings["dynamic"], false,
        "unknown fields stay in _source, unindexed"
    );
    assert_eq!(mappings["date_detection"], false);
    let m = Mappings::new(mappings);
    assert_eq!(m.dynamic_objects, ["labels"]);
    assert_eq!(m.type_of("labels.tenant_id").as_deref(), Some("keyword"));
    assert_eq!(m.type_of("something.new"), None);
    // Searched by exact value and by range: hashes are keywords, status codes numbers.
    assert_eq!(m.type_of("event.hash").as_deref(), Some("keyword"));
    assert_eq!(
        m.type_of("http.response.status_code").as_deref(),
        Some("long")
    );
    assert_eq!(m.type_of("event.duration").as_deref(), Some("long"));
    assert_eq!(m.type_of("@timestamp").as_deref(), Some("date"));
}

#[test]
fn the_source_reader_sees_the_logging_crate_tables() {
    let fields = logging_crate_fields();
    for f in [
        "event.hash",
        "http.response.status_code",
        "url.full",
        "event.duration",
        "client.ip",
    ] {
        assert!(
            fields.contains(f),
            "{f} not read from aiplatform-logging: {fields:?}"
        );
    }
}
