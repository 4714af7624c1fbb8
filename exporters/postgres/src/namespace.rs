//! postgres_exporter's "metric namespace" engine: one query whose columns are mapped to
//! labels and metrics by a column map. It serves the user queries file and the 0.11-style
//! built-in maps (`SELECT * FROM pg_stat_database`, ...), with the Go exporter's rules:
//!
//! - metric name `<namespace>_<column>`; `LABEL` columns are the labels of every metric;
//! - `COUNTER`/`GAUGE` values convert like lib/pq + `dbToFloat64` (NULL is NaN, time is Unix
//!   seconds, text is parsed); a value that does not convert is skipped and reported;
//! - `MAPPEDMETRIC` looks text up in `metric_mapping`; `DURATION` parses a Go duration into
//!   `<namespace>_<column>_milliseconds`; `HISTOGRAM` reads `<c>` (bounds), `<c>_bucket`,
//!   `<c>_sum`, `<c>_count`;
//! - a column without a mapping becomes an `untyped` metric with HELP
//!   `Unknown metric from <namespace>` when it converts.

use std::collections::HashMap;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::Naming;
use aiplatform_prometheus::{CollectError, parse_go_duration_nanos};
use tokio_postgres::Row;

use crate::cell::Cell;

/// How a column is used.
#[derive(Debug, Clone, PartialEq)]
pub enum Usage {
    /// Ignored.
    Discard,
    /// A label of every metric of the namespace.
    Label,
    /// A counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A gauge whose value is looked up from the text in the mapping.
    MappedMetric(HashMap<String, f64>),
    /// A Go duration string, exported in milliseconds.
    Duration,
    /// A histogram from `<c>`, `<c>_bucket`, `<c>_sum` and `<c>_count` columns.
    Histogram,
}

/// One column's mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Usage.
    pub usage: Usage,
    /// HELP text.
    pub description: String,
}

/// A namespace: its query and column map.
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    /// Metric name prefix.
    pub name: String,
    /// The query.
    pub query: String,
    /// Column mappings.
    pub columns: Vec<Column>,
}

/// The label columns of a namespace, sorted (client_golang writes labels sorted).
fn label_columns(ns: &Namespace) -> Vec<&str> {
    let mut v: Vec<&str> = ns
        .columns
        .iter()
        .filter(|c| c.usage == Usage::Label)
        .map(|c| c.name.as_str())
        .collect();
    v.sort_unstable();
    v
}

/// A series kept between scrapes (for `cache_seconds`) and turned into families at once.
#[derive(Debug, Clone)]
pub struct Converted {
    families: Vec<Desc>,
    series: Vec<(usize, Vec<String>, Value)>,
    /// Values that could not be converted (non-fatal, as upstream).
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
struct Desc {
    kind: MetricKind,
    name: String,
    help: String,
    labels: Vec<String>,
}

#[derive(Debug, Clone)]
enum Value {
    Scalar(f64),
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        sum: f64,
    },
}

impl Converted {
    fn desc(&mut self, kind: MetricKind, name: String, help: &str, labels: &[String]) -> usize {
        if let Some(i) = self.families.iter().position(|d| d.name == name) {
            return i;
        }
        self.families.push(Desc {
            kind,
            name,
            help: help.to_owned(),
            labels: labels.to_vec(),
        });
        self.families.len() - 1
    }

    /// The families (built afresh each time; the result can be reused for a cache).
    pub fn families(&self) -> Result<Vec<MetricFamily>, CollectError> {
        let mut out: Vec<MetricFamily> = Vec::with_capacity(self.families.len());
        for d in &self.families {
            out.push(
                Naming::AsGiven
                    .build(d.kind, &d.name, &d.help, &d.labels)
                    .map_err(CollectError::new)?,
            );
        }
        for (i, labels, value) in &self.series {
            let f = &mut out[*i];
            let r = match value {
                Value::Scalar(v) if f.kind() == MetricKind::Counter => f.push_counter(labels, *v),
                Value::Scalar(v) => f.push_gauge(labels, *v),
                Value::Histogram {
                    bounds,
                    counts,
                    sum,
                } => f.push_histogram(labels, bounds, counts, *sum),
            };
            r.map_err(CollectError::new)?;
        }
        out.retain(|f| !f.is_empty());
        Ok(out)
    }
}

/// Converts a namespace's rows. `extra` labels (the `server` label of the 0.11 profile) are
/// appended to every series.
pub fn convert(ns: &Namespace, rows: &[Row], extra: &[(&str, &str)]) -> Converted {
    let mut out = Converted {
        families: Vec::new(),
        series: Vec::new(),
        errors: Vec::new(),
    };
    let label_cols = label_columns(ns);
    let mut label_names: Vec<String> = label_cols.iter().map(|s| (*s).to_owned()).collect();
    label_names.extend(extra.iter().map(|(k, _)| (*k).to_owned()));
    let by_name: HashMap<&str, &Column> = ns.columns.iter().map(|c| (c.name.as_str(), c)).collect();
    let histogram_parts: Vec<String> = ns
        .columns
        .iter()
        .filter(|c| c.usage == Usage::Histogram)
        .flat_map(|c| ["_bucket", "_sum", "_count"].map(|s| format!("{}{s}", c.name)))
        .collect();
    for row in rows {
        let cols = row.columns();
        let cell = |name: &str| -> Cell {
            cols.iter()
                .position(|c| c.name() == name)
                .and_then(|i| row.try_get::<_, Cell>(i).ok())
                .unwrap_or(Cell::Null)
        };
        let mut values: Vec<String> = label_cols.iter().map(|l| cell(l).to_label()).collect();
        values.extend(extra.iter().map(|(_, v)| (*v).to_owned()));
        for (i, col) in cols.iter().enumerate() {
            let name = col.name();
            let value: Cell = row
                .try_get(i)
                .unwrap_or_else(|_| Cell::Unsupported(col.type_().name().to_owned()));
            let metric = format!("{}_{}", ns.name, name);
            match by_name
                .get(name)
                .map(|c| (&c.usage, c.description.as_str()))
            {
                Some((Usage::Discard | Usage::Label, _)) => {}
                Some((Usage::Counter, help)) | Some((Usage::Gauge, help)) => {
                    let kind = if by_name[name].usage == Usage::Counter {
                        MetricKind::Counter
                    } else {
                        MetricKind::Gauge
                    };
                    match value.to_f64() {
                        Some(v) => {
                            let d = out.desc(kind, metric, help, &label_names);
                            out.series.push((d, values.clone(), Value::Scalar(v)));
                        }
                        None => out
                            .errors
                            .push(format!("unexpected value in column {}.{name}", ns.name)),
                    }
                }
                Some((Usage::MappedMetric(map), help)) => match &value {
                    Cell::Text(t) if map.contains_key(t) => {
                        let d = out.desc(MetricKind::Gauge, metric, help, &label_names);
                        out.series.push((d, values.clone(), Value::Scalar(map[t])));
                    }
                    _ => out
                        .errors
                        .push(format!("no mapping for the value of {}.{name}", ns.name)),
                },
                Some((Usage::Duration, help)) => {
                    let parsed = match &value {
                        Cell::Text(t) if t != "-1" => parse_go_duration_ms(t),
                        _ => None,
                    };
                    match parsed {
                        Some(ms) => {
                            let d = out.desc(
                                MetricKind::Gauge,
                                format!("{metric}_milliseconds"),
                                help,
                                &label_names,
                            );
                            out.series.push((d, values.clone(), Value::Scalar(ms)));
                        }
                        None => out
                            .errors
                            .push(format!("cannot parse duration in {}.{name}", ns.name)),
                    }
                }
                Some((Usage::Histogram, help)) => {
                    let bounds = match &value {
                        Cell::Array(b) => b.clone(),
                        _ => {
                            out.errors.push(format!(
                                "histogram bounds of {}.{name} are not an array",
                                ns.name
                            ));
                            continue;
                        }
                    };
                    let cumulative = match cell(&format!("{name}_bucket")) {
                        Cell::Array(c) => c,
                        _ => {
                            out.errors
                                .push(format!("missing {name}_bucket in {}", ns.name));
                            continue;
                        }
                    };
                    let sum = cell(&format!("{name}_sum")).to_f64().unwrap_or(f64::NAN);
                    let count = cell(&format!("{name}_count"))
                        .to_f64()
                        .unwrap_or(0.0)
                        .max(0.0) as u64;
                    if cumulative.len() != bounds.len() {
                        out.errors.push(format!(
                            "{name} and {name}_bucket lengths differ in {}",
                            ns.name
                        ));
                        continue;
                    }
                    // Per-bucket counts from cumulative ones, +Inf from the total count.
                    let mut counts = Vec::with_capacity(bounds.len() + 1);
                    let mut prev = 0u64;
                    for c in &cumulative {
                        let c = c.max(0.0) as u64;
                        counts.push(c.saturating_sub(prev));
                        prev = prev.max(c);
                    }
                    counts.push(count.saturating_sub(prev));
                    let d = {
                        if let Some(i) = out.families.iter().position(|d| d.name == metric) {
                            i
                        } else {
                            out.families.push(Desc {
                                kind: MetricKind::Histogram,
                                name: metric,
                                help: help.to_owned(),
                                labels: label_names.clone(),
                            });
                            out.families.len() - 1
                        }
                    };
                    out.series.push((
                        d,
                        values.clone(),
                        Value::Histogram {
                            bounds,
                            counts,
                            sum,
                        },
                    ));
                }
                None if histogram_parts.iter().any(|p| p == name) => {}
                None => match value.to_f64() {
                    Some(v) => {
                        let help = format!("Unknown metric from {}", ns.name);
                        let d = out.desc(MetricKind::Unknown, metric, &help, &label_names);
                        out.series.push((d, values.clone(), Value::Scalar(v)));
                    }
                    None => out
                        .errors
                        .push(format!("column {}.{name} is not a number", ns.name)),
                },
            }
        }
    }
    out
}

/// Go's `time.ParseDuration`, in whole milliseconds (truncated) as postgres_exporter
/// reports DURATION columns.
pub fn parse_go_duration_ms(s: &str) -> Option<f64> {
    parse_go_duration_nanos(s).ok().map(|ns| (ns / 1e6).trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration_ms("1h2m3.5s"), Some(3_723_500.0));
        assert_eq!(parse_go_duration_ms("300ms"), Some(300.0));
        assert_eq!(parse_go_duration_ms("1500us"), Some(1.0));
        assert_eq!(parse_go_duration_ms("-2s"), Some(-2000.0));
        assert_eq!(parse_go_duration_ms("0"), Some(0.0));
        assert_eq!(parse_go_duration_ms("01:02:03"), None);
        assert_eq!(parse_go_duration_ms("5"), None);
        assert_eq!(parse_go_duration_ms(""), None);
    }
}
