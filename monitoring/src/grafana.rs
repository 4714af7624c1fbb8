//! The Grafana dashboards under `monitoring/grafana/dashboards/`: their panels, their
//! queries and template variables, and the substitution Grafana applies to a query before
//! sending it to Prometheus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// `monitoring/grafana`.
pub fn grafana_dir() -> PathBuf {
    crate::repo_root().join("monitoring/grafana")
}

/// One dashboard file.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Where it was read from.
    pub path: PathBuf,
    /// The dashboard model.
    pub json: Value,
}

/// One PromQL query of a dashboard: a panel target or a query variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `panel "Title" target A` or `variable instance`.
    pub origin: String,
    /// The expression as written, with Grafana variables.
    pub expr: String,
}

/// Every dashboard, sorted by file name.
pub fn dashboards() -> Vec<Dashboard> {
    let dir = grafana_dir().join("dashboards");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("reading a directory entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| Dashboard::read(p)).collect()
}

impl Dashboard {
    /// Reads a dashboard file; panics if it is not JSON.
    pub fn read(path: &Path) -> Dashboard {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
        Dashboard {
            path: path.to_owned(),
            json,
        }
    }

    /// The file name, for messages.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The dashboard's `uid`.
    pub fn uid(&self) -> &str {
        self.json["uid"].as_str().unwrap_or_default()
    }

    /// Every panel, rows included, with the panels of collapsed rows flattened in.
    pub fn panels(&self) -> Vec<&Value> {
        let mut out = Vec::new();
        for panel in self.json["panels"].as_array().into_iter().flatten() {
            out.push(panel);
            out.extend(panel["panels"].as_array().into_iter().flatten());
        }
        out
    }

    /// The template variables.
    pub fn variables(&self) -> Vec<&Value> {
        self.json["templating"]["list"]
            .as_array()
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }

    /// Every PromQL query: panel targets, then query variables (`label_values(selector,
    /// label)` contributes its selector).
    pub fn queries(&self) -> Vec<Query> {
        let mut out = Vec::new();
        for panel in self.panels() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(Query {
                        origin: format!(
                            "panel {:?} target {}",
                            panel["title"].as_str().unwrap_or_default(),
                            target["refId"].as_str().unwrap_or("?")
                        ),
                        expr: expr.to_owned(),
                    });
                }
            }
        }
        for variable in self.variables() {
            if variable["type"] != "query" {
                continue;
            }
            let query = variable_query(variable);
            let expr = match label_values(&query) {
                Some((selector, _label)) => selector,
                None => query,
            };
            out.push(Query {
                origin: format!("variable {}", variable["name"].as_str().unwrap_or_default()),
                expr,
            });
        }
        out
    }
}

/// A query variable's query: `query.query` (current Grafana) or `query` (older models).
pub fn variable_query(variable: &Value) -> String {
    variable["query"]["query"]
        .as_str()
        .or_else(|| variable["query"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Splits `label_values(selector, label)` into the selector and the label name.
///
/// ```
/// use aiplatform_monitoring::grafana::label_values;
/// assert_eq!(
///     label_values(r#"label_values(up{job="x"}, instance)"#),
///     Some((r#"up{job="x"}"#.to_owned(), "instance".to_owned())),
/// );
/// assert_eq!(label_values("query_result(up)"), None);
/// ```
pub fn label_values(query: &str) -> Option<(String, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim().to_owned(), label.trim().to_owned()))
}

/// Replaces Grafana's variables in `expr` as Grafana does before querying: the built-in
/// intervals (`$__rate_interval`, `$__interval`, `$__range`) by `interval`, and `$name`,
/// `${name}` and `[[name]]` by the value in `values`.
///
/// Longer names are replaced first, so `$instance` never eats the start of `$instance_id`.
///
/// ```
/// use std::collections::BTreeMap;
/// let values = BTreeMap::from([("job".to_owned(), "api".to_owned())]);
/// assert_eq!(
///     aiplatform_monitoring::grafana::substitute(
///         r#"rate(x{job="$job"}[$__rate_interval]) * ${job}"#, "1m", &values),
///     r#"rate(x{job="api"}[1m]) * api"#,
/// );
/// ```
pub fn substitute(expr: &str, interval: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = expr
        .replace("$__rate_interval", interval)
        .replace("${__rate_interval}", interval)
        .replace("$__interval", interval)
        .replace("${__interval}", interval)
        .replace("$__range", interval)
        .replace("${__range}", interval);
    let mut names: Vec<&String> = values.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        let value = &values[name];
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("[[{name}]]"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

/// The names of the variables `expr` uses (`$name`, `${name}`, `[[name]]`), built-ins
/// (`$__...`) excluded.
pub fn variables_used(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let (start, skip) = match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => (i + 2, 2),
            b'$' => (i + 1, 1),
            b'[' if bytes.get(i + 1) == Some(&b'[') => (i + 2, 2),
            _ => {
                i += 1;
                continue;
            }
        };
        let len = expr[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(expr.len() - start);
        let name = &expr[start..start + len];
        if !name.is_empty() && !name.starts_with("__") && !found.iter().any(|f| f == name) {
            found.push(name.to_owned());
        }
        i += skip + len.max(1);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longer_variable_names_are_replaced_first() {
        let values = BTreeMap::from([
            ("instance".to_owned(), "a".to_owned()),
            ("instance_id".to_owned(), "b".to_owned()),
        ]);
        assert_eq!(substitute("$instance_id $instance", "1m", &values), "b a");
    }

    #[test]
    fn used_variables_skip_the_builtins() {
        assert_eq!(
            variables_used(r#"x{a="$job", b=~"${instance}", c="[[db]]"}[$__rate_interval]"#),
            ["job", "instance", "db"]
        );
    }
}
