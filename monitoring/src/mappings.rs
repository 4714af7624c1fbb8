//! The index template's field mappings, flattened, and a check of a JSON document against
//! them: every leaf field must be mapped (or fall under a dynamic template), and its JSON
//! value must be one Elasticsearch indexes into the mapped type without coercion or loss.
//!
//! Elasticsearch expands dotted keys (`"log.level": ...`) into objects, so a document is
//! flattened the same way before it is compared.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

/// A mapped field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// `keyword`, `long`, `date`, ...
    pub ty: String,
    /// The mapping object as written.
    pub mapping: Value,
}

/// Every mapped field of a `mappings` object, by dotted path; multi-fields appear as
/// `path.subfield`.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    /// Leaf and object fields by path.
    pub fields: BTreeMap<String, Field>,
    /// `path_match` patterns of dynamic templates, with the mapping they give.
    pub dynamic_templates: Vec<(String, Value)>,
    /// Paths of objects that take unmapped fields (`dynamic: true`).
    pub dynamic_objects: Vec<String>,
}

impl Mappings {
    /// Reads a `mappings` object (`{"dynamic": ..., "properties": {...}}`).
    pub fn new(mappings: &Value) -> Mappings {
        let mut m = Mappings::default();
        if mappings["dynamic"] == true || mappings["dynamic"] == "true" {
            m.dynamic_objects.push(String::new());
        }
        walk(&mappings["properties"], "", &mut m);
        for t in mappings["dynamic_templates"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for (_, def) in t.as_object().into_iter().flatten() {
                if let Some(p) = def["path_match"].as_str() {
                    m.dynamic_templates
                        .push((p.to_owned(), def["mapping"].clone()));
                }
            }
        }
        m
    }

    /// The mapped type of a leaf path, looking at dynamic templates for unmapped ones.
    pub fn type_of(&self, path: &str) -> Option<String> {
        if let Some(f) = self.fields.get(path) {
            return Some(f.ty.clone());
        }
        let dynamic = self
            .dynamic_objects
            .iter()
            .any(|o| o.is_empty() || path.starts_with(&format!("{o}.")));
        if !dynamic {
            return None;
        }
        self.dynamic_templates
            .iter()
            .find(|(pattern, _)| glob(pattern, path))
            .and_then(|(_, m)| m["type"].as_str().map(str::to_owned))
    }

    /// Problems indexing `doc`: unmapped fields and values of the wrong type.
    pub fn check_document(&self, doc: &Value) -> Vec<String> {
        let mut leaves = Vec::new();
        flatten(doc, "", &mut leaves);
        let mut problems = Vec::new();
        for (path, value) in leaves {
            match self.type_of(&path) {
                None => problems.push(format!("{path}: not mapped (value {value})")),
                Some(ty) => {
                    let values: Vec<&Value> = match value {
                        Value::Array(a) => a.iter().collect(),
                        v => vec![v],
                    };
                    for v in values {
                        if let Err(why) = fits(&ty, v) {
                            problems.push(format!("{path}: {ty} cannot take {v}: {why}"));
                        }
                    }
                }
            }
        }
        problems
    }
}

fn walk(props: &Value, prefix: &str, m: &mut Mappings) {
    for (name, def) in props.as_object().into_iter().flatten() {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let ty = def["type"].as_str().unwrap_or("object").to_owned();
        if def["dynamic"] == true || def["dynamic"] == "true" {
            m.dynamic_objects.push(path.clone());
        }
        for (sub, sdef) in def["fields"].as_object().into_iter().flatten() {
            m.fields.insert(
                format!("{path}.{sub}"),
                Field {
                    ty: sdef["type"].as_str().unwrap_or("").to_owned(),
                    mapping: sdef.clone(),
                },
            );
        }
        if def.get("properties").is_some() {
            walk(&def["properties"], &path, m);
        }
        m.fields.insert(
            path,
            Field {
                ty,
                mapping: def.clone(),
            },
        );
    }
}

/// Leaf values by dotted path; dotted keys are split as Elasticsearch does; arrays of scalars
/// are one leaf; objects inside arrays are walked.
pub fn flatten<'a>(v: &'a Value, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(x, &path, out);
            }
        }
        Value::Array(a) if a.iter().any(Value::is_object) => {
            for x in a {
                flatten(x, prefix, out);
            }
        }
        _ => out.push((prefix.to_owned(), v)),
    }
}

/// Whether Elasticsearch indexes `v` into a field of type `ty` as that value.
fn fits(ty: &str, v: &Value) -> Result<(), String> {
    let ok = |b: bool, why: &str| if b { Ok(()) } else { Err(why.to_owned()) };
    match ty {
        "keyword" | "constant_keyword" | "wildcard" => ok(
            v.is_string() || v.is_number() || v.is_boolean(),
            "not a scalar",
        ),
        "text" | "match_only_text" => ok(v.is_string(), "not a string"),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => {
            ok(v.is_i64() || v.is_u64(), "not a whole JSON number")
        }
        "double" | "float" | "half_float" | "scaled_float" => {
            ok(v.is_number(), "not a JSON number")
        }
        "boolean" => ok(v.is_boolean(), "not a boolean"),
        "date" => match v {
            Value::String(s) => ok(is_iso8601(s), "not an ISO-8601 date-time"),
            Value::Number(n) => ok(n.is_u64(), "not epoch milliseconds"),
            _ => Err("not a date".into()),
        },
        "ip" => ok(
            v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
            "not an IP address",
        ),
        "geo_point" => ok(
            v.is_object() || v.is_string() || v.is_array(),
            "not a point",
        ),
        "flattened" | "object" => ok(v.is_object(), "a scalar where an object is mapped"),
        other => Err(format!("no rule for mapped type {other}")),
    }
}

/// `strict_date_optional_time`: `yyyy-MM-dd['T'HH:mm[:ss[.S+]]][Z|±HH:mm]`.
fn is_iso8601(s: &str) -> bool {
    let re = regex::Regex::new(
        r"^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$",
    )
    .expect("valid regex");
    re.is_match(s)
}

/// Elasticsearch's `path_match` glob: `*` matches any run of characters.
fn glob(pattern: &str, path: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == path;
    }
    let mut rest = path;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_checked_field_by_field() {
        let m = Mappings::new(&json!({
            "dynamic": false,
            "dynamic_templates": [{"l": {"path_match": "labels.*", "mapping": {"type": "keyword"}}}],
            "properties": {
                "@timestamp": {"type": "date"},
                "log": {"properties": {"level": {"type": "keyword"}}},
                "http": {"properties": {"response": {"properties": {"status_code": {"type": "long"}}}}},
                "client": {"properties": {"ip": {"type": "ip"}}},
                "labels": {"type": "object", "dynamic": true},
                "url": {"properties": {"full": {"type": "wildcard", "fields": {"text": {"type": "match_only_text"}}}}}
            }
        }));
        let ok = json!({
            "@timestamp": "2026-01-02T03:04:05.678Z", "log.level": "INFO",
            "http": {"response": {"status_code": 200}}, "client": {"ip": "2001:db8::1"},
            "labels": {"tenant": "42"}, "url": {"full": "http://x/"}
        });
        assert_eq!(m.check_document(&ok), Vec::<String>::new());
        let bad = json!({
            "@timestamp": 1.5, "http": {"response": {"status_code": "200"}},
            "client": {"ip": "web-1"}, "other": 1, "log": {"level": {"name": "x"}}
        });
        let problems = m.check_document(&bad);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert_eq!(
            m.type_of("url.full.text").as_deref(),
            Some("match_only_text")
        );
    }

    #[test]
    fn globs() {
        assert!(glob("labels.*", "labels.a.b"));
        assert!(!glob("labels.*", "label.a"));
        assert!(glob("a*c", "abbc"));
    }
}
