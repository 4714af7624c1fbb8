//! Reads the Logstash pipeline through a real parser, and runs the part of it that decides
//! where an event goes.
//!
//! No Logstash runs here. The pipeline files are parsed by `logstash-pipeline-parser` (PyPI;
//! `tests/helpers/logstash_ast.py` prints its syntax tree as JSON), and [`Pipeline`] executes
//! that tree on JSON events the way Logstash would for the constructs it knows:
//!
//! - conditionals: `if` / `else if` / `else`, `and` / `or` (not mixed without parentheses),
//!   `!`, field truthiness, `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, `=~`, `!~`;
//! - `mutate` (`rename`, `replace`, `convert`, `uppercase`, `lowercase`, `copy`, then
//!   `add_field`, `add_tag`, `remove_field`, `remove_tag`, in the plugin's own order);
//! - `fingerprint` with `concatenate_sources` (the plugin's `|name|value|...|` string);
//! - `geoip` for addresses that no GeoIP database holds (private, documentation, ...), where
//!   Logstash's lookup misses as well; a public address is refused (no MaxMind database here);
//! - `split` (one event per array element, or per line of a string);
//! - `date` for `ISO8601` values (other formats are refused when reached);
//! - the input's `add_field` and `type`, and for the `http` input with ECS decoration off,
//!   the `json` codec (with `target`), the peer address and headers fields
//!   ([`Pipeline::receive_http`]);
//! - outputs: the `elasticsearch` plugins reached, with `index` and `document_id` rendered
//!   (`%{[field]}`, `%{+YYYY.MM.dd}` from `@timestamp`).
//!
//! Any other plugin (grok, json, kv, ...) makes [`Pipeline::process`] fail, naming it, rather
//! than being skipped: a test that relies on this module only passes for events whose path
//! through the pipeline is fully executed.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::repo_root;

/// Parses pipeline files with `logstash-pipeline-parser`, returning each file's tree.
pub fn parse_files(files: &[PathBuf]) -> Result<Vec<(PathBuf, Value)>, String> {
    crate::tools::require_python_module("logstash_pipeline_parser");
    let helper = repo_root().join("monitoring/tests/helpers/logstash_ast.py");
    let out = Command::new("python3")
        .arg(&helper)
        .args(files)
        .output()
        .map_err(|e| format!("running {}: {e}", helper.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut trees: Map<String, Value> =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("parser output: {e}"))?;
    files
        .iter()
        .map(|f| {
            let key = f.to_string_lossy().into_owned();
            trees
                .remove(&key)
                .map(|t| (f.clone(), t))
                .ok_or_else(|| format!("no tree for {key}"))
        })
        .collect()
}

/// The `*.conf` files of a pipeline directory, in the order Logstash concatenates them.
pub fn pipeline_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    files
}

/// A plugin in a pipeline: its name and options, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    /// `mutate`, `elasticsearch`, ...
    pub name: String,
    /// `(option, value)`; hashes are JSON objects, lists JSON arrays.
    pub options: Vec<(String, Value)>,
}

impl Plugin {
    /// The value of an option, if set.
    pub fn get(&self, option: &str) -> Option<&Value> {
        self.options
            .iter()
            .find(|(k, _)| k == option)
            .map(|(_, v)| v)
    }

    /// The `id` option, or the plugin name.
    pub fn id(&self) -> &str {
        self.get("id").and_then(Value::as_str).unwrap_or(&self.name)
    }
}

/// A statement: a plugin or a conditional.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// A plugin invocation.
    Plugin(Plugin),
    /// `if` / `else if` / `else` arms; an arm without a condition is the `else`.
    Branch(Vec<(Option<Cond>, Vec<Stmt>)>),
}

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// All must hold.
    And(Vec<Cond>),
    /// One must hold.
    Or(Vec<Cond>),
    /// Negation.
    Not(Box<Cond>),
    /// The operand is present and truthy.
    Truthy(Operand),
    /// `lhs op rhs`.
    Compare(Operand, String, Operand),
}

/// A value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `[a][b]`.
    Field(String),
    /// A string, number, boolean or list literal.
    Literal(Value),
}

/// The sections of a whole pipeline (every file concatenated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pipeline {
    /// `input` sections.
    pub inputs: Vec<Stmt>,
    /// `filter` sections.
    pub filters: Vec<Stmt>,
    /// `output` sections.
    pub outputs: Vec<Stmt>,
}

/// Where the outputs send one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The output plugin's `id`.
    pub output: String,
    /// The rendered `index`.
    pub index: String,
    /// The rendered `document_id`, if set.
    pub document_id: Option<String>,
}

/// An error executing the pipeline on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecError(pub String);

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Pipeline {
    /// Builds a pipeline from the trees of its files (in concatenation order).
    pub fn from_trees(trees: &[(PathBuf, Value)]) -> Result<Pipeline, String> {
        let mut p = Pipeline::default();
        for (file, tree) in trees {
            for section in tree.as_array().ok_or("a tree is a list of sections")? {
                let name = section[0].as_str().unwrap_or("");
                let body = stmts(&section[1]).map_err(|e| format!("{}: {e}", file.display()))?;
                match name {
                    "input" => p.inputs.extend(body),
                    "filter" => p.filters.extend(body),
                    "output" => p.outputs.extend(body),
                    other => return Err(format!("{}: unknown section {other}", file.display())),
                }
            }
        }
        Ok(p)
    }

    /// Every plugin named `name` in any section, conditionals included.
    pub fn plugins(&self, name: &str) -> Vec<&Plugin> {
        fn walk<'a>(s: &'a [Stmt], name: &str, out: &mut Vec<&'a Plugin>) {
            for st in s {
                match st {
                    Stmt::Plugin(p) if p.name == name => out.push(p),
                    Stmt::Plugin(_) => {}
                    Stmt::Branch(arms) => arms.iter().for_each(|(_, b)| walk(b, name, out)),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.inputs, name, &mut out);
        walk(&self.filters, name, &mut out);
        walk(&self.outputs, name, &mut out);
        out
    }

    /// Runs an event received by the input with this `id` through the filters and outputs:
    /// returns the event as it would be indexed (without `@metadata`) and its deliveries.
    /// An event that the filters split into several, or drop, is an error here: see
    /// [`Pipeline::process_all`].
    pub fn process(
        &self,
        input_id: &str,
        event: Value,
    ) -> Result<(Value, Vec<Delivery>), ExecError> {
        let mut all = self.process_all(input_id, event)?;
        if all.len() != 1 {
            return Err(ExecError(format!(
                "the event became {} events (split or dropped)",
                all.len()
            )));
        }
        Ok(all.remove(0))
    }

    /// Runs an event received by the input with this `id` through the filters and outputs;
    /// every event that comes out (a `split` makes several, an empty split none), as it would
    /// be indexed (without `@metadata`), with its deliveries.
    pub fn process_all(
        &self,
        input_id: &str,
        event: Value,
    ) -> Result<Vec<(Value, Vec<Delivery>)>, ExecError> {
        let Value::Object(mut ev) = event else {
            return Err(ExecError("an event is a JSON object".into()));
        };
        let input = self.input(input_id)?;
        ev.entry("@version").or_insert_with(|| "1".into());
        if let Some(t) = input.get("type").and_then(Value::as_str) {
            ev.entry("type").or_insert_with(|| t.into());
        }
        common_after(&mut ev, input)?;
        let mut out = Vec::new();
        for mut ev in run(&self.filters, vec![ev])? {
            let mut deliveries = Vec::new();
            route(&self.outputs, &ev, &mut deliveries)?;
            ev.remove("@metadata");
            out.push((Value::Object(ev), deliveries));
        }
        Ok(out)
    }

    /// What the `http` input with this `id` makes of one request, run through the filters
    /// and outputs like [`Pipeline::process_all`].
    ///
    /// The input is executed as logstash-input-http 4.x does it with ECS compatibility
    /// disabled: the body is decoded by the `json` codec (the one named by `codec` when
    /// `additional_codecs` is empty, else the default `json` for `application/json`), into
    /// its `target` when set; an array body gives one event per element, a body that is not
    /// JSON one event with the text in `message` and the `_jsonparsefailure` tag. The peer
    /// address goes to `remote_host_target_field` (default `host`), the headers, as the
    /// plugin names them (`content_type`, `request_method`, `request_path`, ...), to
    /// `request_headers_target_field` (default `headers`). An input with ECS decoration on
    /// (it would add `[http]`, `[url]`, `[user_agent]` fields) is refused.
    pub fn receive_http(
        &self,
        input_id: &str,
        request: &HttpRequest,
    ) -> Result<Vec<(Value, Vec<Delivery>)>, ExecError> {
        let input = self.input(input_id)?;
        if input.name != "http" {
            return Err(ExecError(format!("{input_id} is a {} input", input.name)));
        }
        if input.get("ecs_compatibility").and_then(Value::as_str) != Some("disabled") {
            return Err(ExecError(format!(
                "{input_id}: the http input's ECS decoration is not executed here"
            )));
        }
        let codec = match input.get("additional_codecs") {
            // `{}` (the parser gives an empty hash as an empty list).
            Some(Value::Object(m)) if m.is_empty() => input.get("codec").cloned(),
            Some(Value::Array(a)) if a.is_empty() => input.get("codec").cloned(),
            // The default: application/json goes to a plain `json` codec.
            None if request.content_type().starts_with("application/json") => {
                Some(Value::from("json"))
            }
            _ => {
                return Err(ExecError(format!(
                    "{input_id}: only the json codec is executed here"
                )));
            }
        };
        let target = match &codec {
            Some(Value::String(name)) if name == "json" => None,
            Some(Value::Object(m)) if m.len() == 1 && m.contains_key("json") => {
                let opts = &m["json"];
                if opts
                    .as_object()
                    .is_some_and(|o| o.keys().any(|k| k != "target"))
                {
                    return Err(ExecError(format!(
                        "{input_id}: json codec options other than target are not executed here"
                    )));
                }
                opts["target"].as_str().map(str::to_owned)
            }
            other => {
                return Err(ExecError(format!(
                    "{input_id}: codec {other:?} is not executed here"
                )));
            }
        };
        let decoded: Vec<Map<String, Value>> = match serde_json::from_slice::<Value>(&request.body)
        {
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|v| wrap(v, target.as_deref()))
                .collect(),
            Ok(v) => vec![wrap(v, target.as_deref())],
            Err(_) => {
                let mut ev = Map::new();
                ev.insert(
                    "message".into(),
                    String::from_utf8_lossy(&request.body).into_owned().into(),
                );
                ev.insert("tags".into(), serde_json::json!(["_jsonparsefailure"]));
                vec![ev]
            }
        };
        let headers_field = input
            .get("request_headers_target_field")
            .and_then(Value::as_str)
            .unwrap_or("headers");
        let host_field = input
            .get("remote_host_target_field")
            .and_then(Value::as_str)
            .unwrap_or("host");
        let mut out = Vec::new();
        for mut ev in decoded {
            set(&mut ev, headers_field, request.header_map());
            set(&mut ev, host_field, Value::from(request.peer.clone()));
            out.extend(self.process_all(input_id, Value::Object(ev))?);
        }
        Ok(out)
    }

    fn input(&self, input_id: &str) -> Result<&Plugin, ExecError> {
        self.inputs
            .iter()
            .find_map(|s| match s {
                Stmt::Plugin(p) if p.id() == input_id => Some(p),
                _ => None,
            })
            .ok_or_else(|| ExecError(format!("no input with id {input_id}")))
    }
}

/// A decoded JSON value as an event: under `target`, or its fields at the root (a value
/// that is not an object at the root becomes a `_jsonparsefailure` event, as the codec does).
fn wrap(v: Value, target: Option<&str>) -> Map<String, Value> {
    let mut ev = Map::new();
    match (target, v) {
        (Some(t), v) => set(&mut ev, t, v),
        (None, Value::Object(m)) => ev = m,
        (None, other) => {
            ev.insert("message".into(), other.to_string().into());
            ev.insert("tags".into(), serde_json::json!(["_jsonparsefailure"]));
        }
    }
    ev
}

/// An HTTP request, as an `http` input receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `POST`, ...
    pub method: String,
    /// The path, with any query.
    pub path: String,
    /// Header names as sent, with their values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The peer's address.
    pub peer: String,
}

impl HttpRequest {
    fn content_type(&self) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The headers as the plugin stores them: names lower-cased with `-` as `_`, plus
    /// `request_method`, `request_path` and `http_version`.
    fn header_map(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.headers {
            m.insert(k.to_ascii_lowercase().replace('-', "_"), v.clone().into());
        }
        m.insert("request_method".into(), self.method.clone().into());
        m.insert("request_path".into(), self.path.clone().into());
        m.insert("http_version".into(), "HTTP/1.1".into());
        Value::Object(m)
    }
}

fn stmts(v: &Value) -> Result<Vec<Stmt>, String> {
    let mut out = Vec::new();
    let items = v
        .as_array()
        .ok_or_else(|| format!("expected statements, got {v}"))?;
    let mut i = 0;
    while i < items.len() {
        let item = &items[i];
        let head = item[0]
            .as_str()
            .ok_or_else(|| format!("expected a statement, got {item}"))?;
        if head == "if" {
            let mut arms = vec![arm(&item[1], true)?];
            while let Some(next) = items.get(i + 1) {
                match next[0].as_str() {
                    Some("else if") => arms.push(arm(&next[1], true)?),
                    Some("else") => arms.push(arm(&next[1], false)?),
                    _ => break,
                }
                i += 1;
                if arms.last().is_some_and(|a| a.0.is_none()) {
                    break;
                }
            }
            out.push(Stmt::Branch(arms));
        } else if head == "else if" || head == "else" {
            return Err(format!("`{head}` without `if`"));
        } else {
            out.push(Stmt::Plugin(plugin(head, &item[1])?));
        }
        i += 1;
    }
    Ok(out)
}

fn arm(v: &Value, has_cond: bool) -> Result<(Option<Cond>, Vec<Stmt>), String> {
    let parts = v.as_array().ok_or("malformed conditional")?;
    if !has_cond {
        return Ok((None, stmts(v)?));
    }
    let (body, cond) = parts.split_last().ok_or("empty conditional")?;
    let body = body.get(0).ok_or("conditional without a body")?;
    Ok((Some(condition(cond)?), stmts(body)?))
}

fn condition(parts: &[Value]) -> Result<Cond, String> {
    let mut terms = Vec::new();
    let mut op: Option<&str> = None;
    for p in parts {
        match p {
            Value::String(s) if s == "and" || s == "or" => {
                if op.is_some_and(|o| o != s) {
                    return Err("`and` and `or` mixed without parentheses".into());
                }
                op = Some(s);
            }
            Value::Array(_) => terms.push(term(p)?),
            other => return Err(format!("unexpected {other} in a condition")),
        }
    }
    Ok(match (op, terms.len()) {
        (_, 1) => terms.pop().expect("one term"),
        (Some("or"), _) => Cond::Or(terms),
        _ => Cond::And(terms),
    })
}

fn term(v: &Value) -> Result<Cond, String> {
    let a = v.as_array().expect("checked by the caller");
    match a.as_slice() {
        [x] => Ok(Cond::Truthy(operand(x))),
        [Value::String(bang), x] if bang == "!" => match x {
            Value::Array(inner) => Ok(Cond::Not(Box::new(condition(inner)?))),
            _ => Ok(Cond::Not(Box::new(Cond::Truthy(operand(x))))),
        },
        [l, Value::String(op), r] => Ok(Cond::Compare(operand(l), op.clone(), operand(r))),
        _ => Err(format!("unsupported condition {v}")),
    }
}

fn operand(v: &Value) -> Operand {
    match v.as_str() {
        Some(s) if s.starts_with('[') && s.ends_with(']') && !s.starts_with("[\"") => {
            Operand::Field(s.to_owned())
        }
        _ => Operand::Literal(v.clone()),
    }
}

fn plugin(name: &str, opts: &Value) -> Result<Plugin, String> {
    let mut options = Vec::new();
    for o in opts
        .as_array()
        .ok_or_else(|| format!("{name}: malformed options"))?
    {
        let key = o[0]
            .as_str()
            .ok_or_else(|| format!("{name}: option without a name"))?;
        options.push((key.to_owned(), option_value(&o[1])?));
    }
    Ok(Plugin {
        name: name.to_owned(),
        options,
    })
}

/// The parser wraps every option value in a one-element list. Inside it: a scalar, a list
/// (`[a, b]`), a hash (a list of `[key, [value]]` pairs), or a codec with options
/// (`[name, [[option, [value]], ...]]`). A hash with a key twice is refused, as Logstash
/// refuses it ("Duplicate keys found in your configuration").
fn option_value(v: &Value) -> Result<Value, String> {
    let inner = match v.as_array() {
        Some(a) if a.len() == 1 => &a[0],
        _ => return Ok(v.clone()),
    };
    let Some(items) = inner.as_array() else {
        return Ok(inner.clone());
    };
    let is_pair = |p: &Value| {
        p.as_array()
            .is_some_and(|kv| kv.len() == 2 && kv[0].is_string() && kv[1].is_array())
    };
    if !items.is_empty() && items.iter().all(is_pair) {
        let mut hash = Map::new();
        for p in items {
            let key = p[0].as_str().unwrap_or("").to_owned();
            if hash.insert(key.clone(), option_value(&p[1])?).is_some() {
                return Err(format!("duplicate key {key:?} in a hash"));
            }
        }
        return Ok(Value::Object(hash));
    }
    if let [Value::String(codec), opts] = items.as_slice()
        && opts.as_array().is_some_and(|o| o.iter().all(is_pair))
        && let Ok(p) = plugin(codec, opts)
    {
        let mut m = Map::new();
        m.insert(p.name, Value::Object(p.options.into_iter().collect()));
        return Ok(Value::Object(m));
    }
    Ok(inner.clone())
}

/// Splits a field reference (`[a][b]`, `message`) into its path.
pub fn field_path(r: &str) -> Vec<String> {
    if !r.starts_with('[') {
        return vec![r.to_owned()];
    }
    r.trim_start_matches('[')
        .trim_end_matches(']')
        .split("][")
        .map(str::to_owned)
        .collect()
}

fn get<'a>(ev: &'a Map<String, Value>, r: &str) -> Option<&'a Value> {
    let path = field_path(r);
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(ev.get(first)?, |v, k| v.as_object()?.get(k))
}

fn set(ev: &mut Map<String, Value>, r: &str, value: Value) {
    let path = field_path(r);
    let (last, parents) = path.split_last().expect("a field has a name");
    let mut cur = ev;
    for k in parents {
        let slot = cur
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        cur = slot.as_object_mut().expect("made an object");
    }
    cur.insert(last.clone(), value);
}

fn remove(ev: &mut Map<String, Value>, r: &str) -> Option<Value> {
    let path = field_path(r);
    let (last, parents) = path.split_last()?;
    let mut cur = ev;
    for k in parents {
        cur = cur.get_mut(k)?.as_object_mut()?;
    }
    cur.remove(last)
}

fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null) | Some(Value::Bool(false)))
}

fn eval(c: &Cond, ev: &Map<String, Value>) -> Result<bool, ExecError> {
    let resolve = |o: &Operand| -> Option<Value> {
        match o {
            Operand::Field(f) => get(ev, f).cloned(),
            Operand::Literal(v) => Some(v.clone()),
        }
    };
    Ok(match c {
        Cond::And(cs) => {
            for c in cs {
                if !eval(c, ev)? {
                    return Ok(false);
                }
            }
            true
        }
        Cond::Or(cs) => {
            for c in cs {
                if eval(c, ev)? {
                    return Ok(true);
                }
            }
            false
        }
        Cond::Not(c) => !eval(c, ev)?,
        Cond::Truthy(o) => truthy(resolve(o).as_ref()),
        Cond::Compare(l, op, r) => {
            let (lv, rv) = (resolve(l), resolve(r));
            match op.as_str() {
                "==" => lv == rv,
                "!=" => lv != rv,
                "in" | "not in" => {
                    let found = match (&lv, &rv) {
                        (Some(x), Some(Value::Array(list))) => list.contains(x),
                        (Some(Value::String(x)), Some(Value::String(s))) => s.contains(x.as_str()),
                        _ => false,
                    };
                    found == (op == "in")
                }
                "=~" | "!~" => {
                    let pattern = match r {
                        Operand::Literal(Value::String(p)) => p,
                        _ => return Err(ExecError(format!("regex expected after {op}"))),
                    };
                    let re = regex::Regex::new(pattern)
                        .map_err(|e| ExecError(format!("regex /{pattern}/: {e}")))?;
                    let hit = lv
                        .as_ref()
                        .and_then(Value::as_str)
                        .is_some_and(|s| re.is_match(s));
                    hit == (op == "=~")
                }
                "<" | "<=" | ">" | ">=" => {
                    let (Some(a), Some(b)) = (
                        lv.as_ref().and_then(Value::as_f64),
                        rv.as_ref().and_then(Value::as_f64),
                    ) else {
                        return Ok(false);
                    };
                    match op.as_str() {
                        "<" => a < b,
                        "<=" => a <= b,
                        ">" => a > b,
                        _ => a >= b,
                    }
                }
                other => return Err(ExecError(format!("unsupported operator {other}"))),
            }
        }
    })
}

/// Runs statements on events; a plugin may turn one event into several (`split`) or none.
fn run(
    stmts: &[Stmt],
    mut events: Vec<Map<String, Value>>,
) -> Result<Vec<Map<String, Value>>, ExecError> {
    for s in stmts {
        let mut next = Vec::with_capacity(events.len());
        for mut ev in events {
            match s {
                Stmt::Branch(arms) => {
                    let mut taken = None;
                    for (cond, body) in arms {
                        let hit = match cond {
                            Some(c) => eval(c, &ev)?,
                            None => true,
                        };
                        if hit {
                            taken = Some(body);
                            break;
                        }
                    }
                    match taken {
                        Some(body) => next.extend(run(body, vec![ev])?),
                        None => next.push(ev),
                    }
                }
                Stmt::Plugin(p) => match p.name.as_str() {
                    "mutate" => {
                        mutate(p, &mut ev)?;
                        next.push(ev);
                    }
                    "fingerprint" => {
                        fingerprint(p, &mut ev)?;
                        next.push(ev);
                    }
                    "geoip" => {
                        geoip(p, &mut ev)?;
                        next.push(ev);
                    }
                    "date" => {
                        date(p, &mut ev)?;
                        next.push(ev);
                    }
                    "split" => next.extend(split(p, ev)?),
                    other => {
                        return Err(ExecError(format!(
                            "plugin `{other}` ({}) is not executed here",
                            p.id()
                        )));
                    }
                },
            }
        }
        events = next;
    }
    Ok(events)
}

/// logstash-filter-split: an array field gives one copy of the event per element (the
/// field, or `target`, set to it; empty elements skipped; no element, no event); a string
/// is split on `terminator` (a single piece leaves the event alone); anything else is tagged
/// `_split_type_failure`.
fn split(p: &Plugin, mut ev: Map<String, Value>) -> Result<Vec<Map<String, Value>>, ExecError> {
    let field = p.get("field").and_then(Value::as_str).unwrap_or("message");
    let target = p.get("target").and_then(Value::as_str);
    let pieces: Vec<Value> = match get(&ev, field).cloned() {
        Some(Value::Array(items)) => {
            if target.is_none() {
                remove(&mut ev, field);
            }
            items
        }
        Some(Value::String(text)) => {
            let terminator = p.get("terminator").and_then(Value::as_str).unwrap_or("\n");
            let parts: Vec<Value> = text.split(terminator).map(Value::from).collect();
            if parts.len() == 1 {
                return Ok(vec![ev]);
            }
            parts
        }
        _ => {
            let tags = ev.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = tags {
                a.push("_split_type_failure".into());
            }
            return Ok(vec![ev]);
        }
    };
    let mut out = Vec::new();
    for piece in pieces {
        if piece.is_null() || piece.as_str() == Some("") {
            continue;
        }
        let mut copy = ev.clone();
        set(&mut copy, target.unwrap_or(field), piece);
        common_after(&mut copy, p)?;
        out.push(copy);
    }
    Ok(out)
}

/// logstash-filter-date for the `ISO8601` format, the one format whose parsing needs no
/// locale or calendar guesswork. Formats are tried in order; reaching any other format is an
/// error (not executed here) unless an ISO-8601 one matched first. The instant is written to
/// `target` (default `@timestamp`) in UTC with milliseconds, as Logstash's date filter keeps
/// them (finer digits are dropped, as Joda-Time does).
fn date(p: &Plugin, ev: &mut Map<String, Value>) -> Result<(), ExecError> {
    let spec: Vec<String> = list(p.get("match"));
    let (field, formats) = spec
        .split_first()
        .ok_or_else(|| ExecError(format!("date ({}) without match", p.id())))?;
    let Some(text) = get(ev, field).and_then(Value::as_str).map(str::to_owned) else {
        return Ok(());
    };
    let zone = p
        .get("timezone")
        .and_then(Value::as_str)
        .map(resolve_env)
        .unwrap_or_else(|| "UTC".into());
    for format in formats {
        if format != "ISO8601" {
            return Err(ExecError(format!(
                "date ({}): {text:?} is not ISO-8601, and format {format:?} is not executed here",
                p.id()
            )));
        }
        if let Some(instant) = iso8601(&text, &zone)? {
            let target = p
                .get("target")
                .and_then(Value::as_str)
                .unwrap_or("@timestamp");
            set(
                ev,
                target,
                instant.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into(),
            );
            return common_after(ev, p);
        }
    }
    let tags = ev.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(a) = tags {
        let failure = p
            .get("tag_on_failure")
            .map_or_else(|| vec!["_dateparsefailure".to_owned()], |v| list(Some(v)));
        a.extend(failure.into_iter().map(Value::from));
    }
    Ok(())
}

/// `${VAR:default}` as Logstash substitutes it in plugin options.
fn resolve_env(value: &str) -> String {
    let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) else {
        return value.to_owned();
    };
    let (var, default) = inner.split_once(':').unwrap_or((inner, ""));
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// An ISO-8601 date-time (`T` or a space between date and time, optional fraction, `Z` or
/// an offset; without one, the filter's time zone, which must be UTC here).
fn iso8601(text: &str, zone: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ExecError> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let normal = text.trim().replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&normal) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let Ok(naive) = NaiveDateTime::parse_from_str(&normal, "%Y-%m-%dT%H:%M:%S%.f") else {
        return Ok(None);
    };
    if zone != "UTC" && zone != "Etc/UTC" {
        return Err(ExecError(format!(
            "{text:?} has no offset, and the time zone {zone} is not executed here"
        )));
    }
    Ok(Some(naive.and_utc()))
}

/// GeoIP without MaxMind's database: only for addresses no GeoIP database contains
/// (private, loopback, link-local, shared, documentation and benchmark ranges). For those
/// Logstash's lookup misses too, and the event changes only by `tag_on_failure`.
fn geoip(p: &Plugin, ev: &mut Map<String, Value>) -> Result<(), ExecError> {
    let source = p.get("source").and_then(Value::as_str).unwrap_or("");
    let Some(ip) = get(ev, source)
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<IpAddr>().ok())
    else {
        return Ok(());
    };
    let unknown_to_geoip = match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
        }
    };
    if !unknown_to_geoip {
        return Err(ExecError(format!(
            "geoip ({}) on the public address {ip} needs MaxMind's database, which is not here",
            p.id()
        )));
    }
    for tag in list(p.get("tag_on_failure")) {
        let tags = ev.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = tags {
            a.push(Value::String(tag));
        }
    }
    Ok(())
}

fn hash_pairs(v: Option<&Value>) -> Vec<(String, Value)> {
    match v {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn mutate(p: &Plugin, ev: &mut Map<String, Value>) -> Result<(), ExecError> {
    const KNOWN: &[&str] = &[
        "id",
        "rename",
        "replace",
        "convert",
        "uppercase",
        "lowercase",
        "copy",
        "add_field",
        "add_tag",
        "remove_field",
        "remove_tag",
    ];
    if let Some((k, _)) = p.options.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(ExecError(format!(
            "mutate option `{k}` ({}) is not executed here",
            p.id()
        )));
    }
    for (from, to) in hash_pairs(p.get("rename")) {
        if let Some(v) = remove(ev, &from) {
            set(ev, to.as_str().unwrap_or(""), v);
        }
    }
    for (field, v) in hash_pairs(p.get("replace")) {
        let text = sprintf(v.as_str().unwrap_or(""), ev);
        set(ev, &field, Value::String(text));
    }
    for (field, ty) in hash_pairs(p.get("convert")) {
        if let Some(v) = get(ev, &field).cloned() {
            set(ev, &field, convert(&v, ty.as_str().unwrap_or(""))?);
        }
    }
    for (opt, upper) in [("uppercase", true), ("lowercase", false)] {
        for field in list(p.get(opt)) {
            if let Some(Value::String(s)) = get(ev, &field).cloned() {
                let s = if upper {
                    s.to_uppercase()
                } else {
                    s.to_lowercase()
                };
                set(ev, &field, Value::String(s));
            }
        }
    }
    for (from, to) in hash_pairs(p.get("copy")) {
        if let Some(v) = get(ev, &from).cloned() {
            set(ev, to.as_str().unwrap_or(""), v);
        }
    }
    common_after(ev, p)
}

/// What every plugin does after it succeeded: `add_field`, `add_tag`, `remove_field`,
/// `remove_tag` (Logstash's `filter_matched` / an input's `decorate`).
fn common_after(ev: &mut Map<String, Value>, p: &Plugin) -> Result<(), ExecError> {
    for (field, v) in hash_pairs(p.get("add_field")) {
        let text = Value::String(sprintf(v.as_str().unwrap_or(""), ev));
        match get(ev, &field).cloned() {
            // Adding to an existing field makes it an array, as Logstash does.
            Some(Value::Array(mut a)) => {
                a.push(text);
                set(ev, &field, Value::Array(a));
            }
            Some(old) => set(ev, &field, Value::Array(vec![old, text])),
            None => set(ev, &field, text),
        }
    }
    for tag in list(p.get("add_tag")) {
        let tags = ev.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = tags
            && !a.contains(&Value::String(tag.clone()))
        {
            a.push(Value::String(tag));
        }
    }
    for field in list(p.get("remove_field")) {
        remove(ev, &field);
    }
    for tag in list(p.get("remove_tag")) {
        if let Some(Value::Array(a)) = ev.get_mut("tags") {
            a.retain(|t| t.as_str() != Some(tag.as_str()));
        }
    }
    Ok(())
}

fn convert(v: &Value, ty: &str) -> Result<Value, ExecError> {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(match ty {
        "integer" => text
            .trim()
            .parse::<f64>()
            .map(|f| Value::from(f.trunc() as i64))
            .unwrap_or_else(|_| v.clone()),
        "float" => text
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| v.clone()),
        "string" => Value::String(text),
        other => {
            return Err(ExecError(format!(
                "mutate convert to `{other}` is not executed here"
            )));
        }
    })
}

fn fingerprint(p: &Plugin, ev: &mut Map<String, Value>) -> Result<(), ExecError> {
    if p.get("concatenate_sources") != Some(&Value::Bool(true))
        || p.get("method").and_then(Value::as_str) != Some("SHA256")
        || p.get("key").is_some()
        || p.get("base64encode") == Some(&Value::Bool(true))
    {
        return Err(ExecError(format!(
            "fingerprint ({}): only SHA256 over concatenated sources is executed here",
            p.id()
        )));
    }
    let mut sources = list(p.get("source"));
    sources.sort();
    let mut text = String::new();
    for s in &sources {
        text.push('|');
        text.push_str(s);
        text.push('|');
        text.push_str(&canonical(get(ev, s)));
    }
    text.push('|');
    let target = p
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or("[event][hash]");
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    set(ev, target, Value::String(hex));
    common_after(ev, p)
}

/// The fingerprint plugin's `to_canonical_value`, for JSON values.
fn canonical(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| canonical(Some(x)))
            .collect::<Vec<_>>()
            .join("|"),
        Some(Value::Object(m)) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.iter()
                .map(|k| format!("{k}|{}", canonical(m.get(*k))))
                .collect::<Vec<_>>()
                .join("|")
        }
        Some(other) => other.to_string(),
    }
}

fn route(
    stmts: &[Stmt],
    ev: &Map<String, Value>,
    out: &mut Vec<Delivery>,
) -> Result<(), ExecError> {
    for s in stmts {
        match s {
            Stmt::Branch(arms) => {
                for (cond, body) in arms {
                    let taken = match cond {
                        Some(c) => eval(c, ev)?,
                        None => true,
                    };
                    if taken {
                        route(body, ev, out)?;
                        break;
                    }
                }
            }
            Stmt::Plugin(p) if p.name == "elasticsearch" => out.push(Delivery {
                output: p.id().to_owned(),
                index: sprintf(p.get("index").and_then(Value::as_str).unwrap_or(""), ev),
                document_id: p
                    .get("document_id")
                    .and_then(Value::as_str)
                    .map(|d| sprintf(d, ev)),
            }),
            Stmt::Plugin(p) => {
                return Err(ExecError(format!(
                    "output `{}` is not executed here",
                    p.name
                )));
            }
        }
    }
    Ok(())
}

/// Logstash's `sprintf`: `%{[field]}` and `%{+YYYY.MM.dd}` (from `@timestamp`, UTC).
pub fn sprintf(template: &str, ev: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &rest[start + 2..start + len];
        if let Some(fmt) = key.strip_prefix('+') {
            let ts = get(ev, "@timestamp").and_then(Value::as_str).unwrap_or("");
            out.push_str(&format_time(fmt, ts));
        } else {
            match get(ev, key) {
                Some(Value::String(s)) => out.push_str(s),
                Some(v) => out.push_str(&v.to_string()),
                // Logstash leaves an unresolved reference as it is.
                None => out.push_str(&rest[start..start + len + 1]),
            }
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Formats the date of an ISO-8601 UTC timestamp with a Joda pattern of `YYYY`, `MM`, `dd`.
fn format_time(fmt: &str, ts: &str) -> String {
    let (y, m, d) = (
        ts.get(0..4).unwrap_or("????"),
        ts.get(5..7).unwrap_or("??"),
        ts.get(8..10).unwrap_or("??"),
    );
    fmt.replace("YYYY", y).replace("MM", m).replace("dd", d)
}
