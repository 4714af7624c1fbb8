//! A minimal rtnetlink client: one `RTM_GETLINK` dump, reading each link's name and
//! `rtnl_link_stats64` (or the 32-bit `rtnl_link_stats` when that is all the kernel sends).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::ReadError;

/// The counters of `struct rtnl_link_stats64`, in its order (missing trailing ones zero).
pub const LINK_STATS: [&str; 24] = [
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
    "multicast",
    "collisions",
    "rx_length_errors",
    "rx_over_errors",
    "rx_crc_errors",
    "rx_frame_errors",
    "rx_fifo_errors",
    "rx_missed_errors",
    "tx_aborted_errors",
    "tx_carrier_errors",
    "tx_fifo_errors",
    "tx_heartbeat_errors",
    "tx_window_errors",
    "rx_compressed",
    "tx_compressed",
    "rx_nohandler",
];

/// One link's name and counters (indexed as [`LINK_STATS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface name.
    pub name: String,
    /// The counters.
    pub stats: [u64; 24],
}

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS: u16 = 7;
const IFLA_STATS64: u16 = 23;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn sys(call: &'static str) -> ReadError {
    ReadError::Syscall {
        call,
        source: io::Error::last_os_error(),
    }
}

/// Dumps every link of this network namespace. `buf` is reused between calls.
pub fn dump_links(buf: &mut Vec<u8>) -> Result<Vec<Link>, ReadError> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(sys("netlink socket"));
    }
    // SAFETY: fd is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: valid option pointer and length.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    let seq: u32 = 1;
    let mut req = [0u8; NLMSG_HDRLEN + IFINFOMSG_LEN];
    let req_len = req.len() as u32;
    req[0..4].copy_from_slice(&req_len.to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    req[16] = libc::AF_UNSPEC as u8;
    // SAFETY: zeroed sockaddr_nl is valid; the kernel is the destination (pid 0).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: buffer and address are valid for the call.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(sys("netlink sendto"));
    }
    buf.resize(64 * 1024, 0);
    let mut links = Vec::new();
    loop {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(ReadError::Syscall {
                call: "netlink recv",
                source: e,
            });
        }
        if n == 0 {
            return Err(ReadError::Syscall {
                call: "netlink recv",
                source: io::Error::new(io::ErrorKind::UnexpectedEof, "netlink socket closed"),
            });
        }
        match parse_messages(&buf[..n as usize], seq, &mut links)? {
            true => return Ok(links),
            false => continue,
        }
    }
}

/// Parses one datagram of netlink messages into `links`; `true` at `NLMSG_DONE`.
pub fn parse_messages(mut data: &[u8], seq: u32, links: &mut Vec<Link>) -> Result<bool, ReadError> {
    let bad = |what: &str| ReadError::Syscall {
        call: "netlink parse",
        source: io::Error::new(io::ErrorKind::InvalidData, what.to_owned()),
    };
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(data[0..4].try_into().expect("4 bytes")) as usize;
        let kind = u16::from_ne_bytes(data[4..6].try_into().expect("2 bytes"));
        let msg_seq = u32::from_ne_bytes(data[8..12].try_into().expect("4 bytes"));
        if len < NLMSG_HDRLEN || len > data.len() {
            return Err(bad("truncated netlink message"));
        }
        let body = &data[NLMSG_HDRLEN..len];
        if msg_seq == seq {
            match kind {
                NLMSG_DONE => return Ok(true),
                NLMSG_ERROR => {
                    let code = body
                        .get(0..4)
                        .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
                        .unwrap_or(-libc::EIO);
                    if code != 0 {
                        return Err(ReadError::Syscall {
                            call: "netlink RTM_GETLINK",
                            source: io::Error::from_raw_os_error(-code),
                        });
                    }
                }
                RTM_NEWLINK => {
                    if let Some(link) = parse_link(body) {
                        links.push(link);
                    }
                }
                _ => {}
            }
        }
        let next = align4(len).min(data.len());
        data = &data[next..];
    }
    Ok(false)
}

/// An `RTM_NEWLINK` body: `ifinfomsg` then attributes.
fn parse_link(body: &[u8]) -> Option<Link> {
    let mut attrs = body.get(IFINFOMSG_LEN..)?;
    let mut name = None;
    let mut stats64 = None;
    let mut stats32 = None;
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            break;
        }
        let payload = &attrs[4..len];
        match kind {
            IFLA_IFNAME => {
                let end = payload
                    .iter()
                    .position(|&b| b == 0)
                    .unwrap_or(payload.len());
                name = Some(String::from_utf8_lossy(&payload[..end]).into_owned());
            }
            IFLA_STATS64 => stats64 = Some(payload),
            IFLA_STATS => stats32 = Some(payload),
            _ => {}
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    let mut stats = [0u64; 24];
    if let Some(p) = stats64 {
        for (slot, chunk) in stats.iter_mut().zip(p.chunks_exact(8)) {
            *slot = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        }
    } else if let Some(p) = stats32 {
        for (slot, chunk) in stats.iter_mut().zip(p.chunks_exact(4)) {
            *slot = u32::from_ne_bytes(chunk.try_into().expect("4 bytes")) as u64;
        }
    } else {
        tracing::debug!("No netlink stats, skipping");
        return None;
    }
    Some(Link { name: name?, stats })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_loopback() {
        let mut buf = Vec::new();
        let links = dump_links(&mut buf).unwrap();
        assert!(links.iter().any(|l| l.name == "lo"), "{links:?}");
    }

    #[test]
    fn garbage_is_refused_not_panicking() {
        let mut links = Vec::new();
        assert!(
            parse_messages(
                &[255, 255, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
                1,
                &mut links
            )
            .is_err()
        );
        assert!(!parse_messages(&[1, 2, 3], 1, &mut links).unwrap());
        assert!(parse_link(&[0; 8]).is_none());
    }
}
