//! The Logstash sink: the `tcp` input with the `json_lines` codec, one ECS JSON object per
//! `\n`-terminated line.

mod conn;
mod ship;
mod tls;

pub use tls::TlsConfig;

use std::time::Duration;

use super::worker::Worker;
use crate::Error;
use crate::notice::Notice;
use crate::queue::Queue;
use crate::spool::{Spool, SpoolConfig};

/// Where and how to ship to a Logstash `tcp` input.
///
/// ```
/// use std::time::Duration;
/// use aiplatform_logging::{LogstashConfig, SpoolConfig};
///
/// let cfg = LogstashConfig::new("logstash.internal:5000")
///     .backoff(Duration::from_millis(100), Duration::from_secs(10))
///     .spool(SpoolConfig::new("/var/lib/myapp/log-spool"));
/// # let _ = cfg;
/// ```
///
/// # What happens to a line
///
/// 1. The application thread encodes it and puts it in a bounded memory queue (see
///    [`FullPolicy`](crate::FullPolicy)); it never waits for the network.
/// 2. The shipper thread writes lines in batches. A written line is **unconfirmed** until the
///    peer's TCP stack has acknowledged its bytes (Linux `SIOCOUTQ`) *and* the connection has
///    then stayed up for [`confirm_after`](LogstashConfig::confirm_after) (default 1 s).
/// 3. When the connection breaks (write error or timeout, reset, the peer closing), the
///    shipper reconnects with exponential backoff and jitter, and first writes again every
///    unconfirmed line, in order. A line that was cut off mid-write is therefore always sent
///    again whole.
///
/// # When a line can arrive twice
///
/// There is no acknowledgement in the `json_lines` protocol. A successful write only means the
/// kernel took the bytes, and even an acknowledged byte may sit unread in Logstash's socket
/// buffer when Logstash dies. So the shipper errs on the side of resending: a line written
/// shortly before a disconnect (still unconfirmed) is written again after reconnecting, and if
/// Logstash had in fact processed it, it arrives twice (`aiplatform_log_sink_resent_total`
/// counts these resends). Both copies are byte-identical and carry the same `event.hash`, so
/// an Elasticsearch output with `document_id => "%{[event][hash]}"` stores it once (see
/// [`Fingerprint`](crate::Fingerprint)).
///
/// A line can still be lost if Logstash acknowledged it at the TCP level and then held it
/// unprocessed for longer than `confirm_after` before dying; raise `confirm_after` to widen
/// that window at the cost of memory (at most
/// [`max_unconfirmed_bytes`](LogstashConfig::max_unconfirmed_bytes) are kept; past that,
/// acknowledged lines are confirmed early and unacknowledged ones make the shipper stop
/// reading the queue until the peer catches up).
///
/// # Outages
///
/// Without a spool, lines wait in the memory queue while Logstash is down; once it is full,
/// the queue's policy applies and drops are counted. With a [`SpoolConfig`](crate::SpoolConfig),
/// after [`spill_after`](LogstashConfig::spill_after) (or when the queue is half full) the
/// shipper moves unconfirmed and queued lines to disk and keeps appending there, so the memory
/// queue does not fill; on reconnect the spool is replayed in order before newer lines. The
/// spool also keeps what is undelivered at shutdown for the next process.
///
/// # Shutdown
///
/// Dropping the [`LogGuard`](crate::LogGuard) gives the shipper until the deadline to deliver
/// everything; what is still undelivered then goes to the spool, or is counted as dropped
/// (`shutdown`) when there is none.
#[derive(Debug, Clone)]
pub struct LogstashConfig {
    pub(crate) addr: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) confirm_after: Duration,
    pub(crate) max_unconfirmed_bytes: usize,
    pub(crate) spill_after: Duration,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) spool: Option<SpoolConfig>,
}

impl LogstashConfig {
    /// Ships to `addr` (`host:port`; the host may be a name, resolved at every connect).
    pub fn new(addr: impl Into<String>) -> LogstashConfig {
        LogstashConfig {
            addr: addr.into(),
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            confirm_after: Duration::from_secs(1),
            max_unconfirmed_bytes: 8 * 1024 * 1024,
            spill_after: Duration::from_secs(1),
            tls: None,
            spool: None,
        }
    }

    /// Time allowed for a TCP connect plus TLS handshake (default 5 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Time a blocked write may take before the connection is considered broken (default 10 s).
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }

    /// Reconnect delays: the first retry after `initial`, doubling up to `max`, each with
    /// jitter (uniform in the upper half of the delay). Defaults 100 ms and 30 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// How long an acknowledged line is kept for resending (default 1 s); see [`LogstashConfig`].
    pub fn confirm_after(mut self, t: Duration) -> Self {
        self.confirm_after = t;
        self
    }

    /// Memory bound for unconfirmed lines (default 8 MiB).
    pub fn max_unconfirmed_bytes(mut self, bytes: usize) -> Self {
        self.max_unconfirmed_bytes = bytes.max(64 * 1024);
        self
    }

    /// With a spool: how long Logstash must be unreachable before lines go to disk (default 1 s).
    pub fn spill_after(mut self, t: Duration) -> Self {
        self.spill_after = t;
        self
    }

    /// Connects over TLS.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Keeps undeliverable lines on disk; see [`LogstashConfig`] and [`SpoolConfig`].
    pub fn spool(mut self, spool: SpoolConfig) -> Self {
        self.spool = Some(spool);
        self
    }

    fn host(&self) -> Result<&str, Error> {
        let (host, port) = self
            .addr
            .rsplit_once(':')
            .ok_or_else(|| Error::Address(self.addr.clone()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(Error::Address(self.addr.clone()));
        }
        Ok(host)
    }
}

/// Starts the Logstash shipper thread draining `queue`.
pub(crate) fn start(
    name: &str,
    cfg: LogstashConfig,
    queue: Queue,
    notice: Notice,
) -> Result<Worker, Error> {
    let host = cfg.host()?.to_owned();
    let tls = cfg.tls.as_ref().map(|t| t.build(&host)).transpose()?;
    let spool = cfg.spool.clone().map(Spool::open).transpose()?;
    Worker::spawn(name, queue, move |q, c| {
        ship::Shipper::new(cfg, tls, spool, q, c, notice).run()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            LogstashConfig::new("logstash:5000").host().unwrap(),
            "logstash"
        );
        assert_eq!(LogstashConfig::new("[::1]:5000").host().unwrap(), "::1");
        for bad in ["logstash", ":5000", "logstash:http", "logstash:70000"] {
            assert!(
                matches!(LogstashConfig::new(bad).host(), Err(Error::Address(_))),
                "{bad}"
            );
        }
    }
}
