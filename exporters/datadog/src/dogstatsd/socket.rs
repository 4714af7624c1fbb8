//! The DogStatsD transport: packs a batch's lines into datagrams and hands them to the agent's
//! socket, without ever waiting long or retrying: DogStatsD is fire and forget.
//!
//! - **UDP**: a connected socket; on Linux every datagram of a batch goes out through
//!   `sendmmsg`, up to 1024 per system call. A refused datagram (the ICMP error of an earlier
//!   send to a port nobody listens on) is tried once more, then counted as dropped.
//! - **Unix datagram socket**: created unbound (binding the agent's path would take it over)
//!   and connected to the path; no length prefix. The socket is non-blocking: when the agent's
//!   queue is full, the sender waits up to the write timeout for room, then drops the rest of
//!   the batch and counts it. If the agent went away (restarted, socket file replaced), the
//!   socket is connected again once and the datagram resent.
//! - **Unix stream socket**: every payload is prefixed with its length (4 bytes, little endian),
//!   as the agent's `unixstream` listener reads them. A write that breaks off mid-frame closes
//!   the connection, so the next batch starts on a fresh one at a frame boundary.
//!
//! Every outcome is counted in the client telemetry; the pipeline only hears `Delivered`, or
//! `Rejected` when nothing of a batch could be sent.

use std::io;
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiplatform_push::{Batch, Failure, Outcome, Transport};
use tokio::io::Interest;
use tokio::net::{UdpSocket, UnixDatagram, UnixStream};

use super::addr::AgentAddr;
use super::pack::pack;
use super::telemetry::Counters;

/// How often partial drops are logged at most.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// Sends DogStatsD payloads to the agent: datagrams packed from a batch, never waiting long
/// and never retrying (DogStatsD is fire and forget).
pub struct DogStatsdTransport {
    addr: AgentAddr,
    max_payload: usize,
    write_timeout: Duration,
    counters: Arc<Counters>,
    conn: Option<Conn>,
    ranges: Vec<Range<usize>>,
    frames: Vec<u8>,
    #[cfg(target_os = "linux")]
    mmsg: mmsg::Scratch,
    last_warn: Option<Instant>,
    unlogged: u64,
}

impl std::fmt::Debug for DogStatsdTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DogStatsdTransport")
            .field("addr", &self.addr)
            .field("max_payload", &self.max_payload)
            .field("write_timeout", &self.write_timeout)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

enum Conn {
    Udp(UdpSocket),
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

impl Conn {
    fn fd(&self) -> RawFd {
        match self {
            Conn::Udp(s) => s.as_raw_fd(),
            Conn::Datagram(s) => s.as_raw_fd(),
            Conn::Stream(s) => s.as_raw_fd(),
        }
    }

    fn try_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        match self {
            Conn::Udp(s) => s.try_io(Interest::WRITABLE, f),
            Conn::Datagram(s) => s.try_io(Interest::WRITABLE, f),
            Conn::Stream(s) => s.try_io(Interest::WRITABLE, f),
        }
    }

    async fn writable(&self) -> io::Result<()> {
        match self {
            Conn::Udp(s) => s.writable().await,
            Conn::Datagram(s) => s.writable().await,
            Conn::Stream(s) => s.writable().await,
        }
    }
}

/// What became of one batch's payloads.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    sent_bytes: u64,
    dropped: u64,
    dropped_bytes: u64,
    error: Option<(Failure, String)>,
}

impl Tally {
    fn drop_all(&mut self, ranges: &[Range<usize>]) {
        self.dropped += ranges.len() as u64;
        self.dropped_bytes += ranges.iter().map(|r| r.len() as u64).sum::<u64>();
    }
}

impl DogStatsdTransport {
    /// A transport to `addr`, payloads of at most `max_payload` bytes, waiting at most
    /// `write_timeout` for a full Unix socket to take more.
    pub(crate) fn new(
        addr: AgentAddr,
        max_payload: usize,
        write_timeout: Duration,
        counters: Arc<Counters>,
    ) -> DogStatsdTransport {
        DogStatsdTransport {
            addr,
            max_payload,
            write_timeout,
            counters,
            conn: None,
            ranges: Vec::new(),
            frames: Vec::new(),
            #[cfg(target_os = "linux")]
            mmsg: mmsg::Scratch::default(),
            last_warn: None,
            unlogged: 0,
        }
    }

    /// The agent's address.
    pub fn addr(&self) -> &AgentAddr {
        &self.addr
    }

    async fn connect(&self) -> io::Result<Conn> {
        match &self.addr {
            AgentAddr::Udp { host, port } => {
                let mut last = None;
                for peer in tokio::net::lookup_host((host.as_str(), *port)).await? {
                    let local: std::net::SocketAddr = if peer.is_ipv4() {
                        ([0, 0, 0, 0], 0).into()
                    } else {
                        ([0u16; 8], 0).into()
                    };
                    let attempt = async {
                        let s = UdpSocket::bind(local).await?;
                        s.connect(peer).await?;
                        Ok::<_, io::Error>(s)
                    };
                    match attempt.await {
                        Ok(s) => return Ok(Conn::Udp(s)),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
                }))
            }
            AgentAddr::UnixDatagram(path) => Ok(Conn::Datagram(connect_datagram(path)?)),
            AgentAddr::UnixStream(path) => Ok(Conn::Stream(UnixStream::connect(path).await?)),
            AgentAddr::Unix(path) => match connect_datagram(path) {
                Ok(s) => Ok(Conn::Datagram(s)),
                // The agent listens on a stream socket there.
                Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                    Ok(Conn::Stream(UnixStream::connect(path).await?))
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Sends the datagrams `ranges` of `body` over a datagram socket.
    async fn send_datagrams(&mut self, body: &[u8], tally: &mut Tally) {
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        let ranges = std::mem::take(&mut self.ranges);
        let mut i = 0;
        let mut retried_at = None;
        let mut reconnected = false;
        while i < ranges.len() {
            let Some(conn) = &self.conn else {
                tally.drop_all(&ranges[i..]);
                break;
            };
            let result = conn.try_io(|| self.send_some(conn.fd(), body, &ranges[i..]));
            match result {
                Ok(n) => {
                    for r in &ranges[i..i + n] {
                        tally.sent += 1;
                        tally.sent_bytes += r.len() as u64;
                    }
                    i += n;
                }
                Err(e) if would_block(&e) => {
                    let wait = tokio::time::timeout_at(deadline, conn.writable()).await;
                    if !matches!(wait, Ok(Ok(()))) {
                        tally.error = Some((
                            Failure::Timeout,
                            format!(
                                "the agent's socket stayed full for {:?}",
                                self.write_timeout
                            ),
                        ));
                        tally.drop_all(&ranges[i..]);
                        break;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    // Larger than the socket takes: this one cannot go.
                    tally.error = Some((Failure::Io, e.to_string()));
                    tally.drop_all(&ranges[i..=i]);
                    i += 1;
                }
                Err(e) if matches!(conn, Conn::Udp(_)) => {
                    // Most likely the ICMP error of an earlier datagram: this one was not sent.
                    if retried_at == Some(i) {
                        tally.error = Some((Failure::Connect, e.to_string()));
                        tally.drop_all(&ranges[i..=i]);
                        i += 1;
                    } else {
                        retried_at = Some(i);
                    }
                }
                Err(e) => {
                    // The agent went away (restarted, socket replaced): connect again, once.
                    self.conn = None;
                    if !reconnected {
                        reconnected = true;
                        if let Ok(c) = self.connect().await {
                            self.conn = Some(c);
                            continue;
                        }
                    }
                    tally.error = Some((Failure::Connect, e.to_string()));
                    tally.drop_all(&ranges[i..]);
                    break;
                }
            }
        }
        self.ranges = ranges;
    }

    #[cfg(target_os = "linux")]
    fn send_some(&self, fd: RawFd, body: &[u8], ranges: &[Range<usize>]) -> io::Result<usize> {
        self.mmsg.send(fd, body, ranges)
    }

    #[cfg(not(target_os = "linux"))]
    fn send_some(&self, fd: RawFd, body: &[u8], ranges: &[Range<usize>]) -> io::Result<usize> {
        send_flags(fd, &body[ranges[0].clone()], 0).map(|_| 1)
    }

    /// Sends the payloads as length-prefixed frames over a stream socket.
    async fn send_frames(&mut self, body: &[u8], tally: &mut Tally) {
        self.frames.clear();
        let mut ends = Vec::with_capacity(self.ranges.len());
        for r in &self.ranges {
            self.frames
                .extend_from_slice(&(r.len() as u32).to_le_bytes());
            self.frames.extend_from_slice(&body[r.clone()]);
            ends.push(self.frames.len());
        }
        let deadline = tokio::time::Instant::now() + self.write_timeout;
        let mut written = 0;
        let mut reconnected = false;
        while written < self.frames.len() {
            let Some(conn) = &self.conn else { break };
            let chunk = &self.frames[written..];
            match conn.try_io(|| send_flags(conn.fd(), chunk, libc::MSG_NOSIGNAL)) {
                Ok(n) => written += n,
                Err(e) if would_block(&e) => {
                    let wait = tokio::time::timeout_at(deadline, conn.writable()).await;
                    if !matches!(wait, Ok(Ok(()))) {
                        tally.error = Some((
                            Failure::Timeout,
                            format!(
                                "the agent's socket stayed full for {:?}",
                                self.write_timeout
                            ),
                        ));
                        break;
                    }
                }
                Err(e) => {
                    self.conn = None;
                    // Nothing of this batch went yet: a fresh connection can take all of it.
                    if written == 0 && !reconnected {
                        reconnected = true;
                        if let Ok(c) = self.connect().await {
                            self.conn = Some(c);
                            continue;
                        }
                    }
                    tally.error = Some((Failure::Connect, e.to_string()));
                    break;
                }
            }
        }
        for (r, end) in self.ranges.iter().zip(&ends) {
            if *end <= written {
                tally.sent += 1;
                tally.sent_bytes += r.len() as u64;
            } else {
                tally.dropped += 1;
                tally.dropped_bytes += r.len() as u64;
            }
        }
        if written < self.frames.len() && written > 0 {
            // A frame cut short would make the agent read garbage: start over next time.
            self.conn = None;
        }
    }

    fn warn_partial(&mut self, tally: &Tally) {
        let due = self.last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if !due {
            self.unlogged += tally.dropped;
            return;
        }
        let detail = tally.error.as_ref().map_or("", |(_, d)| d.as_str());
        tracing::warn!(
            agent = %self.addr,
            dropped_datagrams = tally.dropped,
            also_dropped_since_last_log = self.unlogged,
            detail,
            "dogstatsd: datagrams dropped"
        );
        self.last_warn = Some(Instant::now());
        self.unlogged = 0;
    }
}

fn connect_datagram(path: &std::path::Path) -> io::Result<UnixDatagram> {
    // Unbound: binding would claim a path, and binding the agent's own path would take
    // over its socket and silently swallow every metric.
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    Ok(s)
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// `send(2)` with `flags`.
fn send_flags(fd: RawFd, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes for the duration of the call.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(target_os = "linux")]
mod mmsg {
    use std::cell::RefCell;
    use std::io;
    use std::ops::Range;
    use std::os::fd::RawFd;

    /// Datagrams per `sendmmsg` call at most (the kernel's `UIO_MAXIOV`).
    const MAX_PER_CALL: usize = 1024;

    /// Reused message headers. They only point into a body during one call.
    #[derive(Default)]
    pub(super) struct Scratch(RefCell<(Vec<libc::iovec>, Vec<libc::mmsghdr>)>);

    // SAFETY: the raw pointers inside are written right before each `sendmmsg` call and not
    // read after it; no pointer outlives the call, so moving the scratch to another thread
    // between calls moves no live reference.
    unsafe impl Send for Scratch {}

    impl Scratch {
        /// Sends as many of `ranges` of `body` as the socket takes now, in order.
        pub(super) fn send(
            &self,
            fd: RawFd,
            body: &[u8],
            ranges: &[Range<usize>],
        ) -> io::Result<usize> {
            let n = ranges.len().min(MAX_PER_CALL);
            let mut guard = self.0.borrow_mut();
            let (iovs, hdrs) = &mut *guard;
            iovs.clear();
            iovs.extend(ranges[..n].iter().map(|r| libc::iovec {
                iov_base: body[r.clone()].as_ptr() as *mut libc::c_void,
                iov_len: r.len(),
            }));
            hdrs.clear();
            for iov in iovs.iter_mut() {
                // SAFETY: an all-zero `mmsghdr` is a valid empty message (no name, no control).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                hdrs.push(h);
            }
            // SAFETY: `hdrs` holds `n` headers whose single iovec each points into `body`,
            // all alive for the duration of the call.
            let sent = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
            if sent < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(sent as usize)
            }
        }
    }
}

impl Transport for DogStatsdTransport {
    async fn send(&mut self, batch: &Batch) -> Outcome {
        let body = batch.body().clone();
        self.ranges.clear();
        let skipped = pack(&body, self.max_payload, &mut self.ranges);
        self.counters
            .lines_too_long
            .fetch_add(skipped.lines, std::sync::atomic::Ordering::Relaxed);
        if self.ranges.is_empty() {
            return Outcome::Delivered;
        }
        let mut tally = Tally::default();
        if self.conn.is_none() {
            match self.connect().await {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    tally.error = Some((Failure::Connect, e.to_string()));
                    let ranges = std::mem::take(&mut self.ranges);
                    tally.drop_all(&ranges);
                    self.ranges = ranges;
                }
            }
        }
        match &self.conn {
            Some(Conn::Stream(_)) => self.send_frames(&body, &mut tally).await,
            Some(_) => self.send_datagrams(&body, &mut tally).await,
            None => {}
        }
        self.counters.sent(tally.sent, tally.sent_bytes);
        self.counters
            .dropped_writer(tally.dropped, tally.dropped_bytes);
        if tally.dropped == 0 {
            return Outcome::Delivered;
        }
        if tally.sent == 0 {
            let (failure, detail) = tally
                .error
                .take()
                .unwrap_or((Failure::Io, "not sent".to_owned()));
            return Outcome::Rejected {
                failure,
                detail: format!("dogstatsd {}: {detail}", self.addr),
            };
        }
        self.warn_partial(&tally);
        Outcome::Delivered
    }
}
