//! `bcachefs`: every mounted bcachefs filesystem of `/sys/fs/bcachefs/<uuid>/` (node_exporter
//! 1.12 and later; not part of the `debian12` profile), read as procfs' `bcachefs` package
//! reads it: sizes in the kernel's human-readable units (`1.5G`, `128k`), per-algorithm
//! compression, error counts, the event counters since filesystem creation (one family each,
//! `node_bcachefs_<counter>_total`), btree writes and each `dev-<n>` member.

use std::collections::BTreeMap;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{dynamic_family, family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::attr::{is_missing, sanitize_metric_name};
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::number;
use crate::paths::Paths;

/// procfs' `ReadFileNoStat` reads at most this much of a file.
const MAX_FILE: u64 = 1024 * 1024;
/// `bufio.Scanner`'s default longest line, and the one procfs sets for the tables.
const SHORT_LINE: usize = 64 * 1024;
const LONG_LINE: usize = 1024 * 1024;

/// One filesystem: procfs' `bcachefs.Stats` (maps in key order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filesystem {
    /// The directory name under `fs/bcachefs`.
    pub uuid: String,
    /// `btree_cache_size` in bytes.
    pub btree_cache_size: u64,
    /// `compression_stats`: algorithm → (compressed, uncompressed) bytes.
    pub compression: BTreeMap<String, (u64, u64)>,
    /// `errors`: error type → count.
    pub errors: BTreeMap<String, u64>,
    /// `counters/<name>`: the value since filesystem creation.
    pub counters: BTreeMap<String, u64>,
    /// `btree_write_stats`: type → (count, average size in bytes).
    pub btree_writes: BTreeMap<String, (u64, u64)>,
    /// `dev-<n>` → the member device.
    pub devices: BTreeMap<String, Device>,
}

/// One member device: procfs' `bcachefs.DeviceStats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Device {
    /// `label` (empty when unreadable).
    pub label: String,
    /// `state` (empty when unreadable).
    pub state: String,
    /// `bucket_size` in bytes.
    pub bucket_size: u64,
    /// `nbuckets`.
    pub buckets: u64,
    /// `durability`.
    pub durability: u64,
    /// `io_done`: (operation, data type) → bytes.
    pub io_done: BTreeMap<(String, String), u64>,
    /// `io_errors`, the section since filesystem creation: error type → count.
    pub io_errors: BTreeMap<String, u64>,
}

fn parse_err(line: usize, kind: ParseErrorKind) -> ParseError {
    ParseError::new("bcachefs", line, kind)
}

/// Go's `uint64(f)` as the amd64 compiler emits it (procfs converts the parsed float so):
/// below 2^63 a signed truncation (negative values wrap, out of range gives 2^63), above it
/// the same on `f - 2^63` with the top bit set; NaN and values past `u64::MAX` give 2^63.
fn go_uint(f: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    const TOP: u64 = 1 << 63;
    if f < TWO63 {
        // Rust's `as i64` saturates, giving i64::MIN (= 2^63) where x86 gives it too.
        (f as i64) as u64
    } else {
        let y = f - TWO63;
        let z = if y < TWO63 { (y as i64) as u64 } else { TOP };
        z | TOP
    }
}

/// procfs' `parseHumanReadableBytes`: a Go float with an optional binary unit suffix
/// (`k`, `M`, `G`, `T`, `P`, `E`, either case).
pub fn parse_human_bytes(s: &str) -> Result<u64, ParseErrorKind> {
    let s = s.trim();
    let Some(last) = s.bytes().last() else {
        return Err(ParseErrorKind::Missing("a size"));
    };
    let shift = match last.to_ascii_lowercase() {
        b'k' => 10,
        b'm' => 20,
        b'g' => 30,
        b't' => 40,
        b'p' => 50,
        b'e' => 60,
        _ => 0,
    };
    let digits = if shift == 0 { s } else { &s[..s.len() - 1] };
    let v = number::float(digits.trim())?;
    Ok(go_uint(v * (1u64 << shift) as f64))
}

/// The lines of `text` as `bufio.Scanner` yields them, failing on a line it could not buffer.
fn scan(text: &str, max: usize) -> impl Iterator<Item = Result<(usize, &str), ParseError>> {
    text.lines().enumerate().map(move |(i, line)| {
        if line.len() >= max {
            Err(parse_err(
                i + 1,
                ParseErrorKind::Malformed {
                    what: "token too long",
                    text: line.chars().take(64).collect(),
                },
            ))
        } else {
            Ok((i + 1, line))
        }
    })
}

/// `compression_stats`: a header, then `<algorithm>: <compressed> <uncompressed> [<average>]`;
/// shorter lines are skipped.
pub fn parse_compression(text: &str) -> Result<BTreeMap<String, (u64, u64)>, ParseError> {
    let mut out = BTreeMap::new();
    for line in scan(text, LONG_LINE).skip(1) {
        let (n, line) = line?;
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let num = |s: &str| parse_human_bytes(s).map_err(|k| parse_err(n, k));
        let sizes = (num(f[1])?, num(f[2])?);
        if let Some(avg) = f.get(3) {
            num(avg)?;
        }
        out.insert(f[0].strip_suffix(':').unwrap_or(f[0]).to_owned(), sizes);
    }
    Ok(out)
}

/// `errors`: `<type> <count> [<timestamp>]` lines; shorter lines are skipped.
pub fn parse_errors(text: &str) -> Result<BTreeMap<String, u64>, ParseError> {
    let mut out = BTreeMap::new();
    for line in scan(text, SHORT_LINE) {
        let (n, line) = line?;
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 2 {
            continue;
        }
        let count = number::uint(f[1]).map_err(|k| parse_err(n, k))?;
        if let Some(ts) = f.get(2) {
            number::uint(ts).map_err(|k| parse_err(n, k))?;
        }
        out.insert(f[0].to_owned(), count);
    }
    Ok(out)
}

/// A `counters/<name>` file: the `since filesystem creation:` value (0 when only `since
/// mount:` is there); a file with neither is an error.
pub fn parse_counter(text: &str) -> Result<u64, ParseError> {
    let (mut value, mut seen) = (0, false);
    for line in scan(text, SHORT_LINE) {
        let (n, line) = line?;
        if let Some(v) = line.strip_prefix("since mount:") {
            parse_human_bytes(v).map_err(|k| parse_err(n, k))?;
            seen = true;
        } else if let Some(v) = line.strip_prefix("since filesystem creation:") {
            value = parse_human_bytes(v).map_err(|k| parse_err(n, k))?;
            seen = true;
        }
    }
    if !seen {
        return Err(parse_err(
            0,
            ParseErrorKind::Missing("a recognised counter line"),
        ));
    }
    Ok(value)
}

/// `btree_write_stats`: a header, then `<type>: <count> <size>`; shorter lines are skipped.
pub fn parse_btree_writes(text: &str) -> Result<BTreeMap<String, (u64, u64)>, ParseError> {
    let mut out = BTreeMap::new();
    for line in scan(text, LONG_LINE).skip(1) {
        let (n, line) = line?;
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let count = number::uint(f[1]).map_err(|k| parse_err(n, k))?;
        let size = parse_human_bytes(f[2]).map_err(|k| parse_err(n, k))?;
        out.insert(
            f[0].strip_suffix(':').unwrap_or(f[0]).to_owned(),
            (count, size),
        );
    }
    Ok(out)
}

/// A device's `io_done`: `read:` / `write:` headings, each followed by `<data type>: <bytes>`.
pub fn parse_io_done(text: &str) -> Result<BTreeMap<(String, String), u64>, ParseError> {
    let mut out = BTreeMap::new();
    let mut op = "";
    for line in scan(text, SHORT_LINE) {
        let (n, line) = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "read:" || line == "write:" {
            op = &line[..line.len() - 1];
            continue;
        }
        let Some((kind, value)) = line.split_once(':').filter(|_| !op.is_empty()) else {
            continue;
        };
        let v = number::uint(value.trim()).map_err(|k| parse_err(n, k))?;
        out.insert((op.to_owned(), kind.trim().to_owned()), v);
    }
    Ok(out)
}

/// A device's `io_errors`: the `<type>: <count>` lines of the section "IO errors since
/// filesystem creation" (reading stops at the next "IO errors since" heading).
pub fn parse_io_errors(text: &str) -> Result<BTreeMap<String, u64>, ParseError> {
    let mut out = BTreeMap::new();
    let mut in_section = false;
    for line in scan(text, SHORT_LINE) {
        let (n, line) = line?;
        if line.starts_with("IO errors since filesystem creation") {
            in_section = true;
            continue;
        }
        if line.starts_with("IO errors since ") {
            break;
        }
        let Some((kind, value)) = line.trim().split_once(':').filter(|_| in_section) else {
            continue;
        };
        let v = number::uint(value.trim()).map_err(|k| parse_err(n, k))?;
        out.insert(kind.trim().to_owned(), v);
    }
    Ok(out)
}

/// A file as procfs' `ReadFileNoStat` reads it (at most 1 MiB); `None` when it is missing.
fn read_optional(path: &Path) -> Result<Option<String>, ReadError> {
    use std::io::Read;
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE).read_to_end(&mut bytes).map_err(io)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Reads and parses an optional file (missing → the parser's empty result on "").
fn parse_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, ReadError> {
    match read_optional(path)? {
        None => Ok(None),
        Some(text) => parse(&text).map(Some).map_err(|source| ReadError::Parse {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The entries of `dir` that are directories (not following links, as Go's `DirEntry`), or
/// every entry that is not one when `dirs` is false, in name order.
fn entries(dir: &Path, dirs: bool) -> Result<Vec<String>, ReadError> {
    let rd = std::fs::read_dir(dir).map_err(|source| ReadError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) == dirs)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_unstable();
    Ok(names)
}

fn human_file(path: &Path) -> Result<u64, ReadError> {
    let text = read_optional(path)?.unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(0);
    }
    parse_human_bytes(&text).map_err(|kind| ReadError::Parse {
        path: path.to_owned(),
        source: parse_err(1, kind),
    })
}

fn uint_file(path: &Path) -> Result<u64, ReadError> {
    let text = read_optional(path)?;
    let Some(text) = text else { return Ok(0) };
    number::uint(text.trim()).map_err(|kind| ReadError::Parse {
        path: path.to_owned(),
        source: parse_err(1, kind),
    })
}

fn read_device(dir: &Path) -> Result<Device, ReadError> {
    let text = |f: &str| {
        read_optional(&dir.join(f))
            .ok()
            .flatten()
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    };
    Ok(Device {
        label: text("label"),
        state: text("state"),
        bucket_size: human_file(&dir.join("bucket_size"))?,
        buckets: uint_file(&dir.join("nbuckets"))?,
        durability: uint_file(&dir.join("durability"))?,
        io_done: parse_file(&dir.join("io_done"), parse_io_done)?.unwrap_or_default(),
        io_errors: parse_file(&dir.join("io_errors"), parse_io_errors)?.unwrap_or_default(),
    })
}

/// procfs' `GetStats` for one `fs/bcachefs/<uuid>` directory.
pub fn read_filesystem(dir: &Path, uuid: &str) -> Result<Filesystem, ReadError> {
    let mut fs = Filesystem {
        uuid: uuid.to_owned(),
        btree_cache_size: human_file(&dir.join("btree_cache_size"))?,
        ..Filesystem::default()
    };
    fs.compression =
        parse_file(&dir.join("compression_stats"), parse_compression)?.unwrap_or_default();
    fs.errors = parse_file(&dir.join("errors"), parse_errors)?.unwrap_or_default();
    let counters = dir.join("counters");
    match entries(&counters, false) {
        Ok(names) => {
            for name in names {
                let v = parse_file(&counters.join(&name), parse_counter)?;
                fs.counters.insert(name, v.unwrap_or(0));
            }
        }
        Err(e) if is_missing(&e) => {}
        Err(e) => return Err(e),
    }
    fs.btree_writes =
        parse_file(&dir.join("btree_write_stats"), parse_btree_writes)?.unwrap_or_default();
    for name in entries(dir, true)? {
        if let Some(dev) = name.strip_prefix("dev-") {
            fs.devices
                .insert(dev.to_owned(), read_device(&dir.join(&name))?);
        }
    }
    Ok(fs)
}

/// procfs' `Stats`: every filesystem directory of `fs/bcachefs`, in name order; one that
/// fails to read fails them all.
pub fn read_filesystems(paths: &Paths) -> Result<Vec<Filesystem>, ReadError> {
    let base = paths.sys("fs/bcachefs");
    entries(&base, true)?
        .into_iter()
        .map(|uuid| read_filesystem(&base.join(&uuid), &uuid))
        .collect()
}

/// A family's series before they are written: client_golang writes them sorted by label
/// values (in label-name order), whatever order they were collected in.
struct Rows {
    family: MetricFamily,
    rows: Vec<(Vec<String>, f64)>,
}

impl Rows {
    fn new(kind: MetricKind, name: &str, help: &str, labels: &[&str]) -> Rows {
        Rows {
            family: family(kind, name, help, labels),
            rows: Vec::new(),
        }
    }

    fn add(&mut self, labels: &[&str], value: f64) {
        self.rows
            .push((labels.iter().map(|s| (*s).to_owned()).collect(), value));
    }

    fn finish(mut self) -> MetricFamily {
        self.rows.sort_by(|a, b| a.0.cmp(&b.0));
        for (labels, v) in &self.rows {
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            push(&mut self.family, &labels, *v);
        }
        self.family
    }
}

/// The `bcachefs` collector.
#[derive(Debug)]
pub struct BcachefsCollector {
    paths: Paths,
}

impl NodeCollector for BcachefsCollector {
    const NAME: &'static str = "bcachefs";
    const SINCE_DEBIAN12: bool = true;

    fn from_config(c: &Config) -> BcachefsCollector {
        BcachefsCollector {
            paths: c.paths.clone(),
        }
    }
}

impl BlockingCollector for BcachefsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let filesystems = match read_filesystems(&self.paths) {
            Ok(f) if f.is_empty() => return Err(CollectError::NoData),
            Ok(f) => f,
            Err(e) if is_missing(&e) => {
                tracing::debug!(err = %e, "bcachefs sysfs path does not exist");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        use MetricKind::{Counter, Gauge};
        let n = "node_bcachefs_";
        let name = |s: &str| format!("{n}{s}");
        let mut info = Rows::new(Gauge, &name("info"), "Filesystem information.", &["uuid"]);
        let mut cache = Rows::new(
            Gauge,
            &name("btree_cache_size_bytes"),
            "Btree cache memory usage in bytes.",
            &["uuid"],
        );
        let alg = &["algorithm", "uuid"];
        let mut compressed = Rows::new(
            Gauge,
            &name("compression_compressed_bytes"),
            "Compressed size by algorithm.",
            alg,
        );
        let mut uncompressed = Rows::new(
            Gauge,
            &name("compression_uncompressed_bytes"),
            "Uncompressed size by algorithm.",
            alg,
        );
        let mut errors = Rows::new(
            Counter,
            &name("errors_total"),
            "Error count by error type.",
            &["error_type", "uuid"],
        );
        let mut writes = Rows::new(
            Counter,
            &name("btree_writes_total"),
            "Number of btree writes by type.",
            &["type", "uuid"],
        );
        let mut write_size = Rows::new(
            Gauge,
            &name("btree_write_average_size_bytes"),
            "Average btree write size by type.",
            &["type", "uuid"],
        );
        let mut dev_info = Rows::new(
            Gauge,
            &name("device_info"),
            "Device information.",
            &["device", "label", "state", "uuid"],
        );
        let dev = &["device", "uuid"];
        let mut bucket = Rows::new(
            Gauge,
            &name("device_bucket_size_bytes"),
            "Bucket size in bytes.",
            dev,
        );
        let mut buckets = Rows::new(
            Gauge,
            &name("device_buckets"),
            "Total number of buckets.",
            dev,
        );
        let mut durability = Rows::new(
            Gauge,
            &name("device_durability"),
            "Device durability setting.",
            dev,
        );
        let mut io_done = Rows::new(
            Counter,
            &name("device_io_done_bytes_total"),
            "IO bytes by operation type and data type.",
            &["data_type", "device", "operation", "uuid"],
        );
        let mut io_errors = Rows::new(
            Counter,
            &name("device_io_errors_total"),
            "IO errors by error type.",
            &["device", "type", "uuid"],
        );
        // The event counters, one family per counter name.
        let mut counters: BTreeMap<String, Rows> = BTreeMap::new();
        for fs in &filesystems {
            let uuid = fs.uuid.as_str();
            info.add(&[uuid], 1.0);
            cache.add(&[uuid], fs.btree_cache_size as f64);
            for (a, (c, u)) in &fs.compression {
                compressed.add(&[a, uuid], *c as f64);
                uncompressed.add(&[a, uuid], *u as f64);
            }
            for (t, c) in &fs.errors {
                errors.add(&[t, uuid], *c as f64);
            }
            for (counter, v) in &fs.counters {
                let metric = format!("{n}{}_total", sanitize_metric_name(counter));
                if !counters.contains_key(&metric) {
                    let help = format!("Bcachefs counter {counter} since filesystem creation.");
                    // A name the data cannot make valid is skipped (logged at debug).
                    let Some(family) = dynamic_family(Counter, &metric, &help, &["uuid"]) else {
                        continue;
                    };
                    counters.insert(
                        metric.clone(),
                        Rows {
                            family,
                            rows: Vec::new(),
                        },
                    );
                }
                if let Some(rows) = counters.get_mut(&metric) {
                    rows.add(&[uuid], *v as f64);
                }
            }
            for (t, (c, size)) in &fs.btree_writes {
                writes.add(&[t, uuid], *c as f64);
                write_size.add(&[t, uuid], *size as f64);
            }
            for (d, s) in &fs.devices {
                dev_info.add(&[d, &s.label, &s.state, uuid], 1.0);
                bucket.add(&[d, uuid], s.bucket_size as f64);
                buckets.add(&[d, uuid], s.buckets as f64);
                durability.add(&[d, uuid], s.durability as f64);
                for ((op, data), v) in &s.io_done {
                    io_done.add(&[data, d, op, uuid], *v as f64);
                }
                for (t, v) in &s.io_errors {
                    io_errors.add(&[d, t, uuid], *v as f64);
                }
            }
        }
        let fixed = [
            info,
            cache,
            compressed,
            uncompressed,
            errors,
            writes,
            write_size,
            dev_info,
            bucket,
            buckets,
            durability,
            io_done,
            io_errors,
        ];
        // A counter whose name is one of the fixed families' would make the exposition
        // invalid; client_golang refuses such a collision at gather time, so it is left out.
        let taken: Vec<String> = fixed.iter().map(|r| r.family.name().to_owned()).collect();
        let dynamic = counters
            .into_values()
            .filter(|r| !taken.iter().any(|t| t == r.family.name()));
        out.extend(
            fixed
                .into_iter()
                .chain(dynamic)
                .map(Rows::finish)
                .filter(|f| !f.is_empty()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_as_procfs() {
        assert_eq!(parse_human_bytes("1.5G").unwrap(), 1_610_612_736);
        assert_eq!(parse_human_bytes("128k").unwrap(), 131_072);
        assert_eq!(parse_human_bytes(" 42 ").unwrap(), 42);
        assert_eq!(parse_human_bytes("4 M").unwrap(), 4 << 20);
        assert!(parse_human_bytes("").is_err() && parse_human_bytes("x").is_err());
        // Go's conversion on amd64: wrap below zero, 2^63 past u64::MAX and for NaN.
        assert_eq!(parse_human_bytes("-1").unwrap(), u64::MAX);
        assert_eq!(parse_human_bytes("16E").unwrap(), 1 << 63);
        assert_eq!(parse_human_bytes("NaN").unwrap(), 1 << 63);
        assert_eq!(parse_human_bytes("15E").unwrap(), 15 << 60);
    }

    #[test]
    fn tables() {
        let c = parse_compression(
            "compression compressed uncompressed average\nlz4: 1.0G 2.0G 4k\nnone\n",
        )
        .unwrap();
        assert_eq!(c["lz4"], (1 << 30, 2 << 30));
        assert_eq!(parse_errors("a 5 0\nb\n").unwrap()["a"], 5);
        assert_eq!(
            parse_counter("since mount: 1\nsince filesystem creation: 2k\n").unwrap(),
            2048
        );
        assert!(parse_counter("nothing\n").is_err());
        let io = parse_io_done("read:\n  btree: 7\nwrite:\n  data: 3\n").unwrap();
        assert_eq!(io[&("write".into(), "data".into())], 3);
        let e = parse_io_errors(
            "IO errors since filesystem creation\n  read: 9\nIO errors since 1 mount\n  read: 1\n",
        )
        .unwrap();
        assert_eq!(e["read"], 9);
    }
}
