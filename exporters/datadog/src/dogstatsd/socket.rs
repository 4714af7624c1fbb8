//! The DogStatsD transport: packs a batch's lines into datagrams and hands them to the agent's
//! socket, without ever waiting long or retrying: DogStatsD is fire and forget.
//!
//! - **UDP**: a connected socket; on Linux every datagram of a batch goes out through
//!   `sendmmsg`, up to 1024 per system call. A refused datagram (the ICMP error of an earlier
//!   send to a port nobody listens on) is tried once more, then counted as dropped.
//! - **UDP segmentation offload** (Linux 4.18+): most of the kernel's cost is per datagram
//!   sent, so up to 64 datagrams (at most 64 KiB) go out as one message with a `UDP_SEGMENT`
//!   control message, and the kernel cuts it back into the same datagrams, which the agent
//!   receives as before: on loopback, about half the kernel time of a flush. The
//!   kernel cuts every segment size bytes, so every datagram but a message's last is padded
//!   with `\n` to exactly the payload size; the agent skips empty lines (`parsePackets`), and
//!   an old agent that stops at the first empty line has read every metric by then. The
//!   bytes sent in the client telemetry (`bytes_sent`) count the padding: what went on the
//!   wire. If the kernel refuses segmentation (an old kernel, a path MTU below the payload
//!   size, a socket without UDP checksums: `EINVAL`, `EIO`, `ENOPROTOOPT`, ...), the refused
//!   datagrams and every later one go out plain, unpadded, and segmentation is not tried
//!   again on that transport. Unix sockets never segment nor pad.
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
            mmsg: mmsg::Scratch::new(max_payload),
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
            let udp = matches!(conn, Conn::Udp(_));
            let result = conn.try_io(|| self.send_some(conn.fd(), body, &ranges[i..], udp));
            match result {
                Ok((n, bytes)) => {
                    tally.sent += n as u64;
                    tally.sent_bytes += bytes;
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

    /// Sends some of `ranges`, in order: how many and their bytes on the wire.
    #[cfg(target_os = "linux")]
    fn send_some(
        &self,
        fd: RawFd,
        body: &[u8],
        ranges: &[Range<usize>],
        udp: bool,
    ) -> io::Result<(usize, u64)> {
        self.mmsg.send(fd, body, ranges, udp)
    }

    #[cfg(not(target_os = "linux"))]
    fn send_some(
        &self,
        fd: RawFd,
        body: &[u8],
        ranges: &[Range<usize>],
        _udp: bool,
    ) -> io::Result<(usize, u64)> {
        send_flags(fd, &body[ranges[0].clone()], 0).map(|n| (1, n as u64))
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
    use std::cell::{Cell, RefCell};
    use std::io;
    use std::ops::Range;
    use std::os::fd::RawFd;

    use crate::dogstatsd::addr::UDP_MAX_PAYLOAD_BYTES;

    /// Messages per `sendmmsg` call at most (the kernel's `UIO_MAXIOV`).
    const MAX_PER_CALL: usize = 1024;

    /// Segments per UDP GSO send at most (the kernel's `UDP_MAX_SEGMENTS` before 6.x).
    const MAX_SEGMENTS: usize = 64;

    /// Space for one `UDP_SEGMENT` control message (a `u16`), aligned as a `cmsghdr`.
    #[derive(Clone, Copy)]
    #[repr(C, align(8))]
    struct SegmentCmsg([u8; 32]);

    /// Whether UDP datagrams go out through generic segmentation offload.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Gso {
        /// Not probed yet (no UDP socket seen).
        Unknown,
        /// The kernel takes `UDP_SEGMENT`, with this many datagrams per send at most.
        On(usize),
        /// Refused once, or not worth it for this payload size: plain datagrams from now on.
        Off,
    }

    #[derive(Default)]
    struct Buffers {
        iovs: Vec<libc::iovec>,
        hdrs: Vec<libc::mmsghdr>,
        cmsgs: Vec<SegmentCmsg>,
        /// Datagrams in each message of the call being built, and the index of its first iovec.
        per_msg: Vec<usize>,
        firsts: Vec<usize>,
        /// `\n` bytes to pad segments with.
        pad: Vec<u8>,
    }

    /// Reused message headers. They only point into a body during one call.
    pub(super) struct Scratch {
        max_payload: usize,
        gso: Cell<Gso>,
        bufs: RefCell<Buffers>,
    }

    // SAFETY: the raw pointers inside are written right before each `sendmmsg` call and not
    // read after it; no pointer outlives the call, so moving the scratch to another thread
    // between calls moves no live reference.
    unsafe impl Send for Scratch {}

    impl Scratch {
        /// Scratch for datagrams of at most `max_payload` bytes.
        pub(super) fn new(max_payload: usize) -> Scratch {
            Scratch {
                max_payload,
                gso: Cell::new(Gso::Unknown),
                bufs: RefCell::default(),
            }
        }

        /// Whether UDP sends go through segmentation offload now.
        #[cfg(test)]
        pub(super) fn gso_on(&self) -> bool {
            matches!(self.gso.get(), Gso::On(_))
        }

        /// Sends as many of `ranges` of `body` as the socket takes now, in order; returns how
        /// many went and their bytes on the wire. `udp`: `fd` is a UDP socket, which may
        /// segment (see the module docs).
        pub(super) fn send(
            &self,
            fd: RawFd,
            body: &[u8],
            ranges: &[Range<usize>],
            udp: bool,
        ) -> io::Result<(usize, u64)> {
            if udp {
                if self.gso.get() == Gso::Unknown {
                    self.gso.set(probe(fd, self.max_payload));
                }
                if let Gso::On(per_send) = self.gso.get() {
                    match self.send_segmented(fd, body, ranges, per_send) {
                        Err(e) if refuses_gso(&e) => {
                            tracing::debug!(error = %e, "dogstatsd: UDP segmentation offload refused; sending plain datagrams");
                            self.gso.set(Gso::Off);
                        }
                        other => return other,
                    }
                }
            }
            self.send_plain(fd, body, ranges)
        }

        fn send_plain(
            &self,
            fd: RawFd,
            body: &[u8],
            ranges: &[Range<usize>],
        ) -> io::Result<(usize, u64)> {
            let n = ranges.len().min(MAX_PER_CALL);
            let mut guard = self.bufs.borrow_mut();
            let b = &mut *guard;
            b.iovs.clear();
            b.iovs.extend(ranges[..n].iter().map(|r| libc::iovec {
                iov_base: body[r.clone()].as_ptr() as *mut libc::c_void,
                iov_len: r.len(),
            }));
            b.hdrs.clear();
            for iov in b.iovs.iter_mut() {
                // SAFETY: an all-zero `mmsghdr` is a valid empty message (no name, no control).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                b.hdrs.push(h);
            }
            // SAFETY: `hdrs` holds `n` headers whose single iovec each points into `body`,
            // all alive for the duration of the call.
            let sent = unsafe { libc::sendmmsg(fd, b.hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
            if sent < 0 {
                return Err(io::Error::last_os_error());
            }
            let sent = sent as usize;
            Ok((sent, ranges[..sent].iter().map(|r| r.len() as u64).sum()))
        }

        /// One message per up to `per_send` datagrams: every datagram but a message's last
        /// padded with `\n` to exactly `max_payload` bytes, the kernel cutting the message
        /// back into those datagrams (`UDP_SEGMENT`).
        fn send_segmented(
            &self,
            fd: RawFd,
            body: &[u8],
            ranges: &[Range<usize>],
            per_send: usize,
        ) -> io::Result<(usize, u64)> {
            let seg = self.max_payload;
            let mut guard = self.bufs.borrow_mut();
            let b = &mut *guard;
            if b.pad.len() != seg {
                b.pad = vec![b'\n'; seg];
            }
            let msgs = ranges.len().div_ceil(per_send).min(MAX_PER_CALL);
            b.iovs.clear();
            b.per_msg.clear();
            // Every iovec first: `iovs` must not move once headers point into it.
            b.firsts.clear();
            for group in ranges.chunks(per_send).take(msgs) {
                b.firsts.push(b.iovs.len());
                for (j, r) in group.iter().enumerate() {
                    b.iovs.push(libc::iovec {
                        iov_base: body[r.clone()].as_ptr() as *mut libc::c_void,
                        iov_len: r.len(),
                    });
                    let pad = seg - r.len();
                    if j + 1 < group.len() && pad > 0 {
                        b.iovs.push(libc::iovec {
                            iov_base: b.pad.as_ptr() as *mut libc::c_void,
                            iov_len: pad,
                        });
                    }
                }
                b.per_msg.push(group.len());
            }
            b.cmsgs.clear();
            b.cmsgs.resize(msgs, SegmentCmsg([0; 32]));
            b.hdrs.clear();
            for m in 0..msgs {
                let first = b.firsts[m];
                let end = b.firsts.get(m + 1).copied().unwrap_or(b.iovs.len());
                // SAFETY: an all-zero `mmsghdr` is a valid empty message.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = b.iovs[first..].as_mut_ptr();
                h.msg_hdr.msg_iovlen = (end - first) as _;
                if b.per_msg[m] > 1 {
                    let cbuf = &mut b.cmsgs[m];
                    h.msg_hdr.msg_control = cbuf.0.as_mut_ptr().cast();
                    // SAFETY: plain arithmetic on sizes.
                    h.msg_hdr.msg_controllen =
                        unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
                    // SAFETY: `msg_control` points to 32 aligned bytes, more than
                    // `CMSG_SPACE(2)`, so the first header and its `u16` fit.
                    unsafe {
                        let c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                        (*c).cmsg_level = libc::SOL_UDP;
                        (*c).cmsg_type = libc::UDP_SEGMENT;
                        (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                        libc::CMSG_DATA(c).cast::<u16>().write_unaligned(seg as u16);
                    }
                }
                b.hdrs.push(h);
            }
            // SAFETY: `hdrs` holds `msgs` headers whose iovecs point into `body` and `pad`
            // and whose control messages point into `cmsgs`, all alive and unmoved for the
            // duration of the call.
            let sent = unsafe { libc::sendmmsg(fd, b.hdrs.as_mut_ptr(), msgs as libc::c_uint, 0) };
            if sent < 0 {
                return Err(io::Error::last_os_error());
            }
            let sent_msgs = sent as usize;
            let datagrams: usize = b.per_msg[..sent_msgs].iter().sum();
            // Padded to `seg` but a message's last.
            let bytes = (seg * (datagrams - sent_msgs)) as u64
                + ranges
                    .chunks(per_send)
                    .take(sent_msgs)
                    .map(|g| g[g.len() - 1].len() as u64)
                    .sum::<u64>();
            Ok((datagrams, bytes))
        }
    }

    /// Whether the kernel takes `UDP_SEGMENT` on `fd` (Linux 4.18+), and how many datagrams
    /// of `seg` bytes then fit one send. Worth it from two on.
    fn probe(fd: RawFd, seg: usize) -> Gso {
        let per_send = MAX_SEGMENTS.min(UDP_MAX_PAYLOAD_BYTES / seg.max(1));
        if per_send < 2 || seg > usize::from(u16::MAX) {
            return Gso::Off;
        }
        let set = |v: libc::c_int| {
            // SAFETY: a valid socket and an int option of the right size.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_UDP,
                    libc::UDP_SEGMENT,
                    (&raw const v).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            }
        };
        // The socket-wide option would also cut plain sends: set per message instead.
        if set(seg as libc::c_int) != 0 {
            return Gso::Off;
        }
        if set(0) != 0 {
            return Gso::Off;
        }
        Gso::On(per_send)
    }

    /// Errors by which the kernel refuses segmentation offload for this socket or route (an
    /// old kernel, a path MTU below the segment size, no UDP checksums, IPsec).
    fn refuses_gso(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EMSGSIZE | libc::EOPNOTSUPP)
        )
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::*;

    const MAX: usize = 1432;

    /// Lines of varied lengths, and their datagrams as the transport packs them.
    fn packed() -> (Vec<u8>, Vec<Range<usize>>) {
        let body: String = (0..6000)
            .map(|i| format!("app.m{i}:{}|g|#k:{}\n", i * 7, "v".repeat(i % 61)))
            .collect();
        let mut ranges = Vec::new();
        pack(body.as_bytes(), MAX, &mut ranges);
        (body.into_bytes(), ranges)
    }

    /// A receiver with room for a whole flush, and a sender connected to it.
    fn pair() -> (UdpSocket, UdpSocket) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let bytes: libc::c_int = 8 << 20;
        // SAFETY: a valid socket and an int option of the right size.
        unsafe {
            libc::setsockopt(
                rx.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const bytes).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        rx.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        (rx, tx)
    }

    /// Sends every range (waiting out a full buffer) and returns the bytes counted as sent.
    fn send_all(s: &mmsg::Scratch, tx: &UdpSocket, body: &[u8], ranges: &[Range<usize>]) -> u64 {
        let (mut i, mut bytes) = (0, 0);
        while i < ranges.len() {
            match s.send(tx.as_raw_fd(), body, &ranges[i..], true) {
                Ok((n, b)) => {
                    i += n;
                    bytes += b;
                }
                Err(e) if would_block(&e) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("send: {e}"),
            }
        }
        bytes
    }

    fn received(rx: &UdpSocket) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = rx.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    /// Every datagram is a packed one, in order, once, padded at most to exactly `MAX`.
    fn check(got: &[Vec<u8>], body: &[u8], ranges: &[Range<usize>]) -> usize {
        assert_eq!(got.len(), ranges.len(), "one datagram per packed payload");
        let mut padded = 0;
        for (d, r) in got.iter().zip(ranges) {
            assert!(d.len() <= MAX, "{} bytes", d.len());
            let content = &d[..r.len().min(d.len())];
            assert_eq!(content, &body[r.clone()]);
            let pad = &d[r.len()..];
            assert!(pad.iter().all(|&b| b == b'\n'));
            if !pad.is_empty() {
                assert_eq!(d.len(), MAX, "padding fills a datagram exactly");
                padded += 1;
            }
        }
        padded
    }

    #[test]
    fn segmented_sends_deliver_every_datagram_once_in_order_padded_to_the_segment() {
        let (body, ranges) = packed();
        assert!(ranges.len() > 64 * 2, "more than two sends' worth");
        let (rx, tx) = pair();
        let s = mmsg::Scratch::new(MAX);
        let bytes = send_all(&s, &tx, &body, &ranges);
        assert!(s.gso_on(), "Linux 4.18+ segments UDP");
        let got = received(&rx);
        let padded = check(&got, &body, &ranges);
        // All but the last of each send are padded (unless full already).
        let per_send = 64.min(super::super::addr::UDP_MAX_PAYLOAD_BYTES / MAX);
        let sends = ranges.len().div_ceil(per_send);
        let full = ranges.iter().filter(|r| r.len() == MAX).count();
        assert!(padded + full >= ranges.len() - sends, "{padded} padded");
        assert_eq!(bytes, got.iter().map(|d| d.len() as u64).sum::<u64>());
    }

    #[test]
    fn plain_datagrams_when_the_kernel_refuses_segmentation() {
        let (body, ranges) = packed();
        let (rx, tx) = pair();
        // Without UDP checksums the kernel refuses to segment (EINVAL).
        let one: libc::c_int = 1;
        // SAFETY: a valid socket and an int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                tx.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_NO_CHECK,
                (&raw const one).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        let s = mmsg::Scratch::new(MAX);
        let bytes = send_all(&s, &tx, &body, &ranges);
        assert!(!s.gso_on(), "refused once, not tried again");
        let got = received(&rx);
        assert_eq!(check(&got, &body, &ranges), 0, "nothing padded");
        let total: u64 = ranges.iter().map(|r| r.len() as u64).sum();
        assert_eq!(bytes, total);
    }
}
