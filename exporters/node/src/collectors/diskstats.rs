//! `diskstats`: `node_disk_*` from `/proc/diskstats`, `node_disk_info` and friends from udev's
//! database (`--path.udev.data`) and `/sys/block`.
//!
//! Sectors are 512 bytes and times milliseconds, converted as node_exporter does
//! (`x * 512`, `x * 0.001`). Discard and flush counters appear only when the kernel's line
//! has them (4.18 and 5.5).

use std::collections::HashMap;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use parking_lot::Mutex;

use crate::error::{ParseError, ParseErrorKind};
use crate::filter::DeviceFilter;
use crate::number;
use crate::paths::Paths;
use crate::read::{TextBuf, read_string};
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{family, push};

/// node_exporter 1.5.0's `--collector.diskstats.device-exclude` default.
pub const DEFAULT_EXCLUDE_1_5: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// Current upstream's default (zram too).
pub const DEFAULT_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// The default exclude pattern of a profile.
pub fn default_exclude(compat: Compat) -> &'static str {
    if compat.is_debian12() {
        DEFAULT_EXCLUDE_1_5
    } else {
        DEFAULT_EXCLUDE
    }
}

/// One `/proc/diskstats` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStats {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Kernel device name (`sda`, `dm-0`).
    pub device: String,
    /// The statistics present (11, 15 or 17 of them), in the kernel's order.
    pub stats: Vec<u64>,
}

/// Parses `/proc/diskstats`. Lines with fewer than 14 fields are skipped (as procfs does);
/// any field that should be a number and is not is an error.
pub fn parse_diskstats(text: &str) -> Result<Vec<DiskStats>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("diskstats", i + 1, kind);
        let fields: Vec<&str> = line.split_ascii_whitespace().take(20).collect();
        if fields.is_empty() {
            continue;
        }
        let num32 = |s: &str| s.parse::<u32>().map_err(|_| err(ParseErrorKind::number(s)));
        let major = num32(fields[0])?;
        let minor = fields.get(1).map(|s| num32(s)).transpose()?;
        let mut stats = Vec::with_capacity(17);
        for s in fields.iter().skip(3) {
            stats.push(number::uint(s).map_err(err)?);
        }
        if fields.len() < 14 {
            continue;
        }
        out.push(DiskStats {
            major,
            minor: minor.unwrap_or(0),
            device: fields[2].to_owned(),
            stats,
        });
    }
    Ok(out)
}

/// The `E:KEY=value` properties of a udev database entry.
pub fn parse_udev(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .collect()
}

const SECTOR: f64 = 512.0;
const SECONDS_PER_TICK: f64 = 1.0 / 1000.0;

/// `(name, HELP, type, conversion)` of the statistics, in the kernel's order.
const STATS: [(&str, &str, MetricKind, f64); 17] = [
    (
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        MetricKind::Counter,
        1.0,
    ),
    (
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        MetricKind::Counter,
        1.0,
    ),
    (
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        MetricKind::Counter,
        SECTOR,
    ),
    (
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        MetricKind::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        MetricKind::Counter,
        1.0,
    ),
    (
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        MetricKind::Counter,
        1.0,
    ),
    (
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        MetricKind::Counter,
        SECTOR,
    ),
    (
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        MetricKind::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_io_now",
        "The number of I/Os currently in progress.",
        MetricKind::Gauge,
        1.0,
    ),
    (
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        MetricKind::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        MetricKind::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        MetricKind::Counter,
        1.0,
    ),
    (
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        MetricKind::Counter,
        1.0,
    ),
    (
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        MetricKind::Counter,
        1.0,
    ),
    (
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        MetricKind::Counter,
        SECONDS_PER_TICK,
    ),
    (
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        MetricKind::Counter,
        1.0,
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        MetricKind::Counter,
        SECONDS_PER_TICK,
    ),
];

/// The `diskstats` collector.
#[derive(Debug)]
pub struct DiskstatsCollector {
    paths: Paths,
    compat: Compat,
    filter: DeviceFilter,
    udev: bool,
    /// `queue/rotational` per device (fixed for a device's life).
    rotational: Mutex<HashMap<String, String>>,
    buf: TextBuf,
    udev_buf: Mutex<String>,
}

impl DiskstatsCollector {
    /// A collector reading under `paths`, reporting the devices `filter` lets through.
    pub fn new(paths: Paths, compat: Compat, filter: DeviceFilter) -> DiskstatsCollector {
        let udev = paths.udev("").is_dir();
        if !udev {
            tracing::error!(path = %paths.udev("").display(), "Failed to open directory, disabling udev device properties");
        }
        DiskstatsCollector {
            paths,
            compat,
            filter,
            udev,
            rotational: Mutex::new(HashMap::new()),
            buf: TextBuf::default(),
            udev_buf: Mutex::new(String::new()),
        }
    }

    fn rotational(&self, dev: &str) -> String {
        self.rotational
            .lock()
            .entry(dev.to_owned())
            .or_insert_with(|| {
                read_string(&self.paths.sys(&format!("block/{dev}/queue/rotational")))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map_or_else(|| "0".to_owned(), |v| format!("{v:b}"))
            })
            .clone()
    }
}

/// Families of one scrape, filled device by device.
struct Families {
    stats: Vec<MetricFamily>,
    info: MetricFamily,
    fs_info: MetricFamily,
    dm_info: MetricFamily,
    ata: [MetricFamily; 3],
}

const ATA: [(&str, &str, &str); 3] = [
    (
        "ID_ATA_WRITE_CACHE",
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
    ),
    (
        "ID_ATA_WRITE_CACHE_ENABLED",
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
    ),
    (
        "ID_ATA_ROTATION_RATE_RPM",
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
    ),
];

impl Families {
    fn new(upstream: bool) -> Families {
        let info_labels: &[&str] = if upstream {
            &[
                "device",
                "major",
                "minor",
                "model",
                "path",
                "revision",
                "rotational",
                "serial",
                "wwn",
            ]
        } else {
            &[
                "device", "major", "minor", "model", "path", "revision", "serial", "wwn",
            ]
        };
        Families {
            stats: STATS
                .iter()
                .map(|(n, h, k, _)| family(*k, n, h, &["device"]))
                .collect(),
            info: family(
                MetricKind::Gauge,
                "node_disk_info",
                "Info of /sys/block/<block_device>.",
                info_labels,
            ),
            fs_info: family(
                MetricKind::Gauge,
                "node_disk_filesystem_info",
                "Info about disk filesystem.",
                &["device", "type", "usage", "uuid", "version"],
            ),
            dm_info: family(
                MetricKind::Gauge,
                "node_disk_device_mapper_info",
                "Info about disk device mapper.",
                &["device", "lv_layer", "lv_name", "name", "uuid", "vg_name"],
            ),
            ata: ATA.map(|(_, n, h)| family(MetricKind::Gauge, n, h, &["device"])),
        }
    }
}

impl NodeCollector for DiskstatsCollector {
    const NAME: &'static str = "diskstats";

    fn from_config(c: &Config) -> DiskstatsCollector {
        DiskstatsCollector::new(c.paths.clone(), c.compat, c.diskstats_filter.clone())
    }
}

impl BlockingCollector for DiskstatsCollector {
    fn collect(
        &self,
        ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        let mut disks = self
            .buf
            .with(&self.paths.proc("diskstats"), parse_diskstats)
            .map_err(CollectError::new)?;
        // In label order, so the core need not sort the series.
        disks.sort_by(|a, b| a.device.cmp(&b.device));
        let upstream = !self.compat.is_debian12();
        let mut f = Families::new(upstream);
        let mut udev_text = self.udev_buf.lock();
        for d in &disks {
            if self.filter.ignored(&d.device) || ctx.is_cancelled() {
                continue;
            }
            udev_text.clear();
            if self.udev {
                let path = self.paths.udev(&format!("b{}:{}", d.major, d.minor));
                if let Err(e) = crate::read::read_into(&path, &mut udev_text) {
                    tracing::debug!(err = %e, "Failed to parse udev info");
                    udev_text.clear();
                }
            }
            let info = parse_udev(&udev_text);
            let get = |k: &str| info.get(k).copied().unwrap_or("");
            let mut serial = get("SCSI_IDENT_SERIAL");
            if serial.is_empty() {
                serial = get("ID_SERIAL_SHORT");
            }
            if serial.is_empty() && upstream {
                serial = get("ID_SERIAL");
            }
            let (major, minor) = (d.major.to_string(), d.minor.to_string());
            let dev = d.device.as_str();
            if upstream {
                let rot = self.rotational(dev);
                push(
                    &mut f.info,
                    &[
                        dev,
                        &major,
                        &minor,
                        get("ID_MODEL"),
                        get("ID_PATH"),
                        get("ID_REVISION"),
                        &rot,
                        serial,
                        get("ID_WWN"),
                    ],
                    1.0,
                );
            } else {
                push(
                    &mut f.info,
                    &[
                        dev,
                        &major,
                        &minor,
                        get("ID_MODEL"),
                        get("ID_PATH"),
                        get("ID_REVISION"),
                        serial,
                        get("ID_WWN"),
                    ],
                    1.0,
                );
            }
            for ((fam, (_, _, _, scale)), v) in f.stats.iter_mut().zip(STATS).zip(&d.stats) {
                push(fam, &[dev], *v as f64 * scale);
            }
            if !get("ID_FS_TYPE").is_empty() {
                push(
                    &mut f.fs_info,
                    &[
                        dev,
                        get("ID_FS_TYPE"),
                        get("ID_FS_USAGE"),
                        get("ID_FS_UUID"),
                        get("ID_FS_VERSION"),
                    ],
                    1.0,
                );
            }
            if !get("DM_NAME").is_empty() {
                push(
                    &mut f.dm_info,
                    &[
                        dev,
                        get("DM_LV_LAYER"),
                        get("DM_LV_NAME"),
                        get("DM_NAME"),
                        get("DM_UUID"),
                        get("DM_VG_NAME"),
                    ],
                    1.0,
                );
            }
            if !get("ID_ATA").is_empty() {
                for (fam, (key, _, _)) in f.ata.iter_mut().zip(ATA) {
                    if let Some(v) = info.get(key) {
                        match number::float(v) {
                            Ok(v) => push(fam, &[dev], v),
                            Err(e) => tracing::error!(err = %e, "Failed to parse ATA value"),
                        }
                    }
                }
            }
        }
        out.extend(f.stats);
        out.push(f.info);
        out.push(f.fs_info);
        out.push(f.dm_info);
        out.extend(f.ata);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_counts() {
        let d = parse_diskstats(
            " 254       0 vda 500478 21305 27661122 1028649 64961 71644 35052568 194973 3 69204 1231625 26633 66 16161688 7499 6602 503\n   7 0 loop0 1 2 3 4 5 6 7 8 9 10 11\n   1 0 short 1 2 3\n",
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].device, "vda");
        assert_eq!(d[0].stats.len(), 17);
        assert_eq!(d[1].stats.len(), 11);
        assert!(parse_diskstats("8 0 sda 1 2 3 4 5 6 7 8 9 x 11\n").is_err());
        assert!(parse_diskstats("x 0 sda 1 2 3 4 5 6 7 8 9 10 11\n").is_err());
    }

    #[test]
    fn udev_properties() {
        let u = parse_udev("S:disk/by-id/x\nE:ID_MODEL=QEMU\nE:ID_FS_TYPE=ext4\nE:BAD\n");
        assert_eq!(u.get("ID_MODEL"), Some(&"QEMU"));
        assert_eq!(u.len(), 2);
    }

    #[test]
    fn default_patterns() {
        let f = DeviceFilter::new(Some(DEFAULT_EXCLUDE_1_5), None).unwrap();
        assert!(
            f.ignored("sda1") && f.ignored("loop0") && !f.ignored("sda") && !f.ignored("zram0")
        );
        let f = DeviceFilter::new(Some(DEFAULT_EXCLUDE), None).unwrap();
        assert!(f.ignored("zram0") && f.ignored("nvme0n1p1") && !f.ignored("nvme0n1"));
    }
}
