//! Where the Datadog Agent's DogStatsD server listens, as the official clients read it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// The DogStatsD port the agent listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8125;

/// Payload limit of a UDP datagram by default: fits a 1500-byte MTU without fragmenting, so
/// one lost fragment never loses a whole datagram (datadog-go's `OptimalUDPPayloadSize`).
pub const UDP_PAYLOAD_BYTES: usize = 1432;

/// Payload limit over a Unix socket by default: the agent's receive buffer
/// (`dogstatsd_buffer_size`, 8 KiB); longer datagrams would be cut.
pub const UDS_PAYLOAD_BYTES: usize = 8192;

/// The largest UDP payload there is (65535 minus the UDP and the largest IP header).
pub const UDP_MAX_PAYLOAD_BYTES: usize = 65467;

/// A DogStatsD server address.
///
/// Parsed from the forms `DD_DOGSTATSD_URL` and datadog-go accept:
///
/// | form | transport |
/// |---|---|
/// | `udp://host:port`, `udp://host` (port 8125), `host:port`, `host`, `[::1]:8125` | UDP |
/// | `unix:///path` | Unix socket; a datagram socket, or a stream socket if the path is one (the agent's choice) |
/// | `unixgram:///path` | Unix datagram socket |
/// | `unixstream:///path` | Unix stream socket, each payload prefixed by its length |
///
/// ```
/// use aiplatform_datadog::AgentAddr;
///
/// let a: AgentAddr = "udp://datadog-agent".parse().unwrap();
/// assert_eq!(a.to_string(), "udp://datadog-agent:8125");
/// let u: AgentAddr = "unix:///var/run/datadog/dsd.socket".parse().unwrap();
/// assert_eq!(u.default_payload_bytes(), 8192);
/// assert!("tcp://host:1".parse::<AgentAddr>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AgentAddr {
    /// UDP to `host:port` (resolved at each connect, so a moved agent is found again).
    Udp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix socket of either kind: datagram if it takes datagrams, else stream.
    Unix(PathBuf),
    /// A Unix datagram socket (`unixgram`).
    UnixDatagram(PathBuf),
    /// A Unix stream socket (`unixstream`).
    UnixStream(PathBuf),
}

impl AgentAddr {
    /// `host` and `port` as `DD_AGENT_HOST` and `DD_DOGSTATSD_PORT` give them. A host that
    /// is itself an address (`unix:///...`, `udp://...`) is taken as such.
    pub fn from_host(host: &str, port: Option<u16>) -> Result<AgentAddr, String> {
        if host.contains("://") {
            return host.parse();
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("empty agent host".into());
        }
        Ok(AgentAddr::Udp {
            host: host.to_owned(),
            port: port.unwrap_or(DEFAULT_PORT),
        })
    }

    /// The agent on this machine: `127.0.0.1:8125` over UDP, the official clients' default.
    pub fn local() -> AgentAddr {
        AgentAddr::Udp {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
        }
    }

    /// The payload limit for this transport: 1432 bytes over UDP, 8192 over a Unix socket.
    pub fn default_payload_bytes(&self) -> usize {
        match self {
            AgentAddr::Udp { .. } => UDP_PAYLOAD_BYTES,
            _ => UDS_PAYLOAD_BYTES,
        }
    }

    /// The `client_transport` tag of the client telemetry: `udp`, `uds` or `uds-stream`.
    pub fn transport_name(&self) -> &'static str {
        match self {
            AgentAddr::Udp { .. } => "udp",
            AgentAddr::Unix(_) | AgentAddr::UnixDatagram(_) => "uds",
            AgentAddr::UnixStream(_) => "uds-stream",
        }
    }
}

impl FromStr for AgentAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some((scheme, rest)) = s.split_once("://") {
            let path = || {
                if rest.starts_with('/') {
                    Ok(PathBuf::from(rest))
                } else {
                    Err(format!(
                        "{s:?}: a Unix socket address needs an absolute path ({scheme}:///path)"
                    ))
                }
            };
            return match scheme {
                "udp" => udp(rest),
                "unix" => path().map(AgentAddr::Unix),
                "unixgram" => path().map(AgentAddr::UnixDatagram),
                "unixstream" => path().map(AgentAddr::UnixStream),
                other => Err(format!(
                    "{s:?}: unknown scheme {other:?} (expected udp, unix, unixgram or unixstream)"
                )),
            };
        }
        udp(s)
    }
}

/// `host`, `host:port`, `[v6]:port`, or a bare IPv6 address.
fn udp(s: &str) -> Result<AgentAddr, String> {
    let s = s.trim_end_matches('/');
    if s.is_empty() {
        return Err("empty agent address".into());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(AgentAddr::Udp {
            host: ip.to_string(),
            port: DEFAULT_PORT,
        });
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("{s:?}: invalid port {p:?}"))?;
            (h.trim_start_matches('[').trim_end_matches(']'), port)
        }
        Some(_) => return Err(format!("{s:?}: no host")),
        None => (s, DEFAULT_PORT),
    };
    if host.contains(['/', ' ']) {
        return Err(format!("{s:?}: not a host name"));
    }
    Ok(AgentAddr::Udp {
        host: host.to_owned(),
        port,
    })
}

impl fmt::Display for AgentAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentAddr::Udp { host, port } if host.contains(':') => {
                write!(f, "udp://[{host}]:{port}")
            }
            AgentAddr::Udp { host, port } => write!(f, "udp://{host}:{port}"),
            AgentAddr::Unix(p) => write!(f, "unix://{}", p.display()),
            AgentAddr::UnixDatagram(p) => write!(f, "unixgram://{}", p.display()),
            AgentAddr::UnixStream(p) => write!(f, "unixstream://{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(host: &str, port: u16) -> AgentAddr {
        AgentAddr::Udp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_what_the_official_clients_accept() {
        for (s, want) in [
            ("udp://agent:9125", udp("agent", 9125)),
            ("udp://agent", udp("agent", 8125)),
            ("agent:1", udp("agent", 1)),
            ("agent", udp("agent", 8125)),
            ("127.0.0.1", udp("127.0.0.1", 8125)),
            ("[::1]:8126", udp("::1", 8126)),
            ("::1", udp("::1", 8125)),
            (
                "unix:///var/run/datadog/dsd.socket",
                AgentAddr::Unix("/var/run/datadog/dsd.socket".into()),
            ),
            (
                "unixgram:///tmp/s",
                AgentAddr::UnixDatagram("/tmp/s".into()),
            ),
            (
                "unixstream:///tmp/s",
                AgentAddr::UnixStream("/tmp/s".into()),
            ),
        ] {
            assert_eq!(s.parse::<AgentAddr>().as_ref(), Ok(&want), "{s}");
        }
        for bad in [
            "",
            "tcp://a:1",
            "unix://relative",
            "agent:port",
            ":8125",
            "udp://",
        ] {
            assert!(bad.parse::<AgentAddr>().is_err(), "{bad:?}");
        }
        assert_eq!(udp("::1", 8125).to_string(), "udp://[::1]:8125");
    }

    #[test]
    fn from_agent_host_and_port() {
        assert_eq!(AgentAddr::from_host("dd", Some(9000)), Ok(udp("dd", 9000)));
        assert_eq!(AgentAddr::from_host("dd", None), Ok(udp("dd", 8125)));
        assert_eq!(
            AgentAddr::from_host("unix:///x/dsd.socket", Some(1)),
            Ok(AgentAddr::Unix("/x/dsd.socket".into()))
        );
        assert!(AgentAddr::from_host("", None).is_err());
    }
}
