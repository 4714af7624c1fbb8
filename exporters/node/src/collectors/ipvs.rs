//! `ipvs`: IP Virtual Server totals from `/proc/net/ip_vs_stats` and per-backend connections
//! and weights from `/proc/net/ip_vs`, summed over the labels
//! `--collector.ipvs.backend-labels` keeps.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push, scalar};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};
use clap::Args;

use super::NodeCollector;
use crate::attr::is_missing;
use crate::config::Config;
use crate::error::{ConfigError, ParseError, ParseErrorKind};
use crate::paths::Paths;
use crate::read::TextBuf;

/// Every backend label, in node_exporter's order.
pub const BACKEND_LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];

/// The `ipvs` collector's flags.
#[derive(Debug, Clone, Args)]
pub struct IpvsArgs {
    /// Comma separated list for IPVS backend stats labels.
    #[arg(
        long = "collector.ipvs.backend-labels",
        default_value = "local_address,local_port,remote_address,remote_port,proto,local_mark",
        value_name = "LABELS"
    )]
    pub backend_labels: String,
}

/// Parses `--collector.ipvs.backend-labels`: the known labels named, in node_exporter's
/// order; an unknown one is an error.
pub fn parse_backend_labels(s: &str) -> Result<Vec<&'static str>, ConfigError> {
    let given: Vec<&str> = s.split(',').filter(|l| !l.is_empty()).collect();
    let mut unknown: Vec<&str> = given
        .iter()
        .copied()
        .filter(|l| !BACKEND_LABELS.contains(l))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        return Err(ConfigError::Invalid {
            flag: "collector.ipvs.backend-labels",
            reason: format!("unknown IPVS backend labels: {:?}", unknown.join(", ")),
        });
    }
    Ok(BACKEND_LABELS
        .iter()
        .copied()
        .filter(|l| given.contains(l))
        .collect())
}

/// `/proc/net/ip_vs_stats`' totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpvsStats {
    /// Connections, incoming packets, outgoing packets, incoming bytes, outgoing bytes.
    pub totals: [u64; 5],
}

/// Parses `/proc/net/ip_vs_stats`: the third line's five hexadecimal totals.
pub fn parse_ipvs_stats(text: &str) -> Result<IpvsStats, ParseError> {
    let err = |kind| ParseError::new("net/ip_vs_stats", 3, kind);
    let lines: Vec<&str> = text.splitn(4, '\n').collect();
    if lines.len() != 4 {
        return Err(err(ParseErrorKind::malformed("ip_vs_stats", "too short")));
    }
    let fields: Vec<&str> = lines[2].split_ascii_whitespace().collect();
    if fields.len() != 5 {
        return Err(err(ParseErrorKind::FieldCount {
            expected: 5,
            found: fields.len(),
        }));
    }
    let mut totals = [0u64; 5];
    for (t, f) in totals.iter_mut().zip(&fields) {
        *t = hex_u64(f).ok_or_else(|| err(ParseErrorKind::number(f)))?;
    }
    Ok(IpvsStats { totals })
}

fn hex_u64(s: &str) -> Option<u64> {
    if s.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// One `->` line with its service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The service address (empty for a firewall-mark service).
    pub local_address: String,
    /// The service port.
    pub local_port: u16,
    /// The firewall mark (empty for TCP and UDP services).
    pub local_mark: String,
    /// The real server address.
    pub remote_address: String,
    /// The real server port.
    pub remote_port: u16,
    /// `TCP`, `UDP` or `FWM`.
    pub proto: String,
    /// Weight, active and inactive connections.
    pub weight: u64,
    /// Active connections.
    pub active: u64,
    /// Inactive connections.
    pub inactive: u64,
}

/// Go's `net.IP.String()`: IPv4-mapped addresses in dotted form.
fn ip_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// procfs' `parseIPPort`: `0A000001:0050` or `[2620:0000:...:0001]:0050`.
fn parse_ip_port(s: &str) -> Result<(String, u16), ParseErrorKind> {
    let bad = || ParseErrorKind::malformed("IP:Port", s);
    let ip = match s.len() {
        13 => {
            let hex = s.get(0..8).ok_or_else(bad)?;
            let n = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
            if hex.starts_with(['+', '-']) {
                return Err(bad());
            }
            IpAddr::V4(Ipv4Addr::from(n))
        }
        46 => IpAddr::V6(
            s.get(1..40)
                .and_then(|a| a.parse::<Ipv6Addr>().ok())
                .ok_or_else(bad)?,
        ),
        _ => return Err(bad()),
    };
    let port = s.get(s.len() - 4..).ok_or_else(bad)?;
    if port.starts_with(['+', '-']) {
        return Err(bad());
    }
    let port = u16::from_str_radix(port, 16).map_err(|_| bad())?;
    Ok((ip_string(ip), port))
}

/// Parses `/proc/net/ip_vs` as procfs does.
pub fn parse_ipvs_backends(text: &str) -> Result<Vec<Backend>, ParseError> {
    let mut out = Vec::new();
    let (mut proto, mut mark, mut addr, mut port) =
        (String::new(), String::new(), String::new(), 0u16);
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("net/ip_vs", i + 1, kind);
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(&first) = f.first() else { continue };
        if first == "IP" || first == "Prot" {
            continue;
        }
        let Some(&second) = f.get(1) else {
            // node_exporter indexes the second field here and panics; refuse the file.
            return Err(err(ParseErrorKind::FieldCount {
                expected: 2,
                found: 1,
            }));
        };
        match first {
            _ if second == "RemoteAddress:Port" => {}
            "TCP" | "UDP" => {
                proto = first.to_owned();
                mark.clear();
                (addr, port) = parse_ip_port(second).map_err(err)?;
            }
            "FWM" => {
                proto = first.to_owned();
                mark = second.to_owned();
                addr.clear();
                port = 0;
            }
            "->" if f.len() >= 6 => {
                let (remote_address, remote_port) = parse_ip_port(second).map_err(err)?;
                let num = |s: &str| crate::number::uint(s).map_err(err);
                out.push(Backend {
                    local_address: addr.clone(),
                    local_port: port,
                    local_mark: mark.clone(),
                    remote_address,
                    remote_port,
                    proto: proto.clone(),
                    weight: num(f[3])?,
                    active: num(f[4])?,
                    inactive: num(f[5])?,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The `ipvs` collector.
#[derive(Debug)]
pub struct IpvsCollector {
    paths: Paths,
    labels: Vec<&'static str>,
    buf: TextBuf,
}

impl NodeCollector for IpvsCollector {
    const NAME: &'static str = "ipvs";

    fn from_config(c: &Config) -> IpvsCollector {
        IpvsCollector {
            paths: c.paths.clone(),
            labels: c.ipvs_backend_labels.clone(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for IpvsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let stats = match self
            .buf
            .with(&self.paths.proc("net/ip_vs_stats"), parse_ipvs_stats)
        {
            Ok(s) => s,
            Err(e) if is_missing(&e) => {
                tracing::debug!("ipvs collector metrics are not available for this system");
                return Err(CollectError::NoData);
            }
            Err(e) => return Err(CollectError::new(e)),
        };
        let backends = self
            .buf
            .with(&self.paths.proc("net/ip_vs"), parse_ipvs_backends)
            .map_err(CollectError::new)?;
        const TOTALS: [(&str, &str); 5] = [
            (
                "node_ipvs_connections_total",
                "The total number of connections made.",
            ),
            (
                "node_ipvs_incoming_packets_total",
                "The total number of incoming packets.",
            ),
            (
                "node_ipvs_outgoing_packets_total",
                "The total number of outgoing packets.",
            ),
            (
                "node_ipvs_incoming_bytes_total",
                "The total amount of incoming data.",
            ),
            (
                "node_ipvs_outgoing_bytes_total",
                "The total amount of outgoing data.",
            ),
        ];
        for ((name, help), v) in TOTALS.iter().zip(stats.totals) {
            out.push(scalar(MetricKind::Counter, name, help, v as f64));
        }
        // client_golang writes label pairs sorted by name.
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.sort_by_key(|&i| self.labels[i]);
        let sorted: Vec<&str> = order.iter().map(|&i| self.labels[i]).collect();
        let mut sums: BTreeMap<String, (Vec<String>, [u64; 3])> = BTreeMap::new();
        for b in &backends {
            let kv: Vec<String> = self
                .labels
                .iter()
                .map(|l| match *l {
                    "local_address" => b.local_address.clone(),
                    "local_port" => b.local_port.to_string(),
                    "remote_address" => b.remote_address.clone(),
                    "remote_port" => b.remote_port.to_string(),
                    "proto" => b.proto.clone(),
                    _ => b.local_mark.clone(),
                })
                .collect();
            let entry = sums
                .entry(kv.join("-"))
                .or_insert_with(|| (Vec::new(), [0; 3]));
            entry.1[0] = entry.1[0].wrapping_add(b.active);
            entry.1[1] = entry.1[1].wrapping_add(b.inactive);
            entry.1[2] = entry.1[2].wrapping_add(b.weight);
            entry.0 = kv;
        }
        let mut families = [
            family(
                MetricKind::Gauge,
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
                &sorted,
            ),
            family(
                MetricKind::Gauge,
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
                &sorted,
            ),
            family(
                MetricKind::Gauge,
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
                &sorted,
            ),
        ];
        for (kv, values) in sums.values() {
            let kv: Vec<&str> = order.iter().map(|&i| kv[i].as_str()).collect();
            for (f, v) in families.iter_mut().zip(values) {
                push(f, &kv, *v as f64);
            }
        }
        out.extend(families.into_iter().filter(|f| !f.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_addresses_and_stats() {
        assert_eq!(
            parse_backend_labels("proto,local_address").unwrap(),
            ["local_address", "proto"]
        );
        assert!(parse_backend_labels("proto,nope").is_err());
        assert_eq!(
            parse_ip_port("0A000001:0050").unwrap(),
            ("10.0.0.1".to_owned(), 80)
        );
        assert_eq!(
            parse_ip_port("[2620:0000:0000:0000:0000:0000:0000:0001]:0050").unwrap(),
            ("2620::1".to_owned(), 80)
        );
        assert!(parse_ip_port("0A00000:0050").is_err());
        let s = parse_ipvs_stats("   Total Incoming Outgoing         Incoming         Outgoing\n   Conns  Packets  Packets            Bytes            Bytes\n 23B5AAE  3BA2A45        0       1A4F9F46FE        0\n\n").unwrap();
        assert_eq!(s.totals[0], 0x23B5AAE);
        assert!(parse_ipvs_stats("x\ny\n").is_err());
    }
}
