//! `nfs`: NFS client statistics from `/proc/net/rpc/nfs` (`node_nfs_*`). The line parsers
//! are shared with `nfsd`.

use std::io;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push, scalar};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::paths::Paths;
use crate::sysfs;

/// NFSv2 procedures, in `proc2` order (after the count), as procfs names them.
pub const V2: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures, in `proc3` order.
pub const V3: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// NFSv4 client operations, in procfs's struct order; values 45 and 46 are `LayoutGet` and
/// `GetDeviceInfo` in node_exporter 1.5.0's procfs and the other way round since.
pub const CLIENT_V4: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// The numbers of a `<label> <n> <n> ...` line (decimal, 64-bit).
pub(crate) fn numbers(fields: &[&str]) -> io::Result<Vec<u64>> {
    fields
        .iter()
        .map(|f| {
            crate::number::uint(f)
                .map_err(|e| sysfs::invalid(format!("error parsing NFS metric line: {e}")))
        })
        .collect()
}

fn bad(what: &str, v: &[u64]) -> io::Error {
    sysfs::invalid(format!(
        "errors parsing NFS metric line: invalid {what} line {v:?}"
    ))
}

/// Exactly `n` values.
pub(crate) fn exact<'a>(what: &str, v: &'a [u64], n: usize) -> io::Result<&'a [u64]> {
    if v.len() == n {
        Ok(v)
    } else {
        Err(bad(what, v))
    }
}

/// A `procN` line: a count, then that many values, at least `min` (`None`: exactly `min`).
pub(crate) fn counted<'a>(
    what: &str,
    v: &'a [u64],
    min: usize,
    exact: bool,
) -> io::Result<&'a [u64]> {
    let n = v[0];
    let ok = v.len() as u64 - 1 == n
        && if exact {
            n == min as u64
        } else {
            n >= min as u64
        };
    if ok { Ok(&v[1..]) } else { Err(bad(what, v)) }
}

/// `/proc/net/rpc/nfs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientStats {
    /// `net`: packets, UDP, TCP, TCP connections.
    pub net: [u64; 4],
    /// `rpc`: calls, retransmissions, authentication refreshes.
    pub rpc: [u64; 3],
    /// `proc2` values in [`V2`] order.
    pub v2: [u64; 18],
    /// `proc3` values in [`V3`] order.
    pub v3: [u64; 22],
    /// `proc4` values in [`CLIENT_V4`] order.
    pub v4: Vec<u64>,
}

/// Parses `/proc/net/rpc/nfs` with procfs's rules: every line must be known, numeric and of
/// the right length.
pub fn parse_client(text: &str, compat: Compat) -> io::Result<ClientStats> {
    let mut s = ClientStats {
        v4: vec![0; 59],
        ..ClientStats::default()
    };
    for line in text.lines() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.len() < 2 {
            return Err(sysfs::invalid(format!("invalid NFS metric line {line:?}")));
        }
        let v = numbers(&parts[1..])?;
        match parts[0] {
            "net" => s.net.copy_from_slice(exact("Network", &v, 4)?),
            "rpc" => s.rpc.copy_from_slice(exact("RPC", &v, 3)?),
            "proc2" => {
                s.v2.copy_from_slice(&counted("V2Stats", &v, 18, false)?[..18])
            }
            "proc3" => {
                s.v3.copy_from_slice(&counted("V3Stats", &v, 22, false)?[..22])
            }
            "proc4" => {
                let ops = counted("ClientV4Stats", &v, 0, false)?;
                s.v4 = vec![0; 59];
                // Older kernels write fewer operations: the rest read as zero.
                let n = ops.len().min(59);
                s.v4[..n].copy_from_slice(&ops[..n]);
                if !compat.is_debian12() {
                    s.v4.swap(44, 45);
                }
            }
            other => {
                return Err(sysfs::invalid(format!("unknown NFS metric line {other:?}")));
            }
        }
    }
    Ok(s)
}

/// The `nfs` collector.
#[derive(Debug)]
pub struct NfsCollector {
    paths: Paths,
    compat: Compat,
}

impl NodeCollector for NfsCollector {
    const NAME: &'static str = "nfs";

    fn from_config(c: &Config) -> NfsCollector {
        NfsCollector {
            paths: c.paths.clone(),
            compat: c.compat,
        }
    }
}

/// Reads a `/proc/net/rpc` file: `Ok(None)` when the kernel has no such service.
pub(crate) fn read_rpc(path: &std::path::Path) -> Result<Option<String>, CollectError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::new(sysfs::at(path, e))),
    }
}

impl BlockingCollector for NfsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let Some(text) = read_rpc(&self.paths.proc("net/rpc/nfs"))? else {
            tracing::debug!("Not collecting NFS metrics");
            return Err(CollectError::NoData);
        };
        let s = parse_client(&text, self.compat)
            .map_err(|e| CollectError::new(format!("failed to retrieve nfs stats: {e}")))?;
        let counter = MetricKind::Counter;
        let mut packets = family(
            counter,
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            &["protocol"],
        );
        push(&mut packets, &["udp"], s.net[1] as f64);
        push(&mut packets, &["tcp"], s.net[2] as f64);
        out.push(packets);
        out.push(scalar(
            counter,
            "node_nfs_connections_total",
            "Total number of NFSd TCP connections.",
            s.net[3] as f64,
        ));
        out.push(scalar(
            counter,
            "node_nfs_rpcs_total",
            "Total number of RPCs performed.",
            s.rpc[0] as f64,
        ));
        out.push(scalar(
            counter,
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
            s.rpc[1] as f64,
        ));
        out.push(scalar(
            counter,
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
            s.rpc[2] as f64,
        ));
        let mut requests = family(
            counter,
            "node_nfs_requests_total",
            "Number of NFS procedures invoked.",
            &["method", "proto"],
        );
        for (proto, names, values) in [
            ("2", &V2[..], &s.v2[..]),
            ("3", &V3[..], &s.v3[..]),
            ("4", &CLIENT_V4[..], &s.v4[..]),
        ] {
            for (name, v) in names.iter().zip(values) {
                push(&mut requests, &[name, proto], *v as f64);
            }
        }
        out.push(requests);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_v4_line_is_padded_and_layout_ops_swap_upstream() {
        let s = parse_client("proc4 3 1 2 3\n", Compat::Upstream).unwrap();
        assert_eq!(&s.v4[..4], &[1, 2, 3, 0]);
        let ops: Vec<String> = (1..=59).map(|i| i.to_string()).collect();
        let line = format!("proc4 59 {}\n", ops.join(" "));
        let up = parse_client(&line, Compat::Upstream).unwrap();
        let deb = parse_client(&line, Compat::Debian12).unwrap();
        assert_eq!(
            (CLIENT_V4[44], deb.v4[44], up.v4[44]),
            ("LayoutGet", 45, 46)
        );
        assert!(parse_client("proc4 3 1 2\n", Compat::Upstream).is_err());
        assert!(parse_client("\n", Compat::Upstream).is_err());
        assert!(parse_client("other 1\n", Compat::Upstream).is_err());
    }
}
