//! `textfile`: metrics from `*.prom` files in `--collector.textfile.directory` (a directory
//! or a glob), with `node_textfile_mtime_seconds{file}` for each file read and
//! `node_textfile_scrape_error`.
//!
//! A file that cannot be read or parsed, carries client-side timestamps, declares a family
//! differently from an earlier file (type, HELP or label names), or defines a family one of
//! the built-in collectors writes (`node_load1`, `node_cpu_*`, ...) is skipped as a whole and
//! sets `node_textfile_scrape_error` to 1; every other file is still exported.
//!
//! Only regular files are read (a symlink is followed to one): a FIFO, a device such as
//! `/dev/zero`, a socket or a directory named `*.prom` is refused without reading it, and
//! opening never blocks (`O_NONBLOCK`). A file larger than
//! `--collector.textfile.max-file-size` ([`DEFAULT_MAX_FILE_SIZE`]) is refused from its size,
//! and the read itself stops at that size, so a file that grows while read cannot exceed it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
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

/// The default `--collector.textfile.max-file-size`: 8 MiB, hundreds of times what a
/// textfile script writes, and small enough that parsing one costs tens of MiB at most.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 << 20;

/// Families the built-in collectors write beyond `node_<collector>_*` (which every collector
/// name reserves), by exact name or by prefix (ending in `_`): a textfile defining one would
/// clash with the built-in family (dropped as a duplicate or a type conflict), so such a file
/// is refused instead. A test keeps this in step with the golden files.
pub const RESERVED_FAMILIES: &[&str] = &[
    "node_boot_time_seconds",
    "node_context_switches_total",
    "node_disk_",
    "node_exporter_build_info",
    "node_forks_total",
    "node_intr_total",
    "node_load1",
    "node_load15",
    "node_load5",
    "node_memory_",
    "node_network_",
    "node_nf_conntrack_",
    "node_procs_",
    "node_scrape_collector_",
    "node_softirqs_",
    "node_tape_",
    "node_udp_",
    "process_",
    "promhttp_",
];

/// `node_<collector>_` for every built-in collector.
fn collector_prefixes() -> &'static [String] {
    static PREFIXES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PREFIXES.get_or_init(|| {
        super::flag_set()
            .names()
            .map(|n| format!("node_{n}_"))
            .collect()
    })
}

/// Whether `name` is a family a built-in collector writes.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_FAMILIES.iter().any(|r| {
        if r.ends_with('_') {
            name.starts_with(r)
        } else {
            name == *r
        }
    }) || collector_prefixes()
        .iter()
        .any(|p| name.starts_with(p.as_str()))
}

/// Why a file is skipped.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("reading {path:?}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("textfile {path:?} is not a regular file ({kind}), skipping it")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "textfile {path:?} is larger than --collector.textfile.max-file-size ({size} > {limit} bytes), skipping it"
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error(
        "textfile {path:?}: metric {name} is written by a built-in collector, skipping the file"
    )]
    Reserved { path: PathBuf, name: String },
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
        if let Some(f) = parsed.iter().find(|f| is_reserved(&f.name)) {
            return Err(FileError::Reserved {
                path: path.to_owned(),
                name: f.name.clone(),
            });
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

fn file_kind(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "not a regular file"
    }
}

/// Reads a regular file of at most `limit` bytes, and its mtime; anything else is refused
/// without blocking and without reading more than `limit + 1` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<(String, SystemTime), FileError> {
    let io = |source: std::io::Error| FileError::Read {
        path: path.to_owned(),
        source,
    };
    let not_regular = |t: fs::FileType| FileError::NotRegular {
        path: path.to_owned(),
        kind: file_kind(t),
    };
    // Checked before opening: opening a FIFO for reading blocks until a writer appears, and
    // opening some devices has side effects.
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    // O_NONBLOCK: should the path have been swapped for a FIFO since, the open returns at once.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let too_large = |size: u64| FileError::TooLarge {
        path: path.to_owned(),
        size,
        limit,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok((text, meta.modified().unwrap_or(UNIX_EPOCH)))
}

/// The `textfile` collector.
#[derive(Debug)]
pub struct TextfileCollector {
    directory: Option<PathBuf>,
    max_file_size: u64,
}

impl TextfileCollector {
    /// A collector for the files in `directory` (none: only `node_textfile_scrape_error 0`),
    /// refusing files over [`DEFAULT_MAX_FILE_SIZE`].
    pub fn new(directory: Option<PathBuf>) -> TextfileCollector {
        TextfileCollector {
            directory: directory.filter(|d| !d.as_os_str().is_empty()),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }

    /// Refuses files larger than `bytes` (`--collector.textfile.max-file-size`).
    pub fn max_file_size(mut self, bytes: u64) -> TextfileCollector {
        self.max_file_size = bytes;
        self
    }
}

impl NodeCollector for TextfileCollector {
    const NAME: &'static str = "textfile";

    fn from_config(c: &Config) -> TextfileCollector {
        TextfileCollector::new(c.textfile_directory.clone()).max_file_size(c.textfile_max_file_size)
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
                    let result =
                        read_bounded(&path, self.max_file_size).and_then(|(text, mtime)| {
                            let parsed = parse_text(&text).map_err(|source| FileError::Parse {
                                path: path.clone(),
                                source,
                            })?;
                            merged.add_file(&path, parsed)?;
                            Ok(mtime)
                        });
                    match result {
                        Ok(mtime) => {
                            // The mtime of the file read, recorded only after a successful
                            // parse, so a failure never looks fresh.
                            let mtime = mtime
                                .duration_since(UNIX_EPOCH)
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
    fn reserved_names() {
        assert!(is_reserved("node_load1") && is_reserved("node_cpu_seconds_total"));
        assert!(!is_reserved("node_load10") && !is_reserved("node_apt_upgrades_pending"));
        assert!(!is_reserved("backup_last_success_timestamp_seconds"));
    }

    /// Every family the built-in collectors write on the fixture tree is reserved, so a new
    /// collector cannot be shadowed by a textfile unnoticed.
    #[test]
    fn golden_families_are_reserved() {
        for golden in ["upstream.txt", "debian12.txt"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden")
                .join(golden);
            let text = fs::read_to_string(&path).unwrap();
            // The fixture tree's textfiles define these; everything else is built in.
            let from_textfiles = [
                "untyped_thing",
                "rpc_seconds",
                "request_seconds",
                "legacy_counter",
                "jobs_run_total",
                "backup_last_success_timestamp_seconds",
            ];
            let missing: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("# TYPE "))
                .filter_map(|l| l.split_whitespace().nth(2))
                .filter(|name| !from_textfiles.contains(name) && !is_reserved(name))
                .collect();
            assert!(
                missing.is_empty(),
                "{golden}: families of built-in collectors a textfile could shadow; add their \
                 prefix to RESERVED_FAMILIES in src/collectors/textfile.rs: {missing:?}"
            );
        }
    }

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
