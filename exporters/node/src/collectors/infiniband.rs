//! `infiniband`: InfiniBand HCAs and their ports from `/sys/class/infiniband`.

use std::fs;
use std::path::Path;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::attr::{self, is_missing};
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::number;
use crate::paths::Paths;

/// A counter: file, metric name, whether the kernel counts it in 4-byte words, HELP.
type Counter = (&'static str, &'static str, bool, &'static str);

/// `counters/`, in node_exporter's emission order.
const COUNTERS: [Counter; 22] = [
    (
        "excessive_buffer_overrun_errors",
        "excessive_buffer_overrun_errors_total",
        false,
        "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error.",
    ),
    (
        "link_downed",
        "link_downed_total",
        false,
        "Number of times the link failed to recover from an error state and went down",
    ),
    (
        "link_error_recovery",
        "link_error_recovery_total",
        false,
        "Number of times the link successfully recovered from an error state",
    ),
    (
        "local_link_integrity_errors",
        "local_link_integrity_errors_total",
        false,
        "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors.",
    ),
    (
        "multicast_rcv_packets",
        "multicast_packets_received_total",
        false,
        "Number of multicast packets received (including errors)",
    ),
    (
        "multicast_xmit_packets",
        "multicast_packets_transmitted_total",
        false,
        "Number of multicast packets transmitted (including errors)",
    ),
    (
        "port_rcv_constraint_errors",
        "port_constraint_errors_received_total",
        false,
        "Number of packets received on the switch physical port that are discarded",
    ),
    (
        "port_xmit_constraint_errors",
        "port_constraint_errors_transmitted_total",
        false,
        "Number of packets not transmitted from the switch physical port",
    ),
    (
        "port_rcv_data",
        "port_data_received_bytes_total",
        true,
        "Number of data octets received on all links",
    ),
    (
        "port_xmit_data",
        "port_data_transmitted_bytes_total",
        true,
        "Number of data octets transmitted on all links",
    ),
    (
        "port_rcv_discards",
        "port_discards_received_total",
        false,
        "Number of inbound packets discarded by the port because the port is down or congested",
    ),
    (
        "port_xmit_discards",
        "port_discards_transmitted_total",
        false,
        "Number of outbound packets discarded by the port because the port is down or congested",
    ),
    (
        "port_rcv_errors",
        "port_errors_received_total",
        false,
        "Number of packets containing an error that were received on this port",
    ),
    (
        "port_rcv_packets",
        "port_packets_received_total",
        false,
        "Number of packets received on all VLs by this port (including errors)",
    ),
    (
        "port_xmit_packets",
        "port_packets_transmitted_total",
        false,
        "Number of packets transmitted on all VLs from this port (including errors)",
    ),
    (
        "port_xmit_wait",
        "port_transmit_wait_total",
        false,
        "Number of ticks during which the port had data to transmit but no data was sent during the entire tick",
    ),
    (
        "unicast_rcv_packets",
        "unicast_packets_received_total",
        false,
        "Number of unicast packets received (including errors)",
    ),
    (
        "unicast_xmit_packets",
        "unicast_packets_transmitted_total",
        false,
        "Number of unicast packets transmitted (including errors)",
    ),
    (
        "port_rcv_remote_physical_errors",
        "port_receive_remote_physical_errors_total",
        false,
        "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port.",
    ),
    (
        "port_rcv_switch_relay_errors",
        "port_receive_switch_relay_errors_total",
        false,
        "Number of packets that could not be forwarded by the switch.",
    ),
    (
        "symbol_error",
        "symbol_error_total",
        false,
        "Number of minor link errors detected on one or more physical lanes.",
    ),
    (
        "VL15_dropped",
        "vl15_dropped_total",
        false,
        "Number of incoming VL15 packets dropped due to resource limitations.",
    ),
];

/// `counters_ext/` (the legacy 64-bit counters).
const COUNTERS_EXT: [Counter; 8] = [
    (
        "port_multicast_rcv_packets",
        "legacy_multicast_packets_received_total",
        false,
        "Number of multicast packets received",
    ),
    (
        "port_multicast_xmit_packets",
        "legacy_multicast_packets_transmitted_total",
        false,
        "Number of multicast packets transmitted",
    ),
    (
        "port_rcv_data_64",
        "legacy_data_received_bytes_total",
        true,
        "Number of data octets received on all links",
    ),
    (
        "port_rcv_packets_64",
        "legacy_packets_received_total",
        false,
        "Number of data packets received on all links",
    ),
    (
        "port_unicast_rcv_packets",
        "legacy_unicast_packets_received_total",
        false,
        "Number of unicast packets received",
    ),
    (
        "port_unicast_xmit_packets",
        "legacy_unicast_packets_transmitted_total",
        false,
        "Number of unicast packets transmitted",
    ),
    (
        "port_xmit_data_64",
        "legacy_data_transmitted_bytes_total",
        true,
        "Number of data octets transmitted on all links",
    ),
    (
        "port_xmit_packets_64",
        "legacy_packets_transmitted_total",
        false,
        "Number of data packets received on all links",
    ),
];

/// `hw_counters/` procfs parses (node_exporter exports none, but one that does not parse
/// fails the read).
const HW_COUNTERS: [&str; 30] = [
    "duplicate_request",
    "implied_nak_seq_err",
    "lifespan",
    "local_ack_timeout_err",
    "np_cnp_sent",
    "np_ecn_marked_roce_packets",
    "out_of_buffer",
    "out_of_sequence",
    "packet_seq_err",
    "req_cqe_error",
    "req_cqe_flush_error",
    "req_remote_access_errors",
    "req_remote_invalid_request",
    "resp_cqe_error",
    "resp_cqe_flush_error",
    "resp_local_length_error",
    "resp_remote_access_errors",
    "rnr_nak_retry_err",
    "roce_adp_retrans",
    "roce_adp_retrans_to",
    "roce_slow_restart",
    "roce_slow_restart_cnps",
    "roce_slow_restart_trans",
    "rp_cnp_handled",
    "rp_cnp_ignored",
    "rx_atomic_requests",
    "rx_dct_connect",
    "rx_icrc_encapsulated",
    "rx_read_requests",
    "rx_write_requests",
];

/// One port.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// The port number.
    pub port: u32,
    /// `state`'s number.
    pub state_id: u32,
    /// `phys_state`'s number.
    pub phys_state_id: u32,
    /// `rate` in bytes per second.
    pub rate: u64,
    /// `counters/` values present, indexed as `COUNTERS` (the collector's table).
    pub counters: Vec<Option<u64>>,
    /// `counters_ext/` values present, indexed as `COUNTERS_EXT` (the collector's table).
    pub counters_ext: Vec<Option<u64>>,
}

/// One HCA.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The device name (`mlx5_0`).
    pub name: String,
    /// `board_id`, empty when absent.
    pub board_id: String,
    /// `fw_ver`.
    pub firmware_version: String,
    /// `hca_type`, empty when absent.
    pub hca_type: String,
    /// The ports, by number.
    pub ports: Vec<Port>,
}

fn parse_err(path: &Path, kind: ParseErrorKind) -> ReadError {
    ReadError::Parse {
        path: path.to_owned(),
        source: ParseError::new("class/infiniband", 1, kind),
    }
}

/// procfs' `parseState`: `4: ACTIVE` is 4.
pub fn parse_state(s: &str) -> Result<u32, ParseErrorKind> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 2 {
        return Err(ParseErrorKind::malformed("ID: NAME", s));
    }
    let id = parts[0].trim();
    id.parse::<u32>().map_err(|_| ParseErrorKind::number(id))
}

/// procfs' `parseRate`: `100 Gb/sec (4X EDR)` in bytes per second (the number read as a
/// 32-bit float, as upstream).
pub fn parse_rate(s: &str) -> Result<u64, ParseErrorKind> {
    let Some(i) = s.find(' ') else {
        return Err(ParseErrorKind::malformed("rate", s));
    };
    let n = s[..=i].trim();
    let v = number::float(n)? as f32;
    Ok((v as f64 * 125_000_000.0) as u64)
}

/// Reads one counter directory: the regular files of `table` as unsigned numbers
/// (`N/A (no PMA)` and unreadable files skipped).
fn read_counters(
    dir: &Path,
    table: &[Counter],
    known: &[&str],
) -> Result<Vec<Option<u64>>, ReadError> {
    let mut out = vec![None; table.len()];
    for name in attr::sorted_names(dir)? {
        let path = dir.join(&name);
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            continue;
        }
        let slot = table.iter().position(|c| c.0 == name);
        if slot.is_none() && !known.contains(&name.as_str()) {
            continue;
        }
        let value = match attr::sys_read(&path) {
            Ok(v) => v,
            Err(ReadError::Io { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::InvalidInput
                        | std::io::ErrorKind::Unsupported
                ) || matches!(source.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        match number::uint_base0(&value) {
            Ok(v) => {
                if let Some(i) = slot {
                    out[i] = Some(if table[i].2 { v.wrapping_mul(4) } else { v });
                }
            }
            Err(_) if value.contains("N/A (no PMA)") => {}
            Err(kind) => return Err(parse_err(&path, kind)),
        }
    }
    Ok(out)
}

fn read_port(dir: &Path, port: &str, legacy: bool) -> Result<Port, ReadError> {
    let number: u32 = port
        .parse()
        .map_err(|_| parse_err(dir, ParseErrorKind::number(port)))?;
    let dir = dir.join(port);
    if !legacy {
        attr::read_trimmed(&dir.join("link_layer"))?;
    }
    let raw = |f: &str| {
        let p = dir.join(f);
        fs::read(&p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|source| ReadError::Io { path: p, source })
    };
    let state_id = parse_state(&raw("state")?).map_err(|k| parse_err(&dir.join("state"), k))?;
    let phys_state_id =
        parse_state(&raw("phys_state")?).map_err(|k| parse_err(&dir.join("phys_state"), k))?;
    let rate = parse_rate(&raw("rate")?).map_err(|k| parse_err(&dir.join("rate"), k))?;
    let (mut counters, mut counters_ext) =
        (vec![None; COUNTERS.len()], vec![None; COUNTERS_EXT.len()]);
    if legacy || dir.join("counters").exists() {
        counters = read_counters(&dir.join("counters"), &COUNTERS, &[])?;
        counters_ext = match read_counters(&dir.join("counters_ext"), &COUNTERS_EXT, &[]) {
            Ok(c) => c,
            Err(e) if is_missing(&e) && !legacy => vec![None; COUNTERS_EXT.len()],
            Err(e) => return Err(e),
        };
    }
    if !legacy && dir.join("hw_counters").exists() {
        read_counters(&dir.join("hw_counters"), &[], &HW_COUNTERS)?;
    }
    Ok(Port {
        port: number,
        state_id,
        phys_state_id,
        rate,
        counters,
        counters_ext,
    })
}

/// procfs' `InfiniBandClass`. `legacy` reads as procfs 0.8 (node_exporter 1.5.0) did:
/// `board_id`, `counters/` and `counters_ext/` required, `link_layer`, `node_guid` and
/// `hw_counters/` not read.
pub fn read_infiniband(paths: &Paths, legacy: bool) -> Result<Vec<Device>, ReadError> {
    let class = paths.sys("class/infiniband");
    let mut devices = Vec::new();
    for name in attr::sorted_names(&class)? {
        let dir = class.join(&name);
        let firmware_version = attr::sys_read(&dir.join("fw_ver"))?;
        let optional = |f: &str| match attr::sys_read(&dir.join(f)) {
            Ok(v) => Ok(v),
            Err(e) if is_missing(&e) && (f == "hca_type" || !legacy) => Ok(String::new()),
            Err(e) => Err(e),
        };
        let board_id = optional("board_id")?;
        let hca_type = optional("hca_type")?;
        if !legacy {
            optional("node_guid")?;
        }
        let ports_dir = dir.join("ports");
        let mut ports = Vec::new();
        for p in attr::sorted_names(&ports_dir)? {
            ports.push(read_port(&ports_dir, &p, legacy)?);
        }
        ports.sort_by_key(|p| p.port);
        ports.dedup_by_key(|p| p.port);
        devices.push(Device {
            name,
            board_id,
            firmware_version,
            hca_type,
            ports,
        });
    }
    Ok(devices)
}

/// The `infiniband` collector.
#[derive(Debug)]
pub struct InfinibandCollector {
    paths: Paths,
    legacy: bool,
}

impl NodeCollector for InfinibandCollector {
    const NAME: &'static str = "infiniband";

    fn from_config(c: &Config) -> InfinibandCollector {
        InfinibandCollector {
            paths: c.paths.clone(),
            legacy: c.compat.is_debian12(),
        }
    }
}

impl BlockingCollector for InfinibandCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let devices = match read_infiniband(&self.paths, self.legacy) {
            Ok(d) => d,
            Err(e) if is_missing(&e) => {
                tracing::debug!("infiniband statistics not found, skipping");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let mut set = FamilySet::new(Naming::Standard).with_namespace("node_infiniband");
        let labels = ["device", "port"];
        for d in &devices {
            set.gauge(
                "info",
                "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
                &["board_id", "device", "firmware_version", "hca_type"],
                &[&d.board_id, &d.name, &d.firmware_version, &d.hca_type],
                1.0,
            );
            for p in &d.ports {
                let port = p.port.to_string();
                let values = [d.name.as_str(), port.as_str()];
                set.gauge("state_id", "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)", &labels, &values, p.state_id as f64);
                set.gauge("physical_state_id", "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)", &labels, &values, p.phys_state_id as f64);
                set.gauge(
                    "rate_bytes_per_second",
                    "Maximum signal transfer rate",
                    &labels,
                    &values,
                    p.rate as f64,
                );
                for (c, v) in COUNTERS_EXT
                    .iter()
                    .zip(&p.counters_ext)
                    .chain(COUNTERS.iter().zip(&p.counters))
                {
                    if let Some(v) = v {
                        set.add(MetricKind::Counter, c.1, c.3, &labels, &values, *v as f64);
                    }
                }
            }
        }
        set.finish(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_rates() {
        assert_eq!(parse_state("4: ACTIVE\n").unwrap(), 4);
        assert!(parse_state("ACTIVE").is_err() && parse_state("x: y").is_err());
        assert_eq!(parse_rate("100 Gb/sec (4X EDR)\n").unwrap(), 12_500_000_000);
        assert_eq!(parse_rate("2.5 Gb/sec (1X SDR)").unwrap(), 312_500_000);
        assert!(parse_rate("fast").is_err());
    }
}
