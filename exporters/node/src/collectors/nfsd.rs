//! `nfsd`: NFS server statistics from `/proc/net/rpc/nfsd` (`node_nfsd_*`).

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push, scalar};
use aiplatform_prometheus::{BlockingCollector, CollectError, Compat, ScrapeContext};

use super::NodeCollector;
use super::nfs::{V2, V3, counted, exact, numbers, read_rpc};
use crate::config::Config;
use crate::paths::Paths;
use crate::sysfs;

/// `proc4ops` operations, by position after the count. node_exporter 1.5.0's procfs does not
/// know `SetClientID` and `SetClientIDConfirm` (so reads the next ones two places early);
/// later versions read `RelLockOwner` as the 40th value when there is one.
const V4_OPS: [&str; 40] = [
    "Op0Unused",
    "Op1Unused",
    "Op2Future",
    "Access",
    "Close",
    "Commit",
    "Create",
    "DelegPurge",
    "DelegReturn",
    "GetAttr",
    "GetFH",
    "Link",
    "Lock",
    "Lockt",
    "Locku",
    "Lookup",
    "LookupRoot",
    "Nverify",
    "Open",
    "OpenAttr",
    "OpenConfirm",
    "OpenDgrd",
    "PutFH",
    "PutPubFH",
    "PutRootFH",
    "Read",
    "ReadDir",
    "ReadLink",
    "Remove",
    "Rename",
    "Renew",
    "RestoreFH",
    "SaveFH",
    "SecInfo",
    "SetAttr",
    "SetClientID",
    "SetClientIDConfirm",
    "Verify",
    "Write",
    "RelLockOwner",
];

/// The `proc4ops` operations node_exporter does not export.
const V4_NOT_EXPORTED: [&str; 5] = [
    "Op0Unused",
    "Op1Unused",
    "Op2Future",
    "PutPubFH",
    "PutRootFH",
];

/// `/proc/net/rpc/nfsd`; absent lines read as zeros.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerStats {
    /// `rc`: hits, misses, nocache.
    pub rc: [u64; 3],
    /// `fh`: stale, ...
    pub fh: [u64; 5],
    /// `io`: read, write.
    pub io: [u64; 2],
    /// `th`: threads, full count.
    pub th: [u64; 2],
    /// `ra`: cache size, histogram, not found.
    pub ra: [u64; 12],
    /// `net`: packets, UDP, TCP, TCP connections.
    pub net: [u64; 4],
    /// `rpc`: count, bad, bad format, bad auth, bad client.
    pub rpc: [u64; 5],
    /// `proc2`.
    pub v2: [u64; 18],
    /// `proc3`.
    pub v3: [u64; 22],
    /// `proc4ops` by operation name.
    pub v4ops: Vec<(&'static str, u64)>,
    /// `wdeleg_getattr`.
    pub wdeleg_getattr: u64,
}

/// Parses `/proc/net/rpc/nfsd` with procfs's rules.
pub fn parse_server(text: &str, compat: Compat) -> std::io::Result<ServerStats> {
    let mut s = ServerStats::default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.len() < 2 {
            return Err(sysfs::invalid(format!("invalid NFSd metric line {line:?}")));
        }
        let v = if parts[0] == "th" {
            if parts.len() < 3 {
                return Err(sysfs::invalid(format!(
                    "invalid NFSd th metric line {line:?}"
                )));
            }
            numbers(&parts[1..3])?
        } else {
            numbers(&parts[1..])?
        };
        match parts[0] {
            "rc" => s.rc.copy_from_slice(exact("ReplyCache", &v, 3)?),
            "fh" => s.fh.copy_from_slice(exact("FileHandles,", &v, 5)?),
            "io" => s.io.copy_from_slice(exact("InputOutput", &v, 2)?),
            "th" => s.th.copy_from_slice(exact("Threads", &v, 2)?),
            "ra" => s.ra.copy_from_slice(exact("ReadAheadCache", &v, 12)?),
            "net" => s.net.copy_from_slice(exact("Network", &v, 4)?),
            "rpc" => s.rpc.copy_from_slice(exact("RPC", &v, 5)?),
            "proc2" => {
                s.v2.copy_from_slice(&counted("V2Stats", &v, 18, false)?[..18])
            }
            "proc3" => {
                s.v3.copy_from_slice(&counted("V3Stats", &v, 22, false)?[..22])
            }
            "proc4" => {
                counted("V4Stats", &v, 2, true)?;
            }
            "proc4ops" => {
                let ops = counted("V4Ops", &v, 39, false)?;
                let debian = compat.is_debian12();
                s.v4ops = V4_OPS
                    .iter()
                    .filter(|n| !(debian && n.starts_with("SetClientID")))
                    .enumerate()
                    .map(|(i, n)| (*n, ops.get(i).copied().unwrap_or(0)))
                    .collect();
            }
            "wdeleg_getattr" if !compat.is_debian12() => s.wdeleg_getattr = v[0],
            other => {
                return Err(sysfs::invalid(format!(
                    "unknown NFSd metric line {other:?}"
                )));
            }
        }
    }
    Ok(s)
}

/// The `nfsd` collector.
#[derive(Debug)]
pub struct NfsdCollector {
    paths: Paths,
    compat: Compat,
}

impl NodeCollector for NfsdCollector {
    const NAME: &'static str = "nfsd";

    fn from_config(c: &Config) -> NfsdCollector {
        NfsdCollector {
            paths: c.paths.clone(),
            compat: c.compat,
        }
    }
}

impl BlockingCollector for NfsdCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let Some(text) = read_rpc(&self.paths.proc("net/rpc/nfsd"))? else {
            tracing::debug!("Not collecting NFSd metrics");
            return Err(CollectError::NoData);
        };
        let s = parse_server(&text, self.compat)
            .map_err(|e| CollectError::new(format!("failed to retrieve nfsd stats: {e}")))?;
        let debian = self.compat.is_debian12();
        let (c, g) = (MetricKind::Counter, MetricKind::Gauge);
        let one = |kind, name: &str, help: &str, v: u64| scalar(kind, name, help, v as f64);
        out.extend([
            one(
                c,
                "node_nfsd_reply_cache_hits_total",
                "Total number of NFSd Reply Cache hits (client lost server response).",
                s.rc[0],
            ),
            one(
                c,
                "node_nfsd_reply_cache_misses_total",
                "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
                s.rc[1],
            ),
            one(
                c,
                "node_nfsd_reply_cache_nocache_total",
                "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
                s.rc[2],
            ),
            one(
                c,
                "node_nfsd_file_handles_stale_total",
                "Total number of NFSd stale file handles",
                s.fh[0],
            ),
            one(
                c,
                "node_nfsd_disk_bytes_read_total",
                "Total NFSd bytes read.",
                s.io[0],
            ),
            one(
                c,
                "node_nfsd_disk_bytes_written_total",
                "Total NFSd bytes written.",
                s.io[1],
            ),
            one(
                g,
                "node_nfsd_server_threads",
                "Total number of NFSd kernel threads that are running.",
                s.th[0],
            ),
            one(
                g,
                "node_nfsd_read_ahead_cache_size_blocks",
                "How large the read ahead cache is in blocks.",
                s.ra[0],
            ),
            one(
                c,
                "node_nfsd_read_ahead_cache_not_found_total",
                "Total number of NFSd read ahead cache not found.",
                s.ra[11],
            ),
            one(
                c,
                "node_nfsd_connections_total",
                "Total number of NFSd TCP connections.",
                s.net[3],
            ),
            one(
                c,
                "node_nfsd_server_rpcs_total",
                "Total number of NFSd RPCs.",
                s.rpc[0],
            ),
        ]);
        let mut packets = family(
            c,
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            &["proto"],
        );
        push(&mut packets, &["udp"], s.net[1] as f64);
        push(&mut packets, &["tcp"], s.net[2] as f64);
        out.push(packets);
        let mut errors = family(
            c,
            "node_nfsd_rpc_errors_total",
            "Total number of NFSd RPC errors by error type.",
            &["error"],
        );
        push(&mut errors, &["fmt"], s.rpc[2] as f64);
        push(&mut errors, &["auth"], s.rpc[3] as f64);
        push(&mut errors, &["cInt"], s.rpc[4] as f64);
        out.push(errors);
        let mut requests = family(
            c,
            "node_nfsd_requests_total",
            "Total number NFSd Requests by method and protocol.",
            &["method", "proto"],
        );
        // Null is not exported for v2 and v3.
        for (name, v) in V2.iter().zip(&s.v2).skip(1) {
            push(&mut requests, &[name, "2"], *v as f64);
        }
        for (name, v) in V3.iter().zip(&s.v3).skip(1) {
            push(&mut requests, &[name, "3"], *v as f64);
        }
        for name in V4_OPS {
            if V4_NOT_EXPORTED.contains(&name) || (debian && name.starts_with("SetClientID")) {
                continue;
            }
            let v = s.v4ops.iter().find(|(n, _)| *n == name).map_or(0, |o| o.1);
            push(&mut requests, &[name, "4"], v as f64);
        }
        if !debian {
            push(
                &mut requests,
                &["WdelegGetattr", "4"],
                s.wdeleg_getattr as f64,
            );
        }
        out.push(requests);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wdeleg_getattr_is_known_upstream_only() {
        let text = "rc 0 6 18622\nwdeleg_getattr 15\n";
        assert_eq!(
            parse_server(text, Compat::Upstream).unwrap().wdeleg_getattr,
            15
        );
        assert!(parse_server(text, Compat::Debian12).is_err());
    }

    #[test]
    fn short_v4_ops_line_is_refused_and_40_reads_rel_lock_owner() {
        let mut ops = vec!["0"; 38];
        assert!(parse_server(&format!("proc4ops 38 {}", ops.join(" ")), Compat::Upstream).is_err());
        ops.extend(["0", "7"]);
        let up = parse_server(&format!("proc4ops 40 {}", ops.join(" ")), Compat::Upstream).unwrap();
        assert!(up.v4ops.contains(&("RelLockOwner", 7)));
        let deb =
            parse_server(&format!("proc4ops 40 {}", ops.join(" ")), Compat::Debian12).unwrap();
        assert!(deb.v4ops.contains(&("RelLockOwner", 0)));
    }
}
