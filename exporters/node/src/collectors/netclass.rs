//! `netclass`: network interface properties from `/sys/class/net/<iface>/`
//! (`node_network_up`, `node_network_info`, `node_network_speed_bytes`, `node_network_mtu_bytes`,
//! ...), read as procfs' `sysfs.NetClassByIface` reads them: each attribute with one read
//! of at most 128 bytes, white space trimmed, integers in Go's base-0 syntax; attributes the
//! kernel refuses (missing, not permitted, `EINVAL` from `speed` on a link that is down,
//! `EOPNOTSUPP`) are left out.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};
use regex::Regex;

use super::NodeCollector;
use crate::config::Config;
use crate::number;
use crate::paths::Paths;

/// `--collector.netclass.ignored-devices`' default: no device is ignored.
pub const DEFAULT_IGNORED_DEVICES: &str = "^$";

/// The numeric attributes node_exporter exports as `node_network_<name>`, in its order:
/// (file, metric suffix, kind).
const NUMERIC: [(&str, &str, MetricKind); 15] = [
    ("addr_assign_type", "address_assign_type", MetricKind::Gauge),
    ("carrier", "carrier", MetricKind::Gauge),
    (
        "carrier_changes",
        "carrier_changes_total",
        MetricKind::Counter,
    ),
    (
        "carrier_up_count",
        "carrier_up_changes_total",
        MetricKind::Counter,
    ),
    (
        "carrier_down_count",
        "carrier_down_changes_total",
        MetricKind::Counter,
    ),
    ("dev_id", "device_id", MetricKind::Gauge),
    ("dormant", "dormant", MetricKind::Gauge),
    ("flags", "flags", MetricKind::Gauge),
    ("ifindex", "iface_id", MetricKind::Gauge),
    ("iflink", "iface_link", MetricKind::Gauge),
    ("link_mode", "iface_link_mode", MetricKind::Gauge),
    ("mtu", "mtu_bytes", MetricKind::Gauge),
    ("name_assign_type", "name_assign_type", MetricKind::Gauge),
    ("netdev_group", "net_dev_group", MetricKind::Gauge),
    ("speed", "speed_bytes", MetricKind::Gauge),
];
/// After `speed`, as node_exporter sends them.
const TRAILING: [(&str, &str, MetricKind); 2] = [
    ("tx_queue_len", "transmit_queue_length", MetricKind::Gauge),
    ("type", "protocol_type", MetricKind::Gauge),
];
const STRINGS: [&str; 5] = ["address", "broadcast", "duplex", "ifalias", "operstate"];

/// procfs' `PInt64`: Go's `strconv.ParseInt(s, 0, 64)`, and 0 for a value it cannot parse.
pub fn go_int(s: &str) -> i64 {
    number::int_base0(s).unwrap_or(0)
}

/// One interface's attributes, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetClassIface {
    /// The directory name.
    pub name: String,
    /// The string attributes (`STRINGS` order), empty when missing.
    pub strings: [String; 5],
    /// The numeric attributes (`NUMERIC` then `TRAILING` order).
    pub numbers: [Option<i64>; 17],
}

impl NetClassIface {
    fn string(&self, name: &str) -> &str {
        let i = STRINGS
            .iter()
            .position(|s| *s == name)
            .expect("known attribute");
        &self.strings[i]
    }

    fn number(&self, file: &str) -> Option<i64> {
        let i = NUMERIC
            .iter()
            .chain(&TRAILING)
            .position(|(f, _, _)| *f == file)
            .expect("known attribute");
        self.numbers[i]
    }
}

/// Whether a read error leaves the attribute out rather than failing the scrape.
fn ignorable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
    ) || matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP))
}

/// One read of at most 128 bytes, trimmed: procfs' `SysReadFile`. `None` for an ignorable
/// error.
fn sys_read(path: &Path, buf: &mut [u8; 128]) -> io::Result<Option<String>> {
    let read = File::open(path).and_then(|mut f| {
        loop {
            match f.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        }
    });
    match read {
        Ok(n) => Ok(Some(String::from_utf8_lossy(&buf[..n]).trim().to_owned())),
        Err(e) if ignorable(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads `<dir>/<attribute>` for every attribute node_exporter uses.
pub fn read_iface(dir: &Path, name: &str) -> io::Result<NetClassIface> {
    let mut buf = [0u8; 128];
    let mut iface = NetClassIface {
        name: name.to_owned(),
        ..NetClassIface::default()
    };
    for (i, file) in STRINGS.iter().enumerate() {
        if let Some(v) = sys_read(&dir.join(file), &mut buf)? {
            iface.strings[i] = v;
        }
    }
    for (i, (file, _, _)) in NUMERIC.iter().chain(&TRAILING).enumerate() {
        iface.numbers[i] = sys_read(&dir.join(file), &mut buf)?.map(|v| go_int(&v));
    }
    Ok(iface)
}

/// The `netclass` collector.
#[derive(Debug)]
pub struct NetClassCollector {
    paths: Paths,
    compat: Compat,
    ignored: Regex,
    ignore_invalid_speed: bool,
}

impl NodeCollector for NetClassCollector {
    const NAME: &'static str = "netclass";

    fn from_config(c: &Config) -> NetClassCollector {
        NetClassCollector {
            paths: c.paths.clone(),
            compat: c.compat,
            ignored: c.netclass_ignored_devices.clone(),
            ignore_invalid_speed: c.netclass_ignore_invalid_speed,
        }
    }
}

impl NetClassCollector {
    fn interfaces(&self) -> io::Result<Vec<NetClassIface>> {
        let root = self.paths.sys("class/net");
        let mut out = Vec::new();
        for entry in fs::read_dir(&root)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.ignored.is_match(&name) {
                continue;
            }
            out.push(read_iface(&root.join(&name), &name)?);
        }
        Ok(out)
    }
}

/// `up` when bit 0 (`IFF_UP`) of `flags` is set, `unknown` without `flags`.
fn admin_state(flags: Option<i64>) -> &'static str {
    match flags {
        None => "unknown",
        Some(f) if f & 1 == 1 => "up",
        Some(_) => "down",
    }
}

impl BlockingCollector for NetClassCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let ifaces = match self.interfaces() {
            Ok(i) => i,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                tracing::debug!(err = %e, "Could not read netclass file");
                return Err(CollectError::NoData);
            }
            Err(e) => {
                return Err(CollectError::new(format!(
                    "could not get net class info: {e}"
                )));
            }
        };
        let debian = self.compat.is_debian12();
        let mut up = family(
            MetricKind::Gauge,
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
            &["device"],
        );
        // Label names sorted, as client_golang writes them.
        let info_labels: &[&str] = if debian {
            &[
                "address",
                "broadcast",
                "device",
                "duplex",
                "ifalias",
                "operstate",
            ]
        } else {
            &[
                "address",
                "adminstate",
                "broadcast",
                "device",
                "duplex",
                "ifalias",
                "operstate",
            ]
        };
        let mut info = family(
            MetricKind::Gauge,
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            info_labels,
        );
        let mut numeric: Vec<MetricFamily> = NUMERIC
            .iter()
            .chain(&TRAILING)
            .map(|(_, suffix, kind)| {
                family(
                    *kind,
                    &format!("node_network_{suffix}"),
                    &format!("Network device property: {suffix}"),
                    &["device"],
                )
            })
            .collect();
        for i in &ifaces {
            let operstate = i.string("operstate");
            push(
                &mut up,
                &[&i.name],
                if operstate == "up" { 1.0 } else { 0.0 },
            );
            let (address, broadcast, duplex, ifalias) = (
                i.string("address"),
                i.string("broadcast"),
                i.string("duplex"),
                i.string("ifalias"),
            );
            if debian {
                push(
                    &mut info,
                    &[address, broadcast, &i.name, duplex, ifalias, operstate],
                    1.0,
                );
            } else {
                let admin = admin_state(i.number("flags"));
                push(
                    &mut info,
                    &[
                        address, admin, broadcast, &i.name, duplex, ifalias, operstate,
                    ],
                    1.0,
                );
            }
            for (j, (file, _, _)) in NUMERIC.iter().chain(&TRAILING).enumerate() {
                let Some(v) = i.numbers[j] else { continue };
                let v = if *file == "speed" {
                    // Some devices say -1 when the speed is unknown.
                    if v < 0 && self.ignore_invalid_speed {
                        continue;
                    }
                    v.wrapping_mul(1_000_000) / 8
                } else {
                    v
                };
                push(&mut numeric[j], &[&i.name], v as f64);
            }
        }
        out.push(up);
        out.push(info);
        out.extend(numeric.into_iter().filter(|f| !f.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_base_zero_integers() {
        assert_eq!(go_int("1500"), 1500);
        assert_eq!(go_int("0x1003"), 0x1003);
        assert_eq!(go_int("-1"), -1);
        assert_eq!(go_int("010"), 8);
        assert_eq!(go_int("0b11"), 3);
        assert_eq!(go_int("unknown"), 0);
        assert_eq!(go_int(""), 0);
        assert_eq!(go_int("9223372036854775808"), 0);
        assert_eq!(go_int("-9223372036854775808"), i64::MIN);
        assert_eq!(admin_state(Some(0x1003)), "up");
        assert_eq!(admin_state(Some(0x1002)), "down");
        assert_eq!(admin_state(None), "unknown");
    }
}
