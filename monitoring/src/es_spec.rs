//! Validates Elasticsearch request bodies against the Elasticsearch API specification.
//!
//! No Elasticsearch runs on the machines that test this repository, so the bodies we send
//! (index templates, the ILM policy, roles, users) are checked against the compiled
//! specification instead: the `schema.json` that the `@elastic/request-converter` npm package
//! ships, which is the `elasticsearch-specification` metamodel (endpoints, request types,
//! interfaces, unions, enums, aliases). The walker below follows that metamodel:
//!
//! - an endpoint is found by method and path template (`PUT /_ilm/policy/{policy}`);
//! - its request body is an object of named properties, or a single value type;
//! - an interface accepts its own and inherited properties (and their aliases), requires the
//!   required ones, and rejects unknown keys unless it has the `AdditionalProperties` behaviour;
//! - unions accept any member; tagged unions (`Property` by `type`) pick the member by tag;
//! - enums accept their members and aliases (open enums any string);
//! - `integer`/`long`/... must be whole numbers; `Stringified<T>` also takes a string.
//!
//! Keys accepted only because a type allows arbitrary extra keys (index settings do) are
//! reported separately as [`Report::unchecked`], so a caller can insist that every key it
//! sends is one the specification knows.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

/// The loaded specification.
pub struct Spec {
    types: HashMap<(String, String), Value>,
    endpoints: Vec<Value>,
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("types", &self.types.len())
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

/// What a validation found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Violations of the specification, each as `path: problem`.
    pub errors: Vec<String>,
    /// Paths accepted only because their type takes arbitrary extra keys.
    pub unchecked: Vec<String>,
}

impl Report {
    /// No errors and nothing unchecked.
    pub fn is_strictly_valid(&self) -> bool {
        self.errors.is_empty() && self.unchecked.is_empty()
    }
}

type Generics = HashMap<(String, String), Value>;

impl Spec {
    /// Reads `schema.json`.
    pub fn load(path: &Path) -> Result<Spec, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "reading the Elasticsearch specification {}: {e} (scripts/lib/deps.sh unpacks it)",
                path.display()
            )
        })?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut types = HashMap::new();
        for t in v["types"]
            .as_array()
            .ok_or("no types in the specification")?
        {
            types.insert(type_key(&t["name"]), t.clone());
        }
        let endpoints = v["endpoints"]
            .as_array()
            .ok_or("no endpoints in the specification")?
            .clone();
        Ok(Spec { types, endpoints })
    }

    /// The name of the endpoint (`ilm.put_lifecycle`) serving `method path` (query ignored).
    pub fn endpoint_for(&self, method: &str, path: &str) -> Option<&str> {
        let path = path.split('?').next().unwrap_or(path);
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(&str, usize)> = None;
        for e in &self.endpoints {
            for u in e["urls"].as_array().into_iter().flatten() {
                if !u["methods"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m == method))
                {
                    continue;
                }
                let tpl: Vec<&str> = u["path"]
                    .as_str()
                    .unwrap_or("")
                    .trim_matches('/')
                    .split('/')
                    .collect();
                if tpl.len() != segs.len() {
                    continue;
                }
                let mut literal = 0;
                let matches = tpl.iter().zip(&segs).all(|(t, s)| {
                    if t.starts_with('{') {
                        !s.is_empty() && !s.starts_with('_')
                    } else {
                        literal += 1;
                        t == s
                    }
                });
                // Prefer the template with the most literal segments (`/_security/user/{u}/_password`).
                if matches && best.is_none_or(|(_, l)| literal > l) {
                    best = Some((e["name"].as_str().unwrap_or(""), literal));
                }
            }
        }
        best.map(|(n, _)| n)
    }

    /// Validates the query string keys and the body of a request to `endpoint`.
    pub fn validate_request(&self, endpoint: &str, query: &[&str], body: Option<&Value>) -> Report {
        let mut r = Report::default();
        let Some(e) = self.endpoints.iter().find(|e| e["name"] == endpoint) else {
            r.errors
                .push(format!("no endpoint {endpoint} in the specification"));
            return r;
        };
        let Some(req) = self.types.get(&type_key(&e["request"])) else {
            r.errors.push(format!("{endpoint}: request type missing"));
            return r;
        };
        let known_query: Vec<&str> = req["query"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| q["name"].as_str())
            .chain(["error_trace", "filter_path", "human", "pretty"])
            .collect();
        for q in query {
            if !known_query.contains(q) {
                r.errors
                    .push(format!("?{q}: not a query parameter of {endpoint}"));
            }
        }
        let body_spec = &req["body"];
        match (body_spec["kind"].as_str(), body) {
            (Some("no_body"), Some(_)) => r.errors.push(format!("{endpoint} takes no body")),
            (Some("no_body"), None) => {}
            (_, None) if e["requestBodyRequired"] == true => {
                r.errors.push(format!("{endpoint} requires a body"))
            }
            (_, None) => {}
            (Some("properties"), Some(b)) => {
                let props: Vec<&Value> = body_spec["properties"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .collect();
                self.check_object(b, "", &props, None, &Generics::new(), &mut r);
            }
            (Some("value"), Some(b)) => {
                self.check(b, "", &body_spec["value"], &Generics::new(), &mut r)
            }
            (k, _) => r
                .errors
                .push(format!("{endpoint}: unknown body kind {k:?}")),
        }
        r
    }

    fn check(&self, v: &Value, path: &str, ty: &Value, g: &Generics, r: &mut Report) {
        match ty["kind"].as_str() {
            Some("instance_of") => self.check_instance(v, path, ty, g, r),
            Some("array_of") => match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, &format!("{path}[{i}]"), &ty["value"], g, r);
                    }
                }
                None => r.errors.push(format!(
                    "{}: expected an array, got {}",
                    show(path),
                    kind(v)
                )),
            },
            Some("union_of") => {
                self.check_union(v, path, ty["items"].as_array().map_or(&[][..], |a| a), g, r)
            }
            Some("dictionary_of") => match v.as_object() {
                Some(o) => {
                    if ty["singleKey"] == true && o.len() != 1 {
                        r.errors.push(format!(
                            "{}: expected exactly one key, got {}",
                            show(path),
                            o.len()
                        ));
                    }
                    for (k, item) in o {
                        self.check(item, &join(path, k), &ty["value"], g, r);
                    }
                }
                None => r.errors.push(format!(
                    "{}: expected an object, got {}",
                    show(path),
                    kind(v)
                )),
            },
            Some("literal_value") => {
                if *v != ty["value"] {
                    r.errors
                        .push(format!("{}: expected {}, got {v}", show(path), ty["value"]));
                }
            }
            Some("user_defined_value") => {}
            k => r
                .errors
                .push(format!("{}: unknown type kind {k:?}", show(path))),
        }
    }

    fn check_union(&self, v: &Value, path: &str, items: &[Value], g: &Generics, r: &mut Report) {
        let mut best: Option<Report> = None;
        for item in items {
            let mut sub = Report::default();
            self.check(v, path, item, g, &mut sub);
            if sub.errors.is_empty() {
                r.unchecked.extend(sub.unchecked);
                return;
            }
            if best
                .as_ref()
                .is_none_or(|b| sub.errors.len() < b.errors.len())
            {
                best = Some(sub);
            }
        }
        match best {
            Some(b) if b.errors.len() == 1 => r.errors.extend(b.errors),
            Some(b) => r.errors.push(format!(
                "{}: matches no member of a union; closest: {}",
                show(path),
                b.errors.join("; ")
            )),
            None => r.errors.push(format!("{}: empty union", show(path))),
        }
    }

    fn check_instance(&self, v: &Value, path: &str, ty: &Value, g: &Generics, r: &mut Report) {
        let key = type_key(&ty["type"]);
        if let Some(sub) = g.get(&key) {
            return self.check(v, path, &sub.clone(), g, r);
        }
        if key.0 == "_builtins" {
            let ok = match key.1.as_str() {
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "number" => v.is_number(),
                "null" => v.is_null(),
                "binary" | "void" => true,
                _ => false,
            };
            if !ok {
                r.errors.push(format!(
                    "{}: expected {}, got {}",
                    show(path),
                    key.1,
                    kind(v)
                ));
            }
            return;
        }
        if key.0 == "_types"
            && matches!(
                key.1.as_str(),
                "integer" | "long" | "short" | "byte" | "uint" | "ulong"
            )
            && !(v.is_i64() || v.is_u64())
        {
            r.errors.push(format!(
                "{}: expected a whole number ({}), got {v}",
                show(path),
                key.1
            ));
            return;
        }
        let Some(def) = self.types.get(&key) else {
            // A generic parameter nobody bound (e.g. a document type): anything goes.
            return;
        };
        let g = bind_generics(def, ty, g);
        match def["kind"].as_str() {
            Some("type_alias") => self.check_alias(v, path, def, &g, r),
            Some("enum") => check_enum(v, path, def, r),
            Some("interface") => self.check_interface(v, path, def, &g, r),
            k => r.errors.push(format!(
                "{}: unexpected type kind {k:?} for {}",
                show(path),
                key.1
            )),
        }
    }

    fn check_alias(&self, v: &Value, path: &str, def: &Value, g: &Generics, r: &mut Report) {
        let variants = &def["variants"];
        match variants["kind"].as_str() {
            Some("internal_tag") => {
                let Some(o) = v.as_object() else {
                    r.errors.push(format!(
                        "{}: expected an object, got {}",
                        show(path),
                        kind(v)
                    ));
                    return;
                };
                let tag_name = variants["tag"].as_str().unwrap_or("type");
                let tag = o
                    .get(tag_name)
                    .and_then(Value::as_str)
                    .or(variants["defaultTag"].as_str());
                let Some(tag) = tag else {
                    r.errors
                        .push(format!("{}: missing tag `{tag_name}`", show(path)));
                    return;
                };
                for item in def["type"]["items"].as_array().into_iter().flatten() {
                    let Some(member) = self.types.get(&type_key(&item["type"])) else {
                        continue;
                    };
                    let literal = member["properties"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| p["name"] == tag_name)
                        .map(|p| &p["type"]["value"]);
                    if member["variantName"] == tag || literal.is_some_and(|l| l == tag) {
                        return self.check(v, path, item, g, r);
                    }
                }
                if variants["nonExhaustive"] == true {
                    r.unchecked
                        .push(format!("{} ({tag_name} {tag})", show(path)));
                } else {
                    r.errors
                        .push(format!("{}: unknown {tag_name} `{tag}`", show(path)));
                }
            }
            _ => self.check(v, path, &def["type"], g, r),
        }
    }

    fn check_interface(&self, v: &Value, path: &str, def: &Value, g: &Generics, r: &mut Report) {
        let mut props = Vec::new();
        let mut additional = None;
        self.collect_props(def, g, &mut props, &mut additional);
        if let Some(shortcut) = def["shortcutProperty"].as_str()
            && !v.is_object()
            && let Some(p) = props.iter().find(|p| p["name"] == shortcut)
        {
            return self.check(v, path, &p["type"], g, r);
        }
        let container = def["variants"]["kind"] == "container";
        let extra = additional.as_ref().map(|(t, n)| (t, n.as_str()));
        self.check_object(v, path, &props, extra, g, r);
        if container && let Some(o) = v.as_object() {
            let variants = o
                .keys()
                .filter(|k| {
                    props
                        .iter()
                        .any(|p| p["name"] == **k && p["containerProperty"] != true)
                })
                .count();
            if variants != 1 {
                r.errors.push(format!(
                    "{}: expected exactly one variant key, got {variants}",
                    show(path)
                ));
            }
        }
    }

    /// Properties of an interface and everything it inherits; the extra-keys behaviour if any.
    fn collect_props(
        &self,
        def: &Value,
        g: &Generics,
        props: &mut Vec<Value>,
        additional: &mut Option<(Value, String)>,
    ) {
        for p in def["properties"].as_array().into_iter().flatten() {
            props.push(substitute(p, g));
        }
        for b in def["behaviors"].as_array().into_iter().flatten() {
            let name = b["type"]["name"].as_str().unwrap_or("");
            if name == "AdditionalProperties" || name == "AdditionalProperty" {
                let val = substitute(&b["generics"][1], g);
                *additional = Some((val, name.to_owned()));
            }
        }
        if let Some(parent) = def.get("inherits")
            && let Some(pdef) = self.types.get(&type_key(&parent["type"]))
        {
            let pg = bind_generics(pdef, parent, g);
            self.collect_props(pdef, &pg, props, additional);
        }
    }

    fn check_object(
        &self,
        v: &Value,
        path: &str,
        props: &[impl std::borrow::Borrow<Value>],
        additional: Option<(&Value, &str)>,
        g: &Generics,
        r: &mut Report,
    ) {
        let Some(o) = v.as_object() else {
            r.errors.push(format!(
                "{}: expected an object, got {}",
                show(path),
                kind(v)
            ));
            return;
        };
        for p in props {
            let p = p.borrow();
            if p["required"] == true && find(o, p).is_none() {
                r.errors.push(format!(
                    "{}: missing required `{}`",
                    show(path),
                    p["name"].as_str().unwrap_or("")
                ));
            }
        }
        for (k, item) in o {
            let sub = join(path, k);
            match props
                .iter()
                .map(|p| p.borrow())
                .find(|p| names_of(p).any(|n| n == k))
            {
                Some(p) => self.check(item, &sub, &p["type"], g, r),
                None => match additional {
                    Some((val, behaviour)) => {
                        if val["kind"] == "user_defined_value" {
                            r.unchecked.push(sub);
                        } else {
                            // An `AdditionalProperty` is a single dynamic key (a field name).
                            if behaviour == "AdditionalProperty" && o.len() > props.len() + 1 {
                                r.errors
                                    .push(format!("{}: more than one dynamic key", show(path)));
                            }
                            self.check(item, &sub, val, g, r);
                        }
                    }
                    None => r.errors.push(format!("{sub}: unknown key")),
                },
            }
        }
    }
}

fn find<'a>(o: &'a Map<String, Value>, p: &Value) -> Option<&'a Value> {
    names_of(p).find_map(|n| o.get(n))
}

fn names_of(p: &Value) -> impl Iterator<Item = &str> {
    p["name"].as_str().into_iter().chain(
        p["aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str),
    )
}

fn check_enum(v: &Value, path: &str, def: &Value, r: &mut Report) {
    let members: Vec<&str> = def["members"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(names_of)
        .collect();
    let text = match v {
        Value::String(s) => s.clone(),
        // Enums that grew out of booleans (`dynamic`) take JSON booleans too.
        Value::Bool(b) if members.contains(&"true") => b.to_string(),
        _ => {
            r.errors.push(format!(
                "{}: expected one of {members:?}, got {v}",
                show(path)
            ));
            return;
        }
    };
    if def["isOpen"] != true && !members.contains(&text.as_str()) {
        r.errors.push(format!(
            "{}: `{text}` is not one of {members:?}",
            show(path)
        ));
    }
}

/// Binds a generic type's parameters to the arguments of the reference that names it.
fn bind_generics(def: &Value, reference: &Value, outer: &Generics) -> Generics {
    let mut g = outer.clone();
    let params = def["generics"].as_array();
    let args = reference["generics"].as_array();
    if let (Some(params), Some(args)) = (params, args) {
        for (p, a) in params.iter().zip(args) {
            g.insert(type_key(p), substitute(a, outer));
        }
    }
    g
}

/// Replaces bound generic parameters inside a type reference.
fn substitute(v: &Value, g: &Generics) -> Value {
    if g.is_empty() {
        return v.clone();
    }
    match v {
        Value::Object(o) => {
            if o.get("kind").and_then(Value::as_str) == Some("instance_of")
                && let Some(sub) = g.get(&type_key(&o["type"]))
            {
                return sub.clone();
            }
            Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), substitute(x, g)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, g)).collect()),
        _ => v.clone(),
    }
}

fn type_key(name: &Value) -> (String, String) {
    (
        name["namespace"].as_str().unwrap_or("").to_owned(),
        name["name"].as_str().unwrap_or("").to_owned(),
    )
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn show(path: &str) -> &str {
    if path.is_empty() { "(body)" } else { path }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
