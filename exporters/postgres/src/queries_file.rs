//! The custom queries file (`--extend.query-path`, postgres_exporter's `queries.yaml`):
//!
//! ```yaml
//! pg_replication:                 # namespace: the metric name prefix
//!   query: "SELECT ... AS lag"
//!   master: true                  # accepted; every configured server is a master here
//!   cache_seconds: 30             # reuse the result this long
//!   runonserver: ">=10.0.0"       # only on these server versions
//!   metrics:
//!     - lag:
//!         usage: "GAUGE"          # DISCARD LABEL COUNTER GAUGE MAPPEDMETRIC DURATION HISTOGRAM
//!         description: "Replication lag behind master in seconds"
//! ```
//!
//! Loading checks what upstream only found out at scrape time (or never): an unknown usage,
//! an empty query, a name that cannot be a metric or label name, a `MAPPEDMETRIC` without
//! `metric_mapping`. A bad file is reported at start-up and by
//! `pg_exporter_user_queries_load_error{filename,hashsum} 1`; the exporter keeps running.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::namespace::{Column, Namespace, Usage};
use crate::version::ServerVersion;

/// A queries file that cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QueriesFileError {
    /// The file cannot be read.
    #[error("cannot read queries file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not parse.
    #[error("queries file {path}: {message}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A namespace or column is invalid.
    #[error("queries file {path}: namespace {namespace:?}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The namespace.
        namespace: String,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Debug, Deserialize)]
struct RawQuery {
    #[serde(default)]
    query: String,
    #[serde(default)]
    metrics: Vec<BTreeMap<String, RawColumn>>,
    #[serde(default)]
    master: bool,
    #[serde(default)]
    cache_seconds: u64,
    #[serde(default)]
    runonserver: String,
}

#[derive(Debug, Deserialize)]
struct RawColumn {
    #[serde(default)]
    usage: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    metric_mapping: Option<HashMap<String, f64>>,
    #[serde(default)]
    #[allow(dead_code)]
    pg_version: Option<String>,
}

/// One query of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    /// Namespace, query and column map.
    pub namespace: Namespace,
    /// `master` as written (every configured server runs it).
    pub master: bool,
    /// How long a result is reused.
    pub cache_seconds: u64,
    /// Server versions to run on (all when empty).
    pub run_on: VersionRange,
}

/// A loaded queries file.
#[derive(Debug, Clone)]
pub struct QueriesFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// SHA-256 of its content, hex (the `hashsum` label).
    pub hashsum: String,
    /// The queries, by namespace name.
    pub queries: Vec<UserQuery>,
}

impl QueriesFile {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<QueriesFile, QueriesFileError> {
        let content = std::fs::read(path).map_err(|source| QueriesFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        QueriesFile::parse(path, &content)
    }

    /// SHA-256 of `content` in hex.
    pub fn hash(content: &[u8]) -> String {
        Sha256::digest(content)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Checks file content.
    pub fn parse(path: &Path, content: &[u8]) -> Result<QueriesFile, QueriesFileError> {
        let raw: BTreeMap<String, RawQuery> =
            serde_norway::from_slice(content).map_err(|e| QueriesFileError::Yaml {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let mut queries = Vec::with_capacity(raw.len());
        for (name, q) in raw {
            let invalid = |problem: String| QueriesFileError::Invalid {
                path: path.to_owned(),
                namespace: name.clone(),
                problem,
            };
            if !valid_name(&name) {
                return Err(invalid("not a valid metric name prefix".into()));
            }
            if q.query.trim().is_empty() {
                return Err(invalid("query is empty".into()));
            }
            if q.metrics.is_empty() {
                return Err(invalid("no metrics listed".into()));
            }
            let mut columns = Vec::new();
            for entry in q.metrics {
                for (col, m) in entry {
                    if !valid_name(&col) || col.starts_with("__") {
                        return Err(invalid(format!("column {col:?} is not a valid name")));
                    }
                    let usage = match m.usage.as_str() {
                        "DISCARD" => Usage::Discard,
                        "LABEL" => Usage::Label,
                        "COUNTER" => Usage::Counter,
                        "GAUGE" => Usage::Gauge,
                        "DURATION" => Usage::Duration,
                        "HISTOGRAM" => Usage::Histogram,
                        "MAPPEDMETRIC" => {
                            Usage::MappedMetric(m.metric_mapping.ok_or_else(|| {
                                invalid(format!(
                                    "column {col:?} is MAPPEDMETRIC without metric_mapping"
                                ))
                            })?)
                        }
                        other => {
                            return Err(invalid(format!(
                                "column {col:?} has unknown usage {other:?} (use DISCARD, LABEL, COUNTER, GAUGE, MAPPEDMETRIC, DURATION or HISTOGRAM)"
                            )));
                        }
                    };
                    if columns.iter().any(|c: &Column| c.name == col) {
                        return Err(invalid(format!("column {col:?} is listed twice")));
                    }
                    columns.push(Column {
                        name: col,
                        usage,
                        description: m.description,
                    });
                }
            }
            let run_on = VersionRange::parse(&q.runonserver).ok_or_else(|| {
                invalid(format!(
                    "runonserver {:?} is not a version range",
                    q.runonserver
                ))
            })?;
            queries.push(UserQuery {
                namespace: Namespace {
                    name,
                    query: q.query,
                    columns,
                },
                master: q.master,
                cache_seconds: q.cache_seconds,
                run_on,
            });
        }
        Ok(QueriesFile {
            path: path.to_owned(),
            hashsum: QueriesFile::hash(content),
            queries,
        })
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A semver range as postgres_exporter's `runonserver` takes it: comparators (`>=10.0.0`,
/// `<16`) separated by blanks, all of which must hold; `||` separates alternatives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionRange(Vec<Vec<(String, [u32; 3])>>);

impl VersionRange {
    /// Parses a range; the empty string matches everything.
    pub fn parse(s: &str) -> Option<VersionRange> {
        let mut alts = Vec::new();
        for alt in s.split("||").map(str::trim).filter(|a| !a.is_empty()) {
            let mut all = Vec::new();
            for c in alt.split_whitespace() {
                let op_len = c.find(|ch: char| ch.is_ascii_digit()).unwrap_or(c.len());
                let (op, v) = c.split_at(op_len);
                if !matches!(op, "" | "=" | "==" | ">" | ">=" | "<" | "<=" | "!=" | "!") {
                    return None;
                }
                let mut parts = [0u32; 3];
                for (i, p) in v.split('.').enumerate() {
                    *parts.get_mut(i)? = p.parse().ok()?;
                }
                all.push((op.to_owned(), parts));
            }
            alts.push(all);
        }
        Some(VersionRange(alts))
    }

    /// Whether `v` is in the range.
    pub fn contains(&self, v: ServerVersion) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let have = [v.major, v.minor, v.patch];
        self.0.iter().any(|all| {
            all.iter().all(|(op, want)| match op.as_str() {
                ">" => have > *want,
                ">=" => have >= *want,
                "<" => have < *want,
                "<=" => have <= *want,
                "!=" | "!" => have != *want,
                _ => have == *want,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<QueriesFile, QueriesFileError> {
        QueriesFile::parse(Path::new("q.yaml"), s.as_bytes())
    }

    #[test]
    fn upstream_example_file_loads() {
        let f = parse(
            r#"
pg_replication:
  query: "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 ELSE 1 END AS lag"
  master: true
  metrics:
    - lag:
        usage: "GAUGE"
        description: "Replication lag behind master in seconds"
pg_stat_user_tables:
  query: "SELECT current_database() datname, relname, seq_scan FROM pg_stat_user_tables"
  cache_seconds: 30
  runonserver: ">=10.0.0 <99"
  metrics:
    - datname: {usage: "LABEL", description: "db"}
    - relname: {usage: "LABEL", description: "table"}
    - seq_scan: {usage: "COUNTER", description: "scans"}
"#,
        )
        .unwrap();
        assert_eq!(f.queries.len(), 2);
        assert_eq!(f.hashsum.len(), 64);
        let t = &f.queries[1];
        assert_eq!(t.cache_seconds, 30);
        assert!(t.run_on.contains(ServerVersion::from_num(150020)));
        assert!(!t.run_on.contains(ServerVersion::from_num(90624)));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let cases = [
            ("x: [", "queries file q.yaml"),
            (
                "pg_x:\n  query: ''\n  metrics: [{a: {usage: GAUGE}}]\n",
                "query is empty",
            ),
            (
                "pg_x:\n  query: 'select 1'\n  metrics: [{a: {usage: GAUGES}}]\n",
                "unknown usage \"GAUGES\"",
            ),
            (
                "pg_x:\n  query: 'select 1'\n  metrics: [{a: {usage: MAPPEDMETRIC}}]\n",
                "without metric_mapping",
            ),
            (
                "pg-x:\n  query: 'select 1'\n  metrics: [{a: {usage: GAUGE}}]\n",
                "not a valid metric name",
            ),
            (
                "pg_x:\n  query: 'select 1'\n  runonserver: 'about ten'\n  metrics: [{a: {usage: GAUGE}}]\n",
                "not a version range",
            ),
            ("pg_x:\n  query: 'select 1'\n", "no metrics"),
        ];
        for (yaml, want) in cases {
            let err = parse(yaml).unwrap_err().to_string();
            assert!(err.contains(want), "{yaml:?}: {err}");
        }
    }
}
