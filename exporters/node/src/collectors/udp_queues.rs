//! `udp_queues`: `node_udp_queues{ip,queue}`, the bytes queued in UDP sockets, summed over
//! `/proc/net/udp` and `/proc/net/udp6`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::{family, push};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;

/// The queued bytes of every socket of one file, added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSummary {
    /// Sum of `tx_queue`.
    pub tx: u64,
    /// Sum of `rx_queue`.
    pub rx: u64,
}

fn hex(s: &str) -> Option<u64> {
    number::hex(s).ok()
}

/// Go's `strconv.ParseUint(s, 0, 64)` for the decimal (or prefixed) `uid` and `inode`.
fn go_uint(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        hex(h)
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok().filter(|_| !s.starts_with('+'))
    }
}

/// An `address:port` column: the address 8 or 32 hex digits, the port hex.
fn address(s: &str) -> bool {
    s.split_once(':').is_some_and(|(a, p)| {
        (a.len() == 8 || a.len() == 32)
            && a.bytes().all(|b| b.is_ascii_hexdigit())
            && hex(p).is_some()
    })
}

/// Parses `/proc/net/udp` or `/proc/net/udp6`: the header line is skipped and every other
/// line must be a well-formed socket line, as procfs checks it.
pub fn parse_udp(text: &str) -> Result<QueueSummary, ParseError> {
    let mut sum = QueueSummary::default();
    for (i, line) in text.lines().enumerate().skip(1) {
        let err = |kind| ParseError::new("net/udp", i + 1, kind);
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 10 {
            return Err(err(ParseErrorKind::FieldCount {
                expected: 10,
                found: f.len(),
            }));
        }
        let sl_ok = f[0]
            .split_once(':')
            .is_some_and(|(n, rest)| rest.is_empty() && go_uint(n).is_some());
        if !sl_ok || !address(f[1]) || !address(f[2]) || hex(f[3]).is_none() {
            return Err(err(ParseErrorKind::malformed("socket line", line)));
        }
        let (tx, rx) = f[4]
            .split_once(':')
            .and_then(|(t, r)| Some((hex(t)?, hex(r)?)))
            .ok_or_else(|| err(ParseErrorKind::malformed("tx_queue:rx_queue", f[4])))?;
        if go_uint(f[7]).is_none() || go_uint(f[9]).is_none() {
            return Err(err(ParseErrorKind::malformed("uid and inode", line)));
        }
        sum.tx = sum.tx.wrapping_add(tx);
        sum.rx = sum.rx.wrapping_add(rx);
    }
    Ok(sum)
}

/// The `udp_queues` collector.
#[derive(Debug)]
pub struct UdpQueuesCollector {
    paths: Paths,
    buf: TextBuf,
}

impl NodeCollector for UdpQueuesCollector {
    const NAME: &'static str = "udp_queues";

    fn from_config(c: &Config) -> UdpQueuesCollector {
        UdpQueuesCollector {
            paths: c.paths.clone(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for UdpQueuesCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let mut f = family(
            MetricKind::Gauge,
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
            &["ip", "queue"],
        );
        let mut missing = 0;
        let mut failed = None;
        for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
            match self.buf.with(&self.paths.proc(file), parse_udp) {
                Ok(s) => {
                    push(&mut f, &[ip, "rx"], s.rx as f64);
                    push(&mut f, &[ip, "tx"], s.tx as f64);
                }
                Err(e) if e.is_not_found() => {
                    tracing::debug!("not collecting ip{ip} based metrics");
                    missing += 1;
                }
                Err(e) => {
                    // node_exporter stops at the first failing file.
                    failed = Some(e);
                    break;
                }
            }
        }
        if !f.is_empty() {
            out.push(f);
        }
        match failed {
            Some(e) => Err(CollectError::new(e)),
            None if missing == 2 => Err(CollectError::NoData),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 00000000:0044 00000000:0000 07 00000010:00000020 00:00000000 00000000     0        0 13521 2 0000000000000000 0\n\
  2: 0100007F:0035 00000000:0000 07 00000001:00000002 00:00000000 00000000   101        0 14011 2 0000000000000000 0\n";

    #[test]
    fn sums_and_refuses() {
        assert_eq!(parse_udp(UDP).unwrap(), QueueSummary { tx: 0x11, rx: 0x22 });
        assert_eq!(
            parse_udp(UDP.lines().next().unwrap()).unwrap(),
            QueueSummary::default()
        );
        assert!(parse_udp(&UDP.replace("00000010:00000020", "00000010")).is_err());
        assert!(parse_udp(&UDP.replace("0100007F:0035", "zz:0035")).is_err());
        assert!(parse_udp("header\n  1: 00000000:0044\n").is_err());
    }
}
