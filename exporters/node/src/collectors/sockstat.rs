//! `sockstat`: `node_sockstat_<PROTOCOL>_<state>` gauges from `/proc/net/sockstat` and
//! `/proc/net/sockstat6`, plus `node_sockstat_sockets_used` and `_mem_bytes` (pages × page
//! size).

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::family::{dynamic_family, push, scalar};

/// One protocol line (`TCP: inuse 19 orphan 0 tw 4 alloc 22 mem 134`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SockstatProtocol {
    /// `TCP`, `UDP6`, ...
    pub protocol: String,
    /// `inuse` (zero when absent, as procfs).
    pub inuse: i64,
    /// `orphan`.
    pub orphan: Option<i64>,
    /// `tw`.
    pub tw: Option<i64>,
    /// `alloc`.
    pub alloc: Option<i64>,
    /// `mem` (pages).
    pub mem: Option<i64>,
    /// `memory`.
    pub memory: Option<i64>,
}

/// A sockstat file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sockstat {
    /// `sockets: used N` (IPv4 only).
    pub used: Option<i64>,
    /// The protocol lines.
    pub protocols: Vec<SockstatProtocol>,
}

/// Parses `/proc/net/sockstat` or `sockstat6` with procfs' rules: `Proto: key value ...`,
/// split on single spaces, an even number of key/value fields.
pub fn parse_sockstat(text: &str) -> Result<Sockstat, ParseError> {
    let mut stat = Sockstat::default();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("net/sockstat", i + 1, kind);
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 3 {
            return Err(err(ParseErrorKind::malformed(
                "malformed sockstat line",
                line,
            )));
        }
        if !(fields.len() - 1).is_multiple_of(2) {
            return Err(err(ParseErrorKind::malformed(
                "odd number of key/value fields",
                line,
            )));
        }
        let protocol = fields[0].strip_suffix(':').unwrap_or(fields[0]);
        let mut p = SockstatProtocol {
            protocol: protocol.to_owned(),
            ..SockstatProtocol::default()
        };
        let mut used = None;
        for kv in fields[1..].chunks_exact(2) {
            let v = number::int(kv[1]).map_err(err)?;
            match kv[0] {
                "inuse" => p.inuse = v,
                "orphan" => p.orphan = Some(v),
                "tw" => p.tw = Some(v),
                "alloc" => p.alloc = Some(v),
                "mem" => p.mem = Some(v),
                "memory" => p.memory = Some(v),
                "used" => used = Some(v),
                _ => {}
            }
        }
        if protocol == "sockets" {
            stat.used = Some(used.unwrap_or(0));
        } else {
            stat.protocols.push(p);
        }
    }
    Ok(stat)
}

/// The system page size.
pub(crate) fn page_size() -> i64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n } else { 4096 }
}

/// The `sockstat` collector.
#[derive(Debug)]
pub struct SockstatCollector {
    paths: Paths,
    page_size: i64,
    buf: TextBuf,
}

impl SockstatCollector {
    /// A collector reading under `paths`.
    pub fn new(paths: Paths) -> SockstatCollector {
        SockstatCollector {
            paths,
            page_size: page_size(),
            buf: TextBuf::default(),
        }
    }

    fn emit(&self, s: &Sockstat, ipv6: bool, out: &mut Vec<MetricFamily>) {
        if !ipv6 && let Some(used) = s.used {
            out.push(scalar(
                MetricKind::Gauge,
                "node_sockstat_sockets_used",
                "Number of IPv4 sockets in use.",
                used as f64,
            ));
        }
        for p in &s.protocols {
            let pairs = [
                ("inuse", Some(p.inuse)),
                ("orphan", p.orphan),
                ("tw", p.tw),
                ("alloc", p.alloc),
                ("mem", p.mem),
                ("memory", p.memory),
                ("mem_bytes", p.mem.map(|m| m.saturating_mul(self.page_size))),
            ];
            for (state, v) in pairs {
                let Some(v) = v else { continue };
                let name = format!("node_sockstat_{}_{state}", p.protocol);
                let help = format!("Number of {} sockets in state {state}.", p.protocol);
                if let Some(mut f) = dynamic_family(MetricKind::Gauge, &name, &help, &[]) {
                    push(&mut f, &[], v as f64);
                    out.push(f);
                }
            }
        }
    }
}

impl NodeCollector for SockstatCollector {
    const NAME: &'static str = "sockstat";

    fn from_config(c: &Config) -> SockstatCollector {
        SockstatCollector::new(c.paths.clone())
    }
}

impl BlockingCollector for SockstatCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        for (rel, ipv6) in [("net/sockstat", false), ("net/sockstat6", true)] {
            match self.buf.with(&self.paths.proc(rel), parse_sockstat) {
                Ok(s) => self.emit(&s, ipv6, out),
                Err(e) if e.is_not_found() => {
                    tracing::debug!(file = rel, "sockstat statistics not found, skipping");
                }
                Err(e) => return Err(CollectError::new(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_protocols_and_used() {
        let s = parse_sockstat("sockets: used 42\nTCP: inuse 19 orphan 0 tw 4 alloc 22 mem 134\nFRAG: inuse 0 memory 0\n")
            .unwrap();
        assert_eq!(s.used, Some(42));
        assert_eq!(s.protocols[0].protocol, "TCP");
        assert_eq!(s.protocols[0].mem, Some(134));
        assert_eq!(s.protocols[1].memory, Some(0));
        assert_eq!(s.protocols[1].tw, None);
        assert!(parse_sockstat("TCP: inuse\n").is_err());
        assert!(parse_sockstat("TCP: inuse 1 tw\n").is_err());
        assert!(parse_sockstat("TCP: inuse x\n").is_err());
    }
}
