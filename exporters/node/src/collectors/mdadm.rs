//! `mdadm`: software RAID state from `/proc/mdstat` (`node_md_*`), and upstream the raid
//! disks and degraded count from `/sys/block/md*/md`.

use std::io;
use std::path::Path;
use std::sync::LazyLock;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};
use regex::Regex;

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::paths::Paths;
use crate::sysfs;

/// One md device as `/proc/mdstat` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MdStat {
    /// `md0`.
    pub name: String,
    /// `active`, `inactive`, or the sync in progress: `recovering`, `resyncing`, `checking`
    /// (and `reshaping` with upstream's parser).
    pub state: String,
    /// Active disks.
    pub disks_active: i64,
    /// Disks marked `(F)`.
    pub disks_failed: i64,
    /// Disks marked `(S)`.
    pub disks_spare: i64,
    /// Disks the array needs.
    pub disks_total: i64,
    /// Size in blocks.
    pub blocks_total: i64,
    /// Blocks synced (the size when no sync runs).
    pub blocks_synced: i64,
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("built-in pattern")
}

static STATUS_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\d+) blocks .*\[(\d+)/(\d+)\] \[([U_]+)\]"));
static RECOVERY_BLOCKS: LazyLock<Regex> = LazyLock::new(|| re(r"\((\d+)/(\d+)\)"));
static RECOVERY_PCT: LazyLock<Regex> = LazyLock::new(|| re(r"= (.+)%"));
static RECOVERY_FINISH: LazyLock<Regex> = LazyLock::new(|| re(r"finish=(.+)min"));
static RECOVERY_SPEED: LazyLock<Regex> = LazyLock::new(|| re(r"speed=(.+)[A-Z]"));

/// Parses `/proc/mdstat` with procfs's rules (node_exporter 1.5.0's procfs for `debian12`,
/// which does not know `reshape`).
pub fn parse_mdstat(text: &str, compat: Compat) -> Result<Vec<MdStat>, ParseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let err = |kind| ParseError::new("mdstat", i + 1, kind);
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < 3 {
            return Err(err(ParseErrorKind::FieldCount {
                expected: 3,
                found: fields.len(),
            }));
        }
        let name = fields[0];
        let mut state = fields[2].to_owned();
        if lines.len() <= i + 3 {
            return Err(err(ParseErrorKind::Missing("lines for md device")));
        }
        let failed = line.matches("(F)").count() as i64;
        let spare = line.matches("(S)").count() as i64;
        let (active, total, size) = status_line(line, lines[i + 1]).map_err(err)?;
        let mut sync = i + 2;
        if lines[sync].contains("bitmap") {
            sync += 1;
        }
        let sync_line = lines.get(sync).copied().unwrap_or("");
        let mut synced = size;
        let recovering = sync_line.contains("recovery");
        let reshaping = !compat.is_debian12() && sync_line.contains("reshape");
        let resyncing = sync_line.contains("resync");
        let checking = sync_line.contains("check");
        if recovering || resyncing || checking || reshaping {
            state = if recovering {
                "recovering"
            } else if reshaping {
                "reshaping"
            } else if checking {
                "checking"
            } else {
                "resyncing"
            }
            .to_owned();
            if sync_line.contains("PENDING") || sync_line.contains("DELAYED") {
                synced = 0;
            } else {
                synced =
                    recovery_line(sync_line).map_err(|k| ParseError::new("mdstat", sync + 1, k))?;
            }
        }
        out.push(MdStat {
            name: name.to_owned(),
            state,
            disks_active: active,
            disks_failed: failed,
            disks_spare: spare,
            disks_total: total,
            blocks_total: size,
            blocks_synced: synced,
        });
    }
    Ok(out)
}

fn int(s: &str) -> Result<i64, ParseErrorKind> {
    crate::number::int(s)
}

/// `(active, total, size)` from a device line and its status line.
fn status_line(device: &str, status: &str) -> Result<(i64, i64, i64), ParseErrorKind> {
    let size = int(status
        .split_ascii_whitespace()
        .next()
        .ok_or(ParseErrorKind::Missing("status line"))?)?;
    if device.contains("raid0") || device.contains("linear") {
        let total = device.matches('[').count() as i64;
        return Ok((total, total, size));
    }
    if device.contains("inactive") {
        return Ok((0, 0, size));
    }
    let m = STATUS_LINE
        .captures(status)
        .ok_or_else(|| ParseErrorKind::malformed("status line", status))?;
    Ok((int(&m[3])?, int(&m[2])?, size))
}

/// The blocks synced from a sync line; the percentage, finish time and speed must parse too.
fn recovery_line(line: &str) -> Result<i64, ParseErrorKind> {
    let bad = || ParseErrorKind::malformed("recovery line", line);
    let m = RECOVERY_BLOCKS.captures(line).ok_or_else(bad)?;
    let synced = int(&m[1])?;
    int(&m[2])?;
    let float = |r: &Regex, trim: bool| -> Result<f64, ParseErrorKind> {
        let c = r.captures(line).ok_or_else(bad)?;
        let s = if trim { c[1].trim() } else { &c[1] };
        crate::number::float(s)
    };
    float(&RECOVERY_PCT, true)?;
    float(&RECOVERY_FINISH, false)?;
    float(&RECOVERY_SPEED, false)?;
    Ok(synced)
}

/// One array under `/sys/block/md*/md`: its device, `raid_disks` and `degraded`.
#[derive(Debug, Clone, PartialEq)]
pub struct MdRaid {
    /// `md0`.
    pub device: String,
    /// `raid_disks`.
    pub disks: u64,
    /// `degraded` (0 for levels without redundancy).
    pub degraded: u64,
}

/// Reads every `block/md*/md` directory with procfs's rules: the attributes it reads are
/// required.
pub fn mdraids(block: &Path) -> io::Result<Vec<MdRaid>> {
    let mut out = Vec::new();
    for (device, dir) in sysfs::glob(block, "md", false) {
        let md = dir.join("md");
        if !md.exists() {
            continue;
        }
        let a = |f: &str| sysfs::attribute(&md.join(f));
        let level = a("level")?;
        a("array_state")?;
        a("metadata_version")?;
        let disks = sysfs::uint_file(&md.join("raid_disks"))?;
        a("uuid")?;
        for (_, dev) in sysfs::glob(&md, "dev-", false) {
            sysfs::attribute(&dev.join("state"))?;
        }
        if matches!(
            level.as_str(),
            "raid0" | "raid4" | "raid5" | "raid6" | "raid10"
        ) {
            sysfs::uint_file(&md.join("chunk_size"))?;
        }
        let mut degraded = 0;
        if matches!(
            level.as_str(),
            "raid1" | "raid4" | "raid5" | "raid6" | "raid10"
        ) {
            degraded = sysfs::uint_file(&md.join("degraded"))?;
            a("sync_action")?;
            let done = a("sync_completed")?;
            if done != "none" {
                let ok = done.split_once(" / ").is_some_and(|(x, y)| {
                    x.trim().parse::<u64>().is_ok() && y.trim().parse::<u64>().is_ok()
                });
                if !ok {
                    return Err(sysfs::at(
                        &md.join("sync_completed"),
                        sysfs::invalid(format!("unexpected {done:?}")),
                    ));
                }
            }
        }
        out.push(MdRaid {
            device,
            disks,
            degraded,
        });
    }
    Ok(out)
}

/// The `mdadm` collector.
#[derive(Debug)]
pub struct MdadmCollector {
    paths: Paths,
    compat: Compat,
}

impl NodeCollector for MdadmCollector {
    const NAME: &'static str = "mdadm";

    fn from_config(c: &Config) -> MdadmCollector {
        MdadmCollector {
            paths: c.paths.clone(),
            compat: c.compat,
        }
    }
}

const STATE_HELP: &str = "Indicates the state of md-device.";

impl BlockingCollector for MdadmCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let path = self.paths.proc("mdstat");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(file = %path.display(), "Not collecting mdstat, file does not exist");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(sysfs::at(&path, e))),
        };
        let stats = parse_mdstat(&text, self.compat)
            .map_err(|e| CollectError::new(format!("error parsing mdstatus: {e}")))?;
        let g =
            |name: &str, help: &str, labels: &[&str]| family(MetricKind::Gauge, name, help, labels);
        let mut required = g(
            "node_md_disks_required",
            "Total number of disks of device.",
            &["device"],
        );
        let mut disks = g(
            "node_md_disks",
            "Number of active/failed/spare disks of device.",
            &["device", "state"],
        );
        let mut state = g("node_md_state", STATE_HELP, &["device", "state"]);
        let mut blocks = g(
            "node_md_blocks",
            "Total number of blocks on device.",
            &["device"],
        );
        let mut synced = g(
            "node_md_blocks_synced",
            "Number of blocks synced on device.",
            &["device"],
        );
        for md in &stats {
            let d = md.name.as_str();
            push(&mut required, &[d], md.disks_total as f64);
            push(&mut disks, &[d, "active"], md.disks_active as f64);
            push(&mut disks, &[d, "failed"], md.disks_failed as f64);
            push(&mut disks, &[d, "spare"], md.disks_spare as f64);
            for (label, key) in [
                ("active", "active"),
                ("inactive", "inactive"),
                ("recovering", "recovering"),
                ("resync", "resyncing"),
                ("check", "checking"),
            ] {
                push(
                    &mut state,
                    &[d, label],
                    if md.state == key { 1.0 } else { 0.0 },
                );
            }
            push(&mut blocks, &[d], md.blocks_total as f64);
            push(&mut synced, &[d], md.blocks_synced as f64);
        }
        out.extend(
            [required, disks, state, blocks, synced]
                .into_iter()
                .filter(|f| !f.is_empty()),
        );
        if self.compat.is_debian12() {
            return Ok(());
        }
        let raids = match mdraids(&self.paths.sys("block")) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!("Not collecting mdraids, file does not exist");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(format!("error parsing mdraids: {e}"))),
        };
        let mut raid_disks = g(
            "node_md_raid_disks",
            "Number of raid disks on device.",
            &["device"],
        );
        let mut degraded = g(
            "node_md_degraded",
            "Number of degraded disks on device.",
            &["device"],
        );
        for r in &raids {
            push(&mut raid_disks, &[&r.device], r.disks as f64);
            push(&mut degraded, &[&r.device], r.degraded as f64);
        }
        out.extend([raid_disks, degraded].into_iter().filter(|f| !f.is_empty()));
        Ok(())
    }
}
