//! `textfile`: metrics from `*.prom` files in `--collector.textfile.directory` (a directory
//! or a glob), with `node_textfile_mtime_seconds{file}` for each file read and
//! `node_textfile_scrape_error`.
//!
//! A file that cannot be read or parsed, carries client-side timestamps, or declares a
//! family differently from an earlier file (type, HELP or label names) is skipped as a whole
//! and sets `node_textfile_scrape_error` to 1; every other file is still exported.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::read::read_string;
use aiplatform_prometheus::family::{family, push, scalar};
use aiplatform_prometheus::textparse::{TextFamily, TextParseError, TextValue, parse_text};

/// Expands a directory pattern: `*`, `?` and `[...]` in any component (as Go's
/// `filepath.Glob`); a pattern without them, or matching nothing, is the path itself.
pub fn expand_directory(pattern: &Path) -> Vec<PathBuf> {
    let text = pattern.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        return vec![pattern.to_owned()];
    }
    let mut current = vec![if pattern.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for comp in pattern.components() {
        let part = comp.as_os_str().to_string_lossy();
        if part == "/" {
            continue;
        }
        let mut next = Vec::new();
        for base in &current {
            if !part.contains(['*', '?', '[']) {
                next.push(base.join(&*part));
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| wildcard(part.as_bytes(), n.as_bytes()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        current = next;
    }
    current.retain(|p| p.exists());
    if current.is_empty() {
        return vec![pattern.to_owned()];
    }
    current
}

/// Shell-style matching of one path component (`*`, `?`, `[a-z]`, `[!x]`).
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(b'['), Some(&c)) => {
            let Some(close) = p.iter().skip(1).position(|&b| b == b']').map(|i| i + 1) else {
                return false;
            };
            let class = &p[1..close];
            let (negate, class) = match class.first() {
                Some(b'!' | b'^') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && wildcard(&p[close + 1..], &s[1..])
        }
        (Some(&a), Some(&b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

/// What a family looks like once converted, to check later files against.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    kind: MetricKind,
    help: String,
    labels: Vec<String>,
}

/// Families of one scrape, merged across files.
#[derive(Default)]
struct Merged {
    families: BTreeMap<String, (Shape, MetricFamily)>,
}

/// Why a file is skipped.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error(transparent)]
    Read(#[from] crate::error::ReadError),
    #[error("failed to parse textfile data from {path:?}: {source}")]
    Parse {
        path: PathBuf,
        source: TextParseError,
    },
    #[error("textfile {0:?} contains unsupported client-side timestamps, skipping entire file")]
    Timestamps(PathBuf),
    #[error(
        "textfile {path:?}: metric {name} differs from its earlier definition (type, HELP or label names)"
    )]
    Inconsistent { path: PathBuf, name: String },
    #[error("textfile {path:?}: metric {name}: {reason}")]
    Invalid {
        path: PathBuf,
        name: String,
        reason: String,
    },
}

impl Merged {
    /// Adds a file's families, or none of them if any conflicts.
    fn add_file(&mut self, path: &Path, parsed: Vec<TextFamily>) -> Result<(), FileError> {
        if parsed
            .iter()
            .any(|f| f.series.iter().any(|s| s.has_timestamp))
        {
            return Err(FileError::Timestamps(path.to_owned()));
        }
        let mut staged: Vec<(String, Shape, MetricFamily)> = Vec::new();
        for f in &parsed {
            let mut labels: Vec<String> = f
                .series
                .iter()
                .flat_map(|s| s.labels.iter().map(|(k, _)| k.clone()))
                .collect();
            labels.sort();
            labels.dedup();
            // A family without HELP takes the earlier file's, or names its file.
            let earlier = self.families.get(&f.name).map(|(shape, _)| shape);
            let help = match (&f.help, earlier) {
                (Some(h), _) => h.clone(),
                (None, Some(e)) => e.help.clone(),
                (None, None) => format!("Metric read from {}", path.display()),
            };
            let shape = Shape {
                kind: f.kind,
                help,
                labels,
            };
            if let Some(existing) = earlier
                && *existing != shape
            {
                return Err(FileError::Inconsistent {
                    path: path.to_owned(),
                    name: f.name.clone(),
                });
            }
            let invalid = |reason: String| FileError::Invalid {
                path: path.to_owned(),
                name: f.name.clone(),
                reason,
            };
            // A counter keeps the name the file gave it, with or without `_total`, as
            // node_exporter writes it (in text 0.0.4; OpenMetrics requires the suffix).
            let mut fam = MetricFamily::builder(shape.kind, &f.name, &shape.help)
                .text_name_as_given()
                .label_names(&shape.labels)
                .build()
                .map_err(|e| invalid(e.to_string()))?;
            for s in &f.series {
                let values: Vec<&str> = shape
                    .labels
                    .iter()
                    .map(|name| {
                        s.labels
                            .iter()
                            .find(|(k, _)| k == name)
                            .map_or("", |(_, v)| v.as_str())
                    })
                    .collect();
                let r = match &s.value {
                    TextValue::Scalar(v) if shape.kind == MetricKind::Counter => {
                        fam.push_counter(&values, *v)
                    }
                    TextValue::Scalar(v) => fam.push_gauge(&values, *v),
                    TextValue::Histogram {
                        buckets,
                        sum,
                        count,
                    } => {
                        let (bounds, counts) = per_bucket(buckets, *count);
                        fam.push_histogram(&values, &bounds, &counts, *sum)
                    }
                    TextValue::Summary {
                        quantiles,
                        sum,
                        count,
                    } => fam.push_summary(&values, quantiles, to_count(*count), *sum),
                };
                r.map_err(|e| invalid(e.to_string()))?;
            }
            staged.push((f.name.clone(), shape, fam));
        }
        for (name, shape, fam) in staged {
            match self.families.get_mut(&name) {
                Some((_, existing)) => absorb(existing, fam),
                None => {
                    self.families.insert(name, (shape, fam));
                }
            }
        }
        Ok(())
    }
}

/// Appends `more`'s series to `into` (same shape): rebuilt through the public push API.
fn absorb(into: &mut MetricFamily, more: MetricFamily) {
    for s in more.samples() {
        let values: Vec<&str> = s.labels.values().collect();
        let _ = match s.value {
            aiplatform_metrics::Value::Counter(c) => into.push_counter(&values, c.as_f64()),
            aiplatform_metrics::Value::Gauge(v) | aiplatform_metrics::Value::Unknown(v) => {
                into.push_gauge(&values, v)
            }
            aiplatform_metrics::Value::Histogram(h) => {
                let (bounds, counts): (Vec<f64>, Vec<u64>) = h.buckets().unzip();
                into.push_histogram(&values, &bounds[..bounds.len() - 1], &counts, h.sum)
            }
            aiplatform_metrics::Value::Summary(q) => {
                let pairs: Vec<(f64, f64)> = q.quantiles().collect();
                into.push_summary(&values, &pairs, q.count, q.sum)
            }
        };
    }
}

fn to_count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v as u64
    } else {
        0
    }
}

/// Cumulative `(le, count)` buckets → finite bounds and per-bucket counts with `+Inf` last
/// (`+Inf` holds what `_count` adds beyond the last bucket).
fn per_bucket(buckets: &[(f64, f64)], count: f64) -> (Vec<f64>, Vec<u64>) {
    let mut bounds = Vec::with_capacity(buckets.len());
    let mut counts = Vec::with_capacity(buckets.len() + 1);
    let mut prev = 0u64;
    let mut inf = None;
    for &(le, c) in buckets {
        let c = to_count(c);
        if le == f64::INFINITY {
            inf = Some(c);
            continue;
        }
        if le.is_nan() {
            continue;
        }
        bounds.push(le);
        counts.push(c.saturating_sub(prev));
        prev = prev.max(c);
    }
    let total = inf.unwrap_or(to_count(count)).max(prev);
    counts.push(total - prev);
    (bounds, counts)
}

/// The `textfile` collector.
#[derive(Debug)]
pub struct TextfileCollector {
    directory: Option<PathBuf>,
}

impl TextfileCollector {
    /// A collector for the files in `directory` (none: only `node_textfile_scrape_error 0`).
    pub fn new(directory: Option<PathBuf>) -> TextfileCollector {
        TextfileCollector {
            directory: directory.filter(|d| !d.as_os_str().is_empty()),
        }
    }
}

impl NodeCollector for TextfileCollector {
    const NAME: &'static str = "textfile";

    fn from_config(c: &Config) -> TextfileCollector {
        TextfileCollector::new(c.textfile_directory.clone())
    }
}

impl BlockingCollector for TextfileCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut errored = false;
        let mut merged = Merged::default();
        let mut mtimes: BTreeMap<String, f64> = BTreeMap::new();
        if let Some(dir) = &self.directory {
            for dir in expand_directory(dir) {
                let entries = match fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) => {
                        errored = true;
                        tracing::error!(path = %dir.display(), err = %e, "failed to read textfile collector directory");
                        continue;
                    }
                };
                let mut files: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.ends_with(".prom"))
                    })
                    .collect();
                files.sort();
                for path in files {
                    let result = read_string(&path)
                        .map_err(FileError::from)
                        .and_then(|text| {
                            let parsed = parse_text(&text).map_err(|source| FileError::Parse {
                                path: path.clone(),
                                source,
                            })?;
                            merged.add_file(&path, parsed)
                        });
                    match result {
                        Ok(()) => {
                            // Stat only after a successful parse, so a failure never looks fresh.
                            let mtime = fs::metadata(&path)
                                .and_then(|m| m.modified())
                                .ok()
                                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                                .map_or(0.0, |d| d.as_secs() as f64);
                            mtimes.insert(path.display().to_string(), mtime);
                        }
                        Err(e) => {
                            errored = true;
                            tracing::error!(file = %path.display(), err = %e, "failed to collect textfile data");
                        }
                    }
                }
            }
        }
        out.extend(merged.families.into_values().map(|(_, f)| f));
        if !mtimes.is_empty() {
            let mut f = family(
                MetricKind::Gauge,
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
                &["file"],
            );
            for (file, t) in &mtimes {
                push(&mut f, &[file], *t);
            }
            out.push(f);
        }
        out.push(scalar(
            MetricKind::Gauge,
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            if errored { 1.0 } else { 0.0 },
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.d", b"x.d") && wildcard(b"a?c", b"abc") && wildcard(b"[a-c]x", b"bx"));
        assert!(!wildcard(b"[!a]x", b"ax") && !wildcard(b"*.d", b"x.e"));
    }

    #[test]
    fn buckets_become_per_bucket_counts() {
        let (b, c) = per_bucket(&[(1.0, 1.0), (2.0, 3.0), (f64::INFINITY, 4.0)], 4.0);
        assert_eq!(b, [1.0, 2.0]);
        assert_eq!(c, [1, 2, 1]);
        let (b, c) = per_bucket(&[(1.0, 1.0)], 5.0);
        assert_eq!((b, c), (vec![1.0], vec![1, 4]));
    }
}
