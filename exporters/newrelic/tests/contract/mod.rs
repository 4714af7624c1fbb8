//! New Relic's Metric API contract, as its documentation states it, checked on captured
//! requests: there is no New Relic receiver to run locally, so the test receiver records the
//! requests and these checks decode and validate them field by field.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Captured;

/// The compressed body limit of the Metric and Log APIs.
pub const MAX_PAYLOAD: usize = 1_000_000;

/// Keys New Relic keeps for itself: never attribute keys.
const RESERVED: &[&str] = &[
    "timestamp",
    "interval.ms",
    "value",
    "common",
    "min",
    "max",
    "count",
    "sum",
    "metrics",
    "accountId",
    "appId",
    "eventType",
    "metricName",
    "endTimestamp",
    "newrelic.source",
    "entity.guid",
    "entity.name",
    "entity.type",
];

/// One metric as New Relic stores it: its own attributes over the common ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub kind: String,
    pub value: Value,
    pub timestamp: i64,
    pub interval_ms: Option<i64>,
    /// The metric's own attributes, values rendered as text.
    pub attributes: BTreeMap<String, String>,
    /// The common block's attributes.
    pub common: BTreeMap<String, String>,
}

impl Metric {
    /// The identity of a series: name and own attributes.
    pub fn key(&self) -> String {
        let attrs: Vec<String> = self
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}{{{}}}", self.name, attrs.join(","))
    }

    pub fn number(&self) -> f64 {
        self.value.as_f64().unwrap_or_else(|| panic!("{self:?}"))
    }

    pub fn summary(&self, field: &str) -> &Value {
        &self.value[field]
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn scalar_text(v: &Value, what: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("{what}: attribute values are strings, numbers or booleans, got {other}"),
    }
}

fn attributes(v: &Value, what: &str) -> BTreeMap<String, String> {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: attributes must be an object"));
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        assert!(
            !k.is_empty() && k.chars().count() < 255,
            "{what}: attribute key {k:?} must be 1..255 characters"
        );
        assert!(
            !RESERVED.contains(&k.as_str()),
            "{what}: attribute key {k:?} is reserved"
        );
        if let Value::String(s) = v {
            assert!(
                s.chars().count() <= 4096,
                "{what}: attribute {k} longer than 4096 characters"
            );
        }
        out.insert(k.clone(), scalar_text(v, what));
    }
    out
}

/// Checks the headers every request to the Metric or Log API must carry.
pub fn check_headers(req: &Captured, key_header: &str, key: &str) {
    assert_eq!(req.method, "POST");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(
        req.headers["content-encoding"], "gzip",
        "bodies are compressed"
    );
    assert_eq!(
        req.headers[key_header], key,
        "the key travels in {key_header}"
    );
    let length: usize = req.headers["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Content-Length is required (411 otherwise)");
    assert!(
        length <= MAX_PAYLOAD,
        "a compressed body of {length} bytes is over New Relic's 10^6"
    );
    assert!(
        req.headers
            .get("user-agent")
            .is_some_and(|ua| ua.to_str().unwrap().starts_with("aiplatform-newrelic/")),
        "{:?}",
        req.headers.get("user-agent")
    );
}

/// Decodes one Metric API request and checks every documented field; returns its metrics.
pub fn metric_payload(req: &Captured, key_header: &str, key: &str) -> Vec<Metric> {
    assert_eq!(req.path, "/metric/v1");
    check_headers(req, key_header, key);
    let body: Value = serde_json::from_slice(&req.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", req.text()));
    let maps = body.as_array().expect("the body is a JSON array of maps");
    assert!(!maps.is_empty());
    let now = now_ms();
    let mut out = Vec::new();
    for map in maps {
        let map = map.as_object().expect("each element is a map");
        for k in map.keys() {
            assert!(
                k == "common" || k == "metrics",
                "unexpected top-level key {k}"
            );
        }
        let mut common = BTreeMap::new();
        if let Some(c) = map.get("common") {
            let c = c.as_object().expect("common is an object");
            for k in c.keys() {
                assert!(
                    ["timestamp", "interval.ms", "attributes"].contains(&k.as_str()),
                    "unexpected common key {k}"
                );
            }
            if let Some(a) = c.get("attributes") {
                common = attributes(a, "common");
            }
        }
        let metrics = map
            .get("metrics")
            .and_then(Value::as_array)
            .expect("metrics is required and an array");
        for m in metrics {
            let obj = m.as_object().expect("a metric is an object");
            for k in obj.keys() {
                assert!(
                    [
                        "name",
                        "type",
                        "value",
                        "timestamp",
                        "interval.ms",
                        "attributes"
                    ]
                    .contains(&k.as_str()),
                    "unexpected metric key {k} in {m}"
                );
            }
            let name = obj["name"].as_str().expect("name is a string").to_owned();
            assert!(
                !name.is_empty() && name.chars().count() < 255,
                "name must be shorter than 255 characters"
            );
            let kind = obj
                .get("type")
                .map_or("gauge", |t| t.as_str().expect("type is a string"))
                .to_owned();
            assert!(
                ["gauge", "count", "summary"].contains(&kind.as_str()),
                "type {kind}"
            );
            let value = obj["value"].clone();
            match kind.as_str() {
                "summary" => {
                    let v = value.as_object().expect("a summary's value is an object");
                    assert_eq!(
                        v.keys().map(String::as_str).collect::<Vec<_>>(),
                        ["count", "max", "min", "sum"],
                        "{m}"
                    );
                    assert!(v["count"].is_number() && v["sum"].is_number(), "{m}");
                    for f in ["min", "max"] {
                        assert!(v[f].is_number() || v[f].is_null(), "{m}");
                    }
                }
                _ => assert!(value.is_number(), "{m}"),
            }
            let timestamp = obj["timestamp"]
                .as_i64()
                .expect("timestamp is an integer (ms)");
            assert!(
                timestamp > now - 48 * 3_600_000 && timestamp < now + 24 * 3_600_000,
                "timestamp {timestamp} outside New Relic's window (ms since the epoch)"
            );
            let interval_ms = obj.get("interval.ms").map(|v| {
                v.as_i64()
                    .filter(|&i| i > 0)
                    .expect("interval.ms is a positive integer")
            });
            if kind != "gauge" {
                assert!(interval_ms.is_some(), "{kind} needs interval.ms: {m}");
            }
            let own = obj
                .get("attributes")
                .map(|a| attributes(a, &name))
                .unwrap_or_default();
            let total = common
                .keys()
                .chain(own.keys())
                .collect::<std::collections::BTreeSet<_>>();
            assert!(total.len() <= 100, "{name}: more than 100 attributes");
            assert!(
                !own.contains_key(&name) && !common.contains_key(&name),
                "an attribute named like its metric {name}"
            );
            out.push(Metric {
                name,
                kind,
                value,
                timestamp,
                interval_ms,
                attributes: own,
                common: common.clone(),
            });
        }
    }
    out
}

/// Attributes New Relic drops or keeps for itself on log events.
const LOG_RESERVED: &[&str] = &[
    "accountId",
    "eventType",
    "entity.guid",
    "entity.name",
    "entity.type",
    "instrumentation.name",
    "instrumentation.provider",
    "instrumentation.version",
];

/// One log event as New Relic stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    pub timestamp: i64,
    pub message: String,
    pub attributes: serde_json::Map<String, Value>,
    pub common: serde_json::Map<String, Value>,
}

impl Log {
    pub fn attr(&self, k: &str) -> &Value {
        self.attributes.get(k).unwrap_or(&Value::Null)
    }
}

fn log_attributes(v: &Value, what: &str) -> serde_json::Map<String, Value> {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}: attributes must be an object"))
        .clone();
    for (k, v) in &obj {
        assert!(
            !k.is_empty() && k.chars().count() <= 255,
            "{what}: attribute name {k:?} must be 1..=255 characters"
        );
        assert!(
            !LOG_RESERVED.contains(&k.as_str()),
            "{what}: attribute {k:?} is reserved"
        );
        match v {
            Value::String(s) => {
                let searchable: usize = s.chars().take(4094).map(char::len_utf8).sum();
                assert!(
                    s.len() <= searchable + 128_000,
                    "{what}: {k} is {} bytes, past what New Relic keeps (4094 characters and 128 000 bytes more)",
                    s.len()
                )
            }
            Value::Number(_) | Value::Bool(_) => {}
            other => panic!("{what}: {k} = {other}: arrays and objects are not supported"),
        }
    }
    obj
}

/// Decodes one Log API request and checks every documented field; returns its events.
pub fn log_payload(req: &Captured, key_header: &str, key: &str) -> Vec<Log> {
    assert_eq!(req.path, "/log/v1");
    check_headers(req, key_header, key);
    let body: Value = serde_json::from_slice(&req.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", req.text()));
    let maps = body
        .as_array()
        .expect("the detailed format: an array of maps");
    let now = now_ms();
    let mut out = Vec::new();
    for map in maps {
        let map = map.as_object().expect("each element is a map");
        for k in map.keys() {
            assert!(k == "common" || k == "logs", "unexpected top-level key {k}");
        }
        let common = map
            .get("common")
            .map(|c| {
                let c = c.as_object().expect("common is an object");
                assert!(c.keys().all(|k| k == "attributes" || k == "timestamp"));
                c.get("attributes")
                    .map(|a| log_attributes(a, "common"))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let logs = map
            .get("logs")
            .and_then(Value::as_array)
            .expect("logs is an array");
        for l in logs {
            let obj = l.as_object().expect("a log is an object");
            for k in obj.keys() {
                assert!(
                    ["timestamp", "message", "attributes"].contains(&k.as_str()),
                    "unexpected log key {k}"
                );
            }
            let timestamp = obj["timestamp"]
                .as_i64()
                .expect("timestamp: integer ms since the epoch");
            assert!(
                timestamp > now - 48 * 3_600_000 && timestamp <= now + 60_000,
                "timestamp {timestamp}"
            );
            let message = obj["message"]
                .as_str()
                .expect("message is a string")
                .to_owned();
            assert!(message.len() <= 128_000);
            let attributes = obj
                .get("attributes")
                .map(|a| log_attributes(a, &message))
                .unwrap_or_default();
            let names: std::collections::BTreeSet<&String> =
                common.keys().chain(attributes.keys()).collect();
            assert!(names.len() <= 255, "more than 255 attributes");
            out.push(Log {
                timestamp,
                message,
                attributes,
                common: common.clone(),
            });
        }
    }
    out
}
