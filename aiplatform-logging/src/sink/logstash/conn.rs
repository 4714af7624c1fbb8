//! One connection to Logstash, plain or TLS, with what the shipper needs to know about it:
//! how many bytes went to the socket, how many of those the peer has not acknowledged yet,
//! and whether the peer has gone away.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// A TCP stream that counts the bytes written to the socket.
#[derive(Debug)]
pub(crate) struct Counting {
    pub(crate) sock: TcpStream,
    written: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sock.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(buf)
    }
}

#[derive(Debug)]
pub(crate) enum Conn {
    Plain(Counting),
    Tls(Box<StreamOwned<ClientConnection, Counting>>),
}

impl Conn {
    pub(crate) fn connect(
        addr: &str,
        connect_timeout: Duration,
        write_timeout: Duration,
        tls: Option<&(Arc<ClientConfig>, ServerName<'static>)>,
    ) -> io::Result<Conn> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "address resolved to nothing");
        let mut sock = None;
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, connect_timeout) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let sock = sock.ok_or(last)?;
        sock.set_nodelay(true)?;
        sock.set_write_timeout(Some(write_timeout))?;
        let counting = Counting { sock, written: 0 };
        let Some((config, name)) = tls else {
            return Ok(Conn::Plain(counting));
        };
        let conn = ClientConnection::new(config.clone(), name.clone()).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, counting);
        stream.sock.sock.set_read_timeout(Some(connect_timeout))?;
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        stream.sock.sock.set_read_timeout(None)?;
        Ok(Conn::Tls(Box::new(stream)))
    }

    fn counting(&self) -> &Counting {
        match self {
            Conn::Plain(c) => c,
            Conn::Tls(s) => &s.sock,
        }
    }

    /// Writes all of `buf` and pushes it to the socket (for TLS: encrypts and sends it).
    pub(crate) fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(c) => c.write_all(buf),
            Conn::Tls(s) => {
                s.write_all(buf)?;
                s.flush()
            }
        }
    }

    /// Bytes handed to the socket so far on this connection.
    pub(crate) fn written(&self) -> u64 {
        self.counting().written
    }

    /// Bytes written that the peer's TCP stack has not acknowledged yet (`SIOCOUTQ`), where
    /// the platform tells.
    pub(crate) fn unacked(&self) -> Option<u64> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let mut n: libc::c_int = 0;
            // SAFETY: the descriptor is open for the lifetime of `self`, and TIOCOUTQ (equal to
            // SIOCOUTQ on Linux) writes one c_int through the valid pointer we pass.
            let rc =
                unsafe { libc::ioctl(self.counting().sock.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
            if rc == 0 && n >= 0 {
                return Some(n as u64);
            }
        }
        None
    }

    /// Whether the peer is still there. Logstash never sends application data, so anything
    /// readable is either TLS housekeeping or the end of the connection.
    pub(crate) fn alive(&mut self) -> bool {
        let sock = self.counting().sock.try_clone();
        let Ok(sock) = sock else { return false };
        if sock.set_nonblocking(true).is_err() {
            return false;
        }
        let alive = match self {
            Conn::Plain(c) => {
                let mut b = [0u8; 1];
                match c.sock.peek(&mut b) {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(e) => e.kind() == io::ErrorKind::WouldBlock,
                }
            }
            Conn::Tls(s) => tls_alive(s),
        };
        let _ = sock.set_nonblocking(false);
        alive
    }
}

fn tls_alive(s: &mut StreamOwned<ClientConnection, Counting>) -> bool {
    loop {
        match s.conn.read_tls(&mut s.sock) {
            Ok(0) => return false,
            Ok(_) => match s.conn.process_new_packets() {
                Ok(state) => {
                    if state.peer_has_closed() {
                        return false;
                    }
                    let mut sink = [0u8; 4096];
                    let _ = s.conn.reader().read(&mut sink);
                }
                Err(_) => return false,
            },
            Err(e) => return e.kind() == io::ErrorKind::WouldBlock,
        }
    }
}
