//! `netstat`: `node_netstat_<Protocol>_<Field>` (untyped) from `/proc/net/netstat`,
//! `/proc/net/snmp` and `/proc/net/snmp6`, for the fields matching
//! `--collector.netstat.fields`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use regex::Regex;

use crate::filter::NameFilter;

use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{dynamic_family, push};

/// node_exporter 1.5.0's `--collector.netstat.fields` default.
pub const DEFAULT_FIELDS_1_5: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// Current upstream's default (adds `TCPOFOQueue` and `TCPRcvQDrop`).
pub const DEFAULT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// The default fields pattern of a profile.
pub fn default_fields(compat: Compat) -> &'static str {
    if compat.is_debian12() {
        DEFAULT_FIELDS_1_5
    } else {
        DEFAULT_FIELDS
    }
}

/// One protocol's statistics: `(protocol, [(field, value)])`.
pub type ProtocolStats<'a> = (&'a str, Vec<(&'a str, f64)>);

/// Parses `/proc/net/netstat` or `/proc/net/snmp`: pairs of lines, field names then values,
/// each starting with `Protocol:`. Every value must be a number.
pub fn parse_netstat(text: &str) -> Result<Vec<ProtocolStats<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, names)) = lines.next() {
        let err = |kind| ParseError::new("net/netstat", i + 1, kind);
        let values = lines.next().map_or("", |(_, v)| v);
        let names: Vec<&str> = names.split(' ').collect();
        let values: Vec<&str> = values.split(' ').collect();
        if names.len() != values.len() {
            return Err(err(ParseErrorKind::FieldCount {
                expected: names.len(),
                found: values.len(),
            }));
        }
        let protocol = names[0]
            .strip_suffix(':')
            .ok_or_else(|| err(ParseErrorKind::malformed("expected `Protocol:`", names[0])))?;
        let mut stats = Vec::with_capacity(names.len() - 1);
        for (name, value) in names[1..].iter().zip(&values[1..]) {
            stats.push((*name, number::float(value).map_err(err)?));
        }
        match out.iter_mut().find(|(p, _)| *p == protocol) {
            Some(existing) => existing.1 = stats,
            None => out.push((protocol, stats)),
        }
    }
    Ok(out)
}

/// Parses `/proc/net/snmp6` (`Ip6InReceives  123` lines): the protocol is the name up to its
/// first `6`. Lines without a `6` or a value are skipped; values must be numbers.
pub fn parse_snmp6(text: &str) -> Result<Vec<ProtocolStats<'_>>, ParseError> {
    let mut out: Vec<ProtocolStats<'_>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(six) = key.find('6') else { continue };
        let (protocol, name) = key.split_at(six + 1);
        let value = number::float(value).map_err(|k| ParseError::new("net/snmp6", i + 1, k))?;
        match out.iter_mut().find(|(p, _)| *p == protocol) {
            Some((_, stats)) => stats.push((name, value)),
            None => out.push((protocol, vec![(name, value)])),
        }
    }
    Ok(out)
}

/// Reads the files into `bufs` and calls `f` with every `Protocol_Field` and value.
fn collect_stats<T>(
    paths: &Paths,
    bufs: &mut [String; 3],
    read: &mut dyn FnMut(&std::path::Path, &mut String) -> Result<(), ReadError>,
    mut f: impl FnMut(&str, f64) -> Option<T>,
) -> Result<Vec<T>, ReadError> {
    let [netstat, snmp, snmp6] = bufs;
    let netstat_path = paths.proc("net/netstat");
    read(&netstat_path, netstat)?;
    let snmp_path = paths.proc("net/snmp");
    read(&snmp_path, snmp)?;
    let snmp6_path = paths.proc("net/snmp6");
    let have6 = match read(&snmp6_path, snmp6) {
        Ok(()) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e),
    };
    let parse_err = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| ReadError::Parse { path, source }
    };
    let mut merged = parse_netstat(netstat).map_err(parse_err(&netstat_path))?;
    let mut extra = parse_netstat(snmp).map_err(parse_err(&snmp_path))?;
    if have6 {
        extra.extend(parse_snmp6(snmp6).map_err(parse_err(&snmp6_path))?);
    }
    for (protocol, stats) in extra {
        match merged.iter_mut().find(|(p, _)| *p == protocol) {
            Some(existing) => existing.1 = stats,
            None => merged.push((protocol, stats)),
        }
    }
    let mut key = String::with_capacity(64);
    let mut out = Vec::new();
    for (protocol, stats) in &merged {
        for (name, value) in stats {
            key.clear();
            key.push_str(protocol);
            key.push('_');
            key.push_str(name);
            out.extend(f(&key, *value));
        }
    }
    Ok(out)
}

/// The `netstat` collector.
#[derive(Debug)]
pub struct NetstatCollector {
    paths: Paths,
    fields: NameFilter,
    bufs: parking_lot::Mutex<[String; 3]>,
    files: TextBuf,
}

impl NetstatCollector {
    /// A collector reading under `paths`, exporting the `Protocol_Field`s `fields` matches.
    pub fn new(paths: Paths, fields: Regex) -> NetstatCollector {
        NetstatCollector {
            paths,
            fields: NameFilter::new(fields),
            bufs: parking_lot::Mutex::new(Default::default()),
            files: TextBuf::default(),
        }
    }
}

impl NodeCollector for NetstatCollector {
    const NAME: &'static str = "netstat";

    fn from_config(c: &Config) -> NetstatCollector {
        NetstatCollector::new(c.paths.clone(), c.netstat_fields.clone())
    }
}

impl BlockingCollector for NetstatCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut bufs = self.bufs.lock();
        let mut read = |path: &std::path::Path, out: &mut String| self.files.read_to(path, out);
        let families = collect_stats(&self.paths, &mut bufs, &mut read, |key, value| {
            if !self.fields.is_match(key) {
                return None;
            }
            let name = format!("node_netstat_{key}");
            let help = format!("Statistic {}.", key.replacen('_', "", 1));
            let mut f = dynamic_family(MetricKind::Unknown, &name, &help, &[])?;
            push(&mut f, &[], value);
            Some(f)
        })
        .map_err(CollectError::new)?;
        out.extend(families);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_pairs() {
        let s = parse_netstat(
            "TcpExt: SyncookiesSent ListenDrops\nTcpExt: 1 2\nIpExt: InOctets\nIpExt: 5\n",
        )
        .unwrap();
        assert_eq!(
            s[0],
            (
                "TcpExt",
                vec![("SyncookiesSent", 1.0), ("ListenDrops", 2.0)]
            )
        );
        assert_eq!(s[1], ("IpExt", vec![("InOctets", 5.0)]));
        assert!(parse_netstat("TcpExt: A B\nTcpExt: 1\n").is_err());
        assert!(parse_netstat("TcpExt: A\nTcpExt: x\n").is_err());
        assert!(parse_netstat("TcpExt: A\n").is_err());
        assert!(parse_netstat("Tcp A\nTcp 1\n").is_err());
    }

    #[test]
    fn snmp6_protocols() {
        let s = parse_snmp6("Ip6InReceives 10\nIcmp6InMsgs  3\nUdpLite6InErrors 0\nnoseven 1\n")
            .unwrap();
        assert_eq!(s[0], ("Ip6", vec![("InReceives", 10.0)]));
        assert_eq!(s[1], ("Icmp6", vec![("InMsgs", 3.0)]));
        assert_eq!(s[2], ("UdpLite6", vec![("InErrors", 0.0)]));
        assert!(parse_snmp6("Ip6InReceives x\n").is_err());
    }
}
