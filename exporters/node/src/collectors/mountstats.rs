//! `mountstats` (off by default): NFS client statistics per mount from
//! `/proc/self/mountstats`, with the server address from `/proc/self/mountinfo`.

use std::collections::HashSet;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{FamilySet, Naming};
use aiplatform_prometheus::{BlockingCollector, CollectError, DefaultState, ScrapeContext};

use super::NodeCollector;
use crate::attr::is_missing;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;

/// node_exporter reduces millisecond and second totals modulo 2^53, where a float64 stops
/// holding every integer.
const MANTISSA: u64 = 1 << 53;

/// One NFS transport (`xprt:` line), the fields node_exporter exports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// `tcp`, `udp` or `rdma`.
    pub protocol: String,
    /// bind, connect, idle seconds, sends, receives, bad xids, backlog, max slots,
    /// sending queue, pending queue.
    pub values: [u64; 10],
}

/// One `per-op` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operation {
    /// The operation (`READ`, `GETATTR`).
    pub name: String,
    /// requests, transmissions, major timeouts, bytes sent, bytes received, queue ms,
    /// response ms, request ms.
    pub values: [u64; 8],
}

/// An NFS mount's statistics: procfs' `MountStatsNFS`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NfsStats {
    /// Seconds since mount.
    pub age: f64,
    /// The eight `bytes:` counters.
    pub bytes: [u64; 8],
    /// The 27 `events:` counters.
    pub events: [u64; 27],
    /// The transports.
    pub transports: Vec<Transport>,
    /// The per-operation statistics.
    pub operations: Vec<Operation>,
}

/// One `device` line of `/proc/self/mountstats`.
#[derive(Debug, Clone, PartialEq)]
pub struct MountStats {
    /// The export (`server:/path`).
    pub device: String,
    /// The NFS statistics, for NFS mounts with a `statvers=`.
    pub nfs: Option<NfsStats>,
}

fn err(line: usize, what: &'static str, text: &str) -> ParseError {
    ParseError::new(
        "self/mountstats",
        line,
        ParseErrorKind::malformed(what, text),
    )
}

fn uints<const N: usize>(fields: &[&str], line: usize) -> Result<[u64; N], ParseError> {
    let mut out = [0u64; N];
    for (o, f) in out.iter_mut().zip(fields) {
        *o = number::uint(f).map_err(|k| ParseError::new("self/mountstats", line, k))?;
    }
    Ok(out)
}

/// Go's `time.ParseDuration(s + "s").Seconds()` for the plain decimal seconds mountstats
/// writes.
fn age_seconds(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = body.parse().ok()?;
    Some(if s.starts_with('-') { -v } else { v })
}

fn parse_transport(f: &[&str], version: &str, line: usize) -> Result<Transport, ParseError> {
    let protocol = f[0];
    let rest = &f[1..];
    let expected = match (version, protocol) {
        ("1.0", "tcp") => 10,
        ("1.0", "udp") => 7,
        ("1.1", "tcp") => 13,
        ("1.1", "udp") => 10,
        ("1.1", "rdma") => 20,
        _ => return Err(err(line, "NFS transport version and protocol", protocol)),
    };
    let ok = if protocol == "rdma" {
        rest.len() >= expected && rest.len() <= 31
    } else {
        rest.len() == expected
    };
    if !ok {
        return Err(err(line, "NFS transport statistics", &rest.join(" ")));
    }
    let mut ns = [0u64; 31];
    for (n, s) in ns.iter_mut().zip(rest) {
        *n = number::uint(s).map_err(|k| ParseError::new("self/mountstats", line, k))?;
    }
    // procfs' realignment: UDP has no connect fields; RDMA has no queue fields.
    let ns: Vec<u64> = match protocol {
        "udp" => ns[..2]
            .iter()
            .chain(&[0; 3])
            .chain(&ns[2..])
            .copied()
            .collect(),
        "rdma" => ns[..10]
            .iter()
            .chain(&[0; 3])
            .chain(&ns[10..])
            .copied()
            .collect(),
        _ => ns.to_vec(),
    };
    Ok(Transport {
        protocol: protocol.to_owned(),
        values: [
            ns[1], ns[2], ns[4], ns[5], ns[6], ns[7], ns[9], ns[10], ns[11], ns[12],
        ],
    })
}

/// Parses `/proc/self/mountstats` as procfs does.
pub fn parse_mountstats(text: &str) -> Result<Vec<MountStats>, ParseError> {
    parse_mountstats_as(text, false)
}

/// [`parse_mountstats`]; `legacy` reads as procfs 0.8 (node_exporter 1.5.0) did: no RDMA
/// transport, and only the last `xprt:` line of a mount kept.
pub fn parse_mountstats_as(text: &str, legacy: bool) -> Result<Vec<MountStats>, ParseError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut mounts = Vec::new();
    while let Some((n, line)) = lines.next() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.first() != Some(&"device") {
            continue;
        }
        if f.len() < 8 || f[2] != "mounted" || f[3] != "on" || f[5] != "with" || f[6] != "fstype" {
            return Err(err(n, "device line", line));
        }
        let mut mount = MountStats {
            device: f[1].to_owned(),
            nfs: None,
        };
        if f.len() > 8 {
            if f[7] != "nfs" && f[7] != "nfs4" {
                return Err(err(n, "NFS fstype", f[7]));
            }
            let version = f[8].strip_prefix("statvers=").unwrap_or(f[8]);
            let mut s = NfsStats::default();
            for (n, line) in lines.by_ref() {
                let f: Vec<&str> = line.split_ascii_whitespace().collect();
                let Some(&key) = f.first() else { break };
                match key {
                    "opts:" | "age:" | "bytes:" | "events:" if f.len() < 2 => {
                        return Err(err(n, "NFS statistics", line));
                    }
                    "age:" => s.age = age_seconds(f[1]).ok_or_else(|| err(n, "age", f[1]))?,
                    "bytes:" if f.len() != 9 => return Err(err(n, "NFS bytes", line)),
                    "bytes:" => s.bytes = uints(&f[1..], n)?,
                    "events:" if f.len() != 28 => return Err(err(n, "NFS events", line)),
                    "events:" => s.events = uints(&f[1..], n)?,
                    "xprt:" if f.len() < 3 => return Err(err(n, "NFS transport", line)),
                    "xprt:" if legacy && f[1] == "rdma" => {
                        return Err(err(n, "NFS transport protocol", f[1]));
                    }
                    "xprt:" => {
                        let t = parse_transport(&f[1..], version, n)?;
                        if legacy {
                            s.transports.clear();
                        }
                        s.transports.push(t);
                    }
                    _ => {}
                }
                if key == "per-op" {
                    break;
                }
            }
            // The per-operation lines, up to the blank line ending the mount.
            for (n, line) in lines.by_ref() {
                let f: Vec<&str> = line.split_ascii_whitespace().collect();
                if f.is_empty() {
                    break;
                }
                if f.len() < 9 {
                    return Err(err(n, "NFS per-operation statistics", line));
                }
                let mut values = [0u64; 8];
                for (i, v) in f[1..].iter().enumerate() {
                    let x =
                        number::uint(v).map_err(|k| ParseError::new("self/mountstats", n, k))?;
                    if i < 8 {
                        values[i] = x;
                    }
                }
                s.operations.push(Operation {
                    name: f[0].strip_suffix(':').unwrap_or(f[0]).to_owned(),
                    values,
                });
            }
            mount.nfs = Some(s);
        }
        mounts.push(mount);
    }
    Ok(mounts)
}

/// The `addr=` super option of each `/proc/self/mountinfo` line, in order (procfs'
/// `MountInfo`, which refuses the file if a line does not parse).
pub fn parse_mountinfo_addrs(text: &str) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |what| {
            ParseError::new(
                "self/mountinfo",
                i + 1,
                ParseErrorKind::malformed(what, line),
            )
        };
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 10 {
            return Err(bad("too few fields"));
        }
        if f[f.len() - 4] != "-" {
            return Err(bad("separator"));
        }
        if f[0].parse::<i64>().is_err() || f[1].parse::<i64>().is_err() {
            return Err(bad("mount ID"));
        }
        let mut addr = String::new();
        for opt in f[f.len() - 1].split(',') {
            let mut kv = opt.split('=');
            let key = kv.next().unwrap_or("");
            if key == "addr" {
                addr = kv.next().unwrap_or("").to_owned();
            }
        }
        out.push(addr);
    }
    Ok(out)
}

/// HELP texts, in node_exporter's order: `bytes:` counters.
const BYTES: [(&str, &str); 8] = [
    (
        "read_bytes_total",
        "Number of bytes read using the read() syscall.",
    ),
    (
        "write_bytes_total",
        "Number of bytes written using the write() syscall.",
    ),
    (
        "direct_read_bytes_total",
        "Number of bytes read using the read() syscall in O_DIRECT mode.",
    ),
    (
        "direct_write_bytes_total",
        "Number of bytes written using the write() syscall in O_DIRECT mode.",
    ),
    (
        "total_read_bytes_total",
        "Number of bytes read from the NFS server, in total.",
    ),
    (
        "total_write_bytes_total",
        "Number of bytes written to the NFS server, in total.",
    ),
    (
        "read_pages_total",
        "Number of pages read directly via mmap()'d files.",
    ),
    (
        "write_pages_total",
        "Number of pages written directly via mmap()'d files.",
    ),
];

/// Transport metrics, as [`Transport::values`].
const TRANSPORT: [(&str, MetricKind, &str); 10] = [
    (
        "transport_bind_total",
        MetricKind::Counter,
        "Number of times the client has had to establish a connection from scratch to the NFS server.",
    ),
    (
        "transport_connect_total",
        MetricKind::Counter,
        "Number of times the client has made a TCP connection to the NFS server.",
    ),
    (
        "transport_idle_time_seconds",
        MetricKind::Gauge,
        "Duration since the NFS mount last saw any RPC traffic, in seconds.",
    ),
    (
        "transport_sends_total",
        MetricKind::Counter,
        "Number of RPC requests for this mount sent to the NFS server.",
    ),
    (
        "transport_receives_total",
        MetricKind::Counter,
        "Number of RPC responses for this mount received from the NFS server.",
    ),
    (
        "transport_bad_transaction_ids_total",
        MetricKind::Counter,
        "Number of times the NFS server sent a response with a transaction ID unknown to this client.",
    ),
    (
        "transport_backlog_queue_total",
        MetricKind::Counter,
        "Total number of items added to the RPC backlog queue.",
    ),
    (
        "transport_maximum_rpc_slots",
        MetricKind::Gauge,
        "Maximum number of simultaneously active RPC requests ever used.",
    ),
    (
        "transport_sending_queue_total",
        MetricKind::Counter,
        "Total number of items added to the RPC transmission sending queue.",
    ),
    (
        "transport_pending_queue_total",
        MetricKind::Counter,
        "Total number of items added to the RPC transmission pending queue.",
    ),
];

/// Per-operation metrics, as [`Operation::values`]; `true` for millisecond totals.
const OPERATIONS: [(&str, bool, &str); 8] = [
    (
        "operations_requests_total",
        false,
        "Number of requests performed for a given operation.",
    ),
    (
        "operations_transmissions_total",
        false,
        "Number of times an actual RPC request has been transmitted for a given operation.",
    ),
    (
        "operations_major_timeouts_total",
        false,
        "Number of times a request has had a major timeout for a given operation.",
    ),
    (
        "operations_sent_bytes_total",
        false,
        "Number of bytes sent for a given operation, including RPC headers and payload.",
    ),
    (
        "operations_received_bytes_total",
        false,
        "Number of bytes received for a given operation, including RPC headers and payload.",
    ),
    (
        "operations_queue_time_seconds_total",
        true,
        "Duration all requests spent queued for transmission for a given operation before they were sent, in seconds.",
    ),
    (
        "operations_response_time_seconds_total",
        true,
        "Duration all requests took to get a reply back after a request for a given operation was transmitted, in seconds.",
    ),
    (
        "operations_request_time_seconds_total",
        true,
        "Duration all requests took from when a request was enqueued to when it was completely handled for a given operation, in seconds.",
    ),
];

/// Event metrics by index into `events:` (index 18, congestion wait, is not exported).
const EVENTS: [(usize, &str, &str); 26] = [
    (
        0,
        "event_inode_revalidate_total",
        "Number of times cached inode attributes are re-validated from the server.",
    ),
    (
        1,
        "event_dnode_revalidate_total",
        "Number of times cached dentry nodes are re-validated from the server.",
    ),
    (
        2,
        "event_data_invalidate_total",
        "Number of times an inode cache is cleared.",
    ),
    (
        3,
        "event_attribute_invalidate_total",
        "Number of times cached inode attributes are invalidated.",
    ),
    (
        4,
        "event_vfs_open_total",
        "Number of times cached inode attributes are invalidated.",
    ),
    (
        5,
        "event_vfs_lookup_total",
        "Number of times a directory lookup has occurred.",
    ),
    (
        6,
        "event_vfs_access_total",
        "Number of times permissions have been checked.",
    ),
    (
        7,
        "event_vfs_update_page_total",
        "Number of updates (and potential writes) to pages.",
    ),
    (
        8,
        "event_vfs_read_page_total",
        "Number of pages read directly via mmap()'d files.",
    ),
    (
        9,
        "event_vfs_read_pages_total",
        "Number of times a group of pages have been read.",
    ),
    (
        10,
        "event_vfs_write_page_total",
        "Number of pages written directly via mmap()'d files.",
    ),
    (
        11,
        "event_vfs_write_pages_total",
        "Number of times a group of pages have been written.",
    ),
    (
        12,
        "event_vfs_getdents_total",
        "Number of times directory entries have been read with getdents().",
    ),
    (
        13,
        "event_vfs_setattr_total",
        "Number of times directory entries have been read with getdents().",
    ),
    (
        14,
        "event_vfs_flush_total",
        "Number of pending writes that have been forcefully flushed to the server.",
    ),
    (
        15,
        "event_vfs_fsync_total",
        "Number of times fsync() has been called on directories and files.",
    ),
    (
        16,
        "event_vfs_lock_total",
        "Number of times locking has been attempted on a file.",
    ),
    (
        17,
        "event_vfs_file_release_total",
        "Number of times files have been closed and released.",
    ),
    (
        19,
        "event_truncation_total",
        "Number of times files have been truncated.",
    ),
    (
        20,
        "event_write_extension_total",
        "Number of times a file has been grown due to writes beyond its existing end.",
    ),
    (
        21,
        "event_silly_rename_total",
        "Number of times a file was removed while still open by another process.",
    ),
    (
        22,
        "event_short_read_total",
        "Number of times the NFS server gave less data than expected while reading.",
    ),
    (
        23,
        "event_short_write_total",
        "Number of times the NFS server wrote less data than expected while writing.",
    ),
    (
        24,
        "event_jukebox_delay_total",
        "Number of times the NFS server indicated EJUKEBOX; retrieving data from offline storage.",
    ),
    (
        25,
        "event_pnfs_read_total",
        "Number of NFS v4.1+ pNFS reads.",
    ),
    (
        26,
        "event_pnfs_write_total",
        "Number of NFS v4.1+ pNFS writes.",
    ),
];

/// Adds one mount's families (node_exporter's `updateNFSStats`).
fn add_mount(set: &mut FamilySet, s: &NfsStats, export: &str, protocol: &str, addr: &str) {
    // Label pairs sorted by name, as client_golang writes them.
    let labels = ["export", "mountaddr", "protocol"];
    let values = [export, addr, protocol];
    set.add(
        MetricKind::Counter,
        "age_seconds_total",
        "The age of the NFS mount in seconds.",
        &labels,
        &values,
        s.age,
    );
    for ((name, help), v) in BYTES.iter().zip(s.bytes) {
        set.add(MetricKind::Counter, name, help, &labels, &values, v as f64);
    }
    for t in &s.transports {
        for (i, ((name, kind, help), v)) in TRANSPORT.iter().zip(t.values).enumerate() {
            let v = if i == 2 { v % MANTISSA } else { v };
            set.add(*kind, name, help, &labels, &values, v as f64);
        }
    }
    let op_labels = ["export", "mountaddr", "operation", "protocol"];
    for op in &s.operations {
        let op_values = [export, addr, op.name.as_str(), protocol];
        for ((name, ms, help), v) in OPERATIONS.iter().zip(op.values) {
            let v = if *ms {
                (v % MANTISSA) as f64 / 1000.0
            } else {
                v as f64
            };
            set.add(MetricKind::Counter, name, help, &op_labels, &op_values, v);
        }
    }
    for (i, name, help) in EVENTS {
        set.add(
            MetricKind::Counter,
            name,
            help,
            &labels,
            &values,
            s.events[i] as f64,
        );
    }
}

/// The `mountstats` collector.
#[derive(Debug)]
pub struct MountstatsCollector {
    paths: Paths,
    legacy: bool,
    buf: TextBuf,
}

impl NodeCollector for MountstatsCollector {
    const NAME: &'static str = "mountstats";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    fn from_config(c: &Config) -> MountstatsCollector {
        MountstatsCollector {
            paths: c.paths.clone(),
            legacy: c.compat.is_debian12(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for MountstatsCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mounts = match self.buf.with(&self.paths.proc("self/mountstats"), |t| {
            parse_mountstats_as(t, self.legacy)
        }) {
            Ok(m) => m,
            Err(e) if is_missing(&e) => return Err(CollectError::NoData),
            Err(e) => return Err(CollectError::new(e)),
        };
        let addrs = self
            .buf
            .with(&self.paths.proc("self/mountinfo"), parse_mountinfo_addrs)
            .map_err(CollectError::new)?;
        let mut set = FamilySet::new(Naming::Standard).with_namespace("node_mountstats_nfs");
        let mut seen: HashSet<(String, String, String)> = HashSet::new();
        for (i, m) in mounts.iter().enumerate() {
            let Some(s) = &m.nfs else { continue };
            let addr = addrs.get(i).cloned().unwrap_or_default();
            for t in &s.transports {
                let id = (m.device.clone(), t.protocol.clone(), addr.clone());
                if !seen.insert(id) {
                    tracing::debug!(device = m.device, "Skipping duplicate device entry");
                    break;
                }
                add_mount(&mut set, s, &m.device, &t.protocol, &addr);
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
    fn transports_realign_like_procfs() {
        let t = parse_transport(
            &[
                "udp", "832", "0", "6428", "6428", "0", "12154", "0", "24", "26", "5726",
            ],
            "1.1",
            1,
        )
        .unwrap();
        assert_eq!(t.values[..3], [0, 0, 0]);
        assert_eq!(t.values[3], 6428);
        assert!(parse_transport(&["tcp", "1"], "1.1", 1).is_err());
        assert!(parse_transport(&["sctp", "1"], "1.1", 1).is_err());
        assert_eq!(age_seconds("13968"), Some(13968.0));
        assert_eq!(age_seconds("x"), None);
    }
}
