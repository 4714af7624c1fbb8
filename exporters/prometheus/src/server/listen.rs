//! Listen addresses as Go's `net.Listen("tcp", ...)` reads them.
//!
//! `:9100` means every interface: one dual-stack socket on `[::]` (IPv4 clients arrive as
//! mapped addresses), or `0.0.0.0` where IPv6 is unavailable. `host:port` resolves `host` and
//! binds its first address; `[::1]:9100` binds that IPv6 address. Listeners set
//! `SO_REUSEADDR`, as Go's do on Unix.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;

use crate::error::Error;

/// Where one `--web.listen-address` value asks to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `:port`: every interface.
    Any(u16),
    /// A literal address.
    Addr(SocketAddr),
    /// A host name to resolve.
    Host(String, u16),
}

pub(crate) fn parse(address: &str) -> Result<Target, Error> {
    let bad = |reason: &str| Error::ListenAddress {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| bad("missing port in address"))?;
    let port: u16 = port.parse().map_err(|_| bad("invalid port"))?;
    if host.is_empty() {
        return Ok(Target::Any(port));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ip = inner
            .strip_suffix(']')
            .and_then(|h| h.parse::<Ipv6Addr>().ok())
            .ok_or_else(|| bad("invalid IPv6 address"))?;
        return Ok(Target::Addr(SocketAddr::new(IpAddr::V6(ip), port)));
    }
    if host.contains(':') {
        return Err(bad("too many colons in address"));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Target::Addr(SocketAddr::new(IpAddr::V4(ip), port)));
    }
    Ok(Target::Host(host.to_owned(), port))
}

/// Binds one listen address.
pub(crate) async fn bind(address: &str) -> Result<TcpListener, Error> {
    let fail = |source| Error::Bind {
        address: address.to_owned(),
        source,
    };
    match parse(address)? {
        Target::Any(port) => {
            let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
            match listen(v6, true) {
                Ok(l) => Ok(l),
                Err(e) if is_no_ipv6(&e) => listen(
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                    false,
                )
                .map_err(fail),
                Err(e) => Err(fail(e)),
            }
        }
        Target::Addr(addr) => listen(addr, false).map_err(fail),
        Target::Host(host, port) => {
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(fail)?
                .next()
                .ok_or_else(|| Error::ListenAddress {
                    address: address.to_owned(),
                    reason: "host name resolves to no address".to_owned(),
                })?;
            listen(addr, false).map_err(fail)
        }
    }
}

/// Whether an IPv6 bind failed for want of IPv6 (rather than a busy port or permissions).
fn is_no_ipv6(e: &std::io::Error) -> bool {
    !matches!(
        e.kind(),
        std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied
    )
}

fn listen(addr: SocketAddr, dual_stack: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_addresses() {
        assert_eq!(parse(":9100").unwrap(), Target::Any(9100));
        assert_eq!(
            parse("127.0.0.1:0").unwrap(),
            Target::Addr("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse("[::1]:9187").unwrap(),
            Target::Addr("[::1]:9187".parse().unwrap())
        );
        assert_eq!(
            parse("localhost:9121").unwrap(),
            Target::Host("localhost".into(), 9121)
        );
        for bad in ["9100", "localhost", ":http", "::1:9100", "[::1]:99999"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("9100").unwrap_err().to_string(),
            "invalid listen address \"9100\": missing port in address"
        );
    }

    #[tokio::test]
    async fn binds_any_and_loopback() {
        let any = bind(":0").await.unwrap();
        assert!(any.local_addr().unwrap().ip().is_unspecified());
        let lo = bind("127.0.0.1:0").await.unwrap();
        let port = lo.local_addr().unwrap().port();
        let err = bind(&format!("127.0.0.1:{port}")).await.unwrap_err();
        assert!(err.to_string().contains("couldn't listen on"), "{err}");
        let host = bind("localhost:0").await.unwrap();
        assert!(host.local_addr().unwrap().ip().is_loopback());
    }
}
