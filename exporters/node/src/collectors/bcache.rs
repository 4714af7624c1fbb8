//! `bcache`: bcache cache sets under `/sys/fs/bcache/<uuid>`, their backing devices
//! (`bdev*`) and cache devices (`cache*`); `--collector.bcache.priorityStats` adds the
//! expensive `priority_stats` figures.

use std::fs;
use std::path::{Path, PathBuf};

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};
use clap::Args;
use clap::builder::BoolishValueParser;

use super::NodeCollector;
use crate::attr::{self, is_missing};
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::number;
use crate::paths::Paths;

/// The `bcache` collector's flags.
#[derive(Debug, Clone, Default, Args)]
pub struct BcacheArgs {
    /// Expose expensive priority stats.
    #[arg(long = "collector.bcache.priorityStats", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new())]
    pub priority_stats: bool,
}

/// procfs' `parsePseudoFloat`: bcache prints fractions in 1/1024ths as if decimal.
fn pseudo_float(s: &str) -> Result<f64, ParseErrorKind> {
    let mut parts = s.split('.');
    let int = number::float(parts.next().unwrap_or(""))?;
    match parts.next() {
        None => Ok(int),
        Some(frac) => Ok(int + number::float(frac)? / 10.24),
    }
}

/// procfs' `dehumanize`: `1.5M` and friends (binary multiples; an unknown suffix
/// multiplies by 0, as upstream).
pub fn dehumanize(s: &str) -> Result<u64, ParseErrorKind> {
    let Some(&last) = s.as_bytes().last() else {
        return Err(ParseErrorKind::malformed("value", "zero-length reply"));
    };
    if last > b'9' {
        let mul = match last {
            b'k' => 1,
            b'M' => 2,
            b'G' => 3,
            b'T' => 4,
            b'P' => 5,
            b'E' => 6,
            b'Z' => 7,
            b'Y' => 8,
            _ => 0,
        };
        let mul = if mul == 0 { 0.0 } else { 2f64.powi(10 * mul) };
        let head = s
            .get(..s.len() - 1)
            .ok_or_else(|| ParseErrorKind::number(s))?;
        Ok((pseudo_float(head)? * mul) as u64)
    } else {
        Ok(number::float(s)? as u64)
    }
}

fn dehumanize_signed(s: &str) -> Result<i64, ParseErrorKind> {
    let v = dehumanize(s.strip_prefix('-').unwrap_or(s))? as i64;
    Ok(if s.starts_with('-') {
        v.wrapping_neg()
    } else {
        v
    })
}

/// Reads one value file (a missing one is 0, as procfs reads it).
fn value(dir: &Path, file: &str) -> Result<u64, ReadError> {
    let path = dir.join(file);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(ReadError::Io { path, source }),
    };
    let text = String::from_utf8_lossy(&bytes);
    // procfs drops the last byte (the newline) before parsing.
    let mut chars = text.chars();
    let parse = match chars.next_back() {
        Some(_) => dehumanize(chars.as_str()),
        None => Err(ParseErrorKind::malformed("value", "empty file")),
    };
    parse.map_err(|kind| ReadError::Parse {
        path,
        source: ParseError::new("fs/bcache", 1, kind),
    })
}

/// The last field of the first line starting `prefix`, without `suffix`.
fn keyed<'a>(text: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    let last = line.split_ascii_whitespace().last()?;
    Some(last.strip_suffix(suffix).unwrap_or(last))
}

fn read_text(path: PathBuf) -> Result<String, ReadError> {
    fs::read(&path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|source| ReadError::Io { path, source })
}

/// The `stats_total` counters of a backing device: file, metric, HELP.
const PERIOD: [(&str, &str, &str); 7] = [
    (
        "bypassed",
        "bypassed_bytes_total",
        "Amount of IO (both reads and writes) that has bypassed the cache.",
    ),
    (
        "cache_hits",
        "cache_hits_total",
        "Hits counted per individual IO as bcache sees them.",
    ),
    (
        "cache_misses",
        "cache_misses_total",
        "Misses counted per individual IO as bcache sees them.",
    ),
    (
        "cache_bypass_hits",
        "cache_bypass_hits_total",
        "Hits for IO intended to skip the cache.",
    ),
    (
        "cache_bypass_misses",
        "cache_bypass_misses_total",
        "Misses for IO intended to skip the cache.",
    ),
    (
        "cache_miss_collisions",
        "cache_miss_collisions_total",
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
    (
        "cache_readaheads",
        "cache_readaheads_total",
        "Count of times readahead occurred.",
    ),
];

/// The cache set's own values: directory, file, metric, type, scale, HELP.
const SET: [(&str, &str, &str, MetricKind, f64, &str); 10] = [
    (
        "",
        "average_key_size",
        "average_key_size_sectors",
        MetricKind::Gauge,
        1.0,
        "Average data per key in the btree (sectors).",
    ),
    (
        "",
        "btree_cache_size",
        "btree_cache_size_bytes",
        MetricKind::Gauge,
        1.0,
        "Amount of memory currently used by the btree cache.",
    ),
    (
        "",
        "cache_available_percent",
        "cache_available_percent",
        MetricKind::Gauge,
        1.0,
        "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).",
    ),
    (
        "",
        "congested",
        "congested",
        MetricKind::Gauge,
        1.0,
        "Congestion.",
    ),
    (
        "",
        "root_usage_percent",
        "root_usage_percent",
        MetricKind::Gauge,
        1.0,
        "Percentage of the root btree node in use (tree depth increases if too high).",
    ),
    (
        "",
        "tree_depth",
        "tree_depth",
        MetricKind::Gauge,
        1.0,
        "Depth of the btree.",
    ),
    (
        "internal",
        "active_journal_entries",
        "active_journal_entries",
        MetricKind::Gauge,
        1.0,
        "Number of journal entries that are newer than the index.",
    ),
    (
        "internal",
        "btree_nodes",
        "btree_nodes",
        MetricKind::Gauge,
        1.0,
        "Total nodes in the btree.",
    ),
    // procfs reads microseconds into a nanoseconds field; node_exporter scales by 1e-9.
    (
        "internal",
        "btree_read_average_duration_us",
        "btree_read_average_duration_seconds",
        MetricKind::Gauge,
        1e-9,
        "Average btree read duration.",
    ),
    (
        "internal",
        "cache_read_races",
        "cache_read_races_total",
        MetricKind::Counter,
        1.0,
        "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.",
    ),
];

/// Directory entries of `dir` named `<prefix><digit>...`, sorted (a glob).
fn numbered(dir: &Path, prefix: &str) -> Vec<String> {
    attr::sorted_names(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| {
            n.strip_prefix(prefix)
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect()
}

/// Collects one cache set into `set`.
fn collect_set(
    dir: &Path,
    uuid: &str,
    priority: bool,
    upstream: bool,
    set: &mut FamilySet,
) -> Result<(), ReadError> {
    let mut own = Vec::with_capacity(SET.len());
    for (sub, file, ..) in SET {
        own.push(value(&dir.join(sub), file)?);
    }
    // procfs also reads the set's five-minute and total statistics, which must parse.
    for sub in ["stats_five_minute", "stats_total"] {
        for (file, ..) in PERIOD {
            value(&dir.join(sub), file)?;
        }
    }
    let mut bdevs = Vec::new();
    for name in numbered(dir, "bdev") {
        let bdir = dir.join(&name);
        let dirty = value(&bdir, "dirty_data")?;
        let wrd = read_text(bdir.join("writeback_rate_debug"))?;
        let err = |kind| ReadError::Parse {
            path: bdir.join("writeback_rate_debug"),
            source: ParseError::new("fs/bcache/writeback_rate_debug", 1, kind),
        };
        let get = |prefix: &str, suffix: &str| keyed(&wrd, prefix, suffix);
        let rate = get("rate:", "/sec")
            .map(dehumanize)
            .transpose()
            .map_err(err)?;
        let _dirty = get("dirty:", "").map(dehumanize).transpose().map_err(err)?;
        let target = get("target:", "")
            .map(dehumanize)
            .transpose()
            .map_err(err)?;
        let prop = get("proportional:", "")
            .map(dehumanize_signed)
            .transpose()
            .map_err(err)?;
        let integral = get("integral:", "")
            .map(dehumanize_signed)
            .transpose()
            .map_err(err)?;
        let change = get("change:", "/sec")
            .map(dehumanize_signed)
            .transpose()
            .map_err(err)?;
        if let Some(n) = get("next io:", "ms") {
            n.parse::<i64>()
                .map_err(|_| err(ParseErrorKind::number(n)))?;
        }
        for sub in ["stats_five_minute", "stats_total"] {
            for (file, ..) in PERIOD {
                value(&bdir.join(sub), file)?;
            }
        }
        let mut total = [0u64; 7];
        for (t, (file, ..)) in total.iter_mut().zip(PERIOD) {
            *t = value(&bdir.join("stats_total"), file)?;
        }
        bdevs.push((
            name,
            dirty,
            [
                target.unwrap_or(0) as f64,
                rate.unwrap_or(0) as f64,
                prop.unwrap_or(0) as f64,
                integral.unwrap_or(0) as f64,
                change.unwrap_or(0) as f64,
            ],
            total,
        ));
    }
    let mut caches = Vec::new();
    for name in numbered(dir, "cache") {
        let cdir = dir.join(&name);
        let vals = [
            value(&cdir, "io_errors")?,
            value(&cdir, "metadata_written")?,
            value(&cdir, "written")?,
        ];
        let prio = if priority {
            let text = read_text(cdir.join("priority_stats"))?;
            let err = |kind| ReadError::Parse {
                path: cdir.join("priority_stats"),
                source: ParseError::new("fs/bcache/priority_stats", 1, kind),
            };
            let pct = |p: &str| {
                keyed(&text, p, "%")
                    .map(number::uint)
                    .transpose()
                    .map_err(err)
            };
            Some((pct("Unused:")?.unwrap_or(0), pct("Metadata:")?.unwrap_or(0)))
        } else {
            None
        };
        caches.push((name, vals, prio));
    }

    let uuid_only = ["uuid"];
    for ((_, _, metric, kind, scale, help), v) in SET.iter().zip(&own) {
        set.add(*kind, metric, help, &uuid_only, &[uuid], *v as f64 * scale);
    }
    let blabels = ["backing_device", "uuid"];
    for (name, dirty, wrd, total) in &bdevs {
        let values = [name.as_str(), uuid];
        let g = |set: &mut FamilySet, metric: &str, help: &str, v: f64| {
            set.gauge(metric, help, &blabels, &values, v);
        };
        g(
            set,
            "dirty_data_bytes",
            "Amount of dirty data for this backing device in the cache.",
            *dirty as f64,
        );
        g(
            set,
            "dirty_target_bytes",
            "Current dirty data target threshold for this backing device in bytes.",
            wrd[0],
        );
        g(
            set,
            "writeback_rate",
            "Current writeback rate for this backing device in bytes.",
            wrd[1],
        );
        g(
            set,
            "writeback_rate_proportional_term",
            "Current result of proportional controller, part of writeback rate",
            wrd[2],
        );
        g(
            set,
            "writeback_rate_integral_term",
            "Current result of integral controller, part of writeback rate",
            wrd[3],
        );
        g(
            set,
            "writeback_change",
            "Last writeback rate change step for this backing device.",
            wrd[4],
        );
        for ((_, metric, help), v) in PERIOD.iter().zip(total) {
            // node_exporter 1.5.0 always reports readaheads; later versions only when
            // the kernel counts them.
            if *metric == "cache_readaheads_total" && upstream && *v == 0 {
                continue;
            }
            set.add(
                MetricKind::Counter,
                metric,
                help,
                &blabels,
                &values,
                *v as f64,
            );
        }
    }
    let clabels = ["cache_device", "uuid"];
    for (name, vals, prio) in &caches {
        let values = [name.as_str(), uuid];
        set.gauge(
            "io_errors",
            "Number of errors that have occurred, decayed by io_error_halflife.",
            &clabels,
            &values,
            vals[0] as f64,
        );
        set.add(
            MetricKind::Counter,
            "metadata_written_bytes_total",
            "Sum of all non data writes (btree writes and all other metadata).",
            &clabels,
            &values,
            vals[1] as f64,
        );
        set.add(
            MetricKind::Counter,
            "written_bytes_total",
            "Sum of all data that has been written to the cache.",
            &clabels,
            &values,
            vals[2] as f64,
        );
        if let Some((unused, meta)) = prio {
            set.gauge(
                "priority_stats_unused_percent",
                "The percentage of the cache that doesn't contain any data.",
                &clabels,
                &values,
                *unused as f64,
            );
            set.gauge(
                "priority_stats_metadata_percent",
                "Bcache's metadata overhead.",
                &clabels,
                &values,
                *meta as f64,
            );
        }
    }
    Ok(())
}

/// The `bcache` collector.
#[derive(Debug)]
pub struct BcacheCollector {
    paths: Paths,
    priority: bool,
    compat: Compat,
}

impl NodeCollector for BcacheCollector {
    const NAME: &'static str = "bcache";

    fn from_config(c: &Config) -> BcacheCollector {
        BcacheCollector {
            paths: c.paths.clone(),
            priority: c.bcache.priority_stats,
            compat: c.compat,
        }
    }
}

impl BlockingCollector for BcacheCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let root = self.paths.sys("fs/bcache");
        // The glob `fs/bcache/*-*`: nothing when bcache is not loaded.
        let sets: Vec<String> = attr::sorted_names(&root)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.contains('-'))
            .collect();
        let mut set = FamilySet::new(Naming::Standard).with_namespace("node_bcache");
        let upstream = !self.compat.is_debian12();
        for uuid in &sets {
            collect_set(&root.join(uuid), uuid, self.priority, upstream, &mut set).map_err(
                |e| {
                    if is_missing(&e) {
                        tracing::debug!(err = %e, "bcache file missing");
                    }
                    CollectError::new(e)
                },
            )?;
        }
        set.finish(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dehumanizes_like_procfs() {
        assert_eq!(dehumanize("542k").unwrap(), 542 * 1024);
        assert_eq!(
            dehumanize("1.5M").unwrap(),
            ((1.0 + 5.0 / 10.24) * 1048576.0) as u64
        );
        assert_eq!(dehumanize("12").unwrap(), 12);
        assert_eq!(dehumanize("3x").unwrap(), 0);
        assert!(dehumanize("").is_err() && dehumanize("k").is_err());
        assert_eq!(dehumanize_signed("-2k").unwrap(), -2048);
    }
}
