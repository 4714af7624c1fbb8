//! One connection to a Redis: connect, `AUTH`, `CLIENT SETNAME`, `SELECT`, and pipelined
//! commands, over TCP or a Unix socket.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;

use crate::address::{Endpoint, RedisAddress};
use crate::resp::{self, ProtocolError, Reply};
use crate::tls::RedisTls;

/// A password that never shows in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The password, for `AUTH` only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (no `AUTH` is sent).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// User and password sent with `AUTH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// ACL user (Redis 6+); `None` for the default user.
    pub user: Option<String>,
    /// Password; empty sends no `AUTH`.
    pub password: Secret,
}

/// Why talking to Redis failed. No variant holds a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Connecting failed.
    #[error("dial {addr}: {source}")]
    Connect {
        /// The address, without credentials.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading or writing failed.
    #[error("i/o with redis: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection.
    #[error("redis closed the connection")]
    Closed,
    /// The time limit passed.
    #[error("timed out talking to redis after {0:?}")]
    Timeout(Duration),
    /// The reply was not valid RESP.
    #[error("redis protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// `AUTH` was refused (the server's message, which never echoes the password).
    #[error("redis AUTH failed: {0}")]
    Auth(String),
    /// The TLS settings cannot be used (the text names the file at fault).
    #[error("redis TLS settings: {0}")]
    TlsSetup(String),
    /// The TLS handshake failed (certificate not trusted, wrong name, ...).
    #[error("TLS handshake with {addr}: {source}")]
    TlsHandshake {
        /// The address, without credentials.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl ConnError {
    /// Whether the connection itself failed (closed, reset, broken protocol), as opposed to
    /// a time limit or a refusal: a kept connection that fails this way is worth one retry.
    pub fn is_broken_connection(&self) -> bool {
        matches!(
            self,
            ConnError::Io(_) | ConnError::Closed | ConnError::Protocol(_)
        )
    }
}

enum Stream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Unix(UnixStream),
}

/// An open connection.
pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    out: Vec<u8>,
    connect_time: Duration,
    db: u32,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("connect_time", &self.connect_time)
            .finish_non_exhaustive()
    }
}

/// What [`Connection::open`] does after connecting.
#[derive(Debug, Clone)]
pub struct ConnectOptions<'a> {
    /// Credentials for `AUTH`.
    pub credentials: &'a Credentials,
    /// `CLIENT SETNAME` value (`--set-client-name`), if any.
    pub client_name: Option<&'a str>,
    /// Time limit for connecting and the handshake.
    pub deadline: Instant,
    /// TLS settings for `rediss://` addresses.
    pub tls: &'a RedisTls,
}

async fn deadline<T>(
    at: Instant,
    fut: impl Future<Output = Result<T, ConnError>>,
) -> Result<T, ConnError> {
    let limit = at.saturating_duration_since(Instant::now());
    tokio::time::timeout_at(at, fut)
        .await
        .unwrap_or(Err(ConnError::Timeout(limit)))
}

impl Connection {
    /// Connects, authenticates, names the client and selects the address's database.
    pub async fn open(
        addr: &RedisAddress,
        opts: &ConnectOptions<'_>,
    ) -> Result<Connection, ConnError> {
        let started = Instant::now();
        let stream = deadline(opts.deadline, async {
            match &addr.endpoint {
                Endpoint::Tcp { host, port } => {
                    let s = TcpStream::connect((host.as_str(), *port))
                        .await
                        .map_err(|source| ConnError::Connect {
                            addr: addr.key().to_owned(),
                            source,
                        })?;
                    let _ = s.set_nodelay(true);
                    if !addr.tls {
                        return Ok(Stream::Tcp(s));
                    }
                    let config = opts.tls.config().map_err(ConnError::TlsSetup)?;
                    let name = opts.tls.server_name(host).map_err(ConnError::TlsSetup)?;
                    let tls = tokio_rustls::TlsConnector::from(config)
                        .connect(name, s)
                        .await
                        .map_err(|source| ConnError::TlsHandshake {
                            addr: addr.key().to_owned(),
                            source,
                        })?;
                    Ok(Stream::Tls(Box::new(tls)))
                }
                Endpoint::Unix(path) => {
                    UnixStream::connect(path)
                        .await
                        .map(Stream::Unix)
                        .map_err(|source| ConnError::Connect {
                            addr: addr.key().to_owned(),
                            source,
                        })
                }
            }
        })
        .await?;
        let mut conn = Connection {
            stream,
            buf: Vec::with_capacity(16 << 10),
            out: Vec::new(),
            connect_time: Duration::ZERO,
            db: addr.db.unwrap_or(0),
        };
        let creds = opts.credentials;
        let mut cmds: Vec<Vec<String>> = Vec::new();
        let auth = !creds.password.is_empty();
        if auth {
            let mut c = vec!["AUTH".to_owned()];
            c.extend(creds.user.clone());
            c.push(creds.password.expose().to_owned());
            cmds.push(c);
        }
        if let Some(name) = opts.client_name {
            cmds.push(vec!["CLIENT".into(), "SETNAME".into(), name.into()]);
        }
        if let Some(db) = addr.db {
            cmds.push(vec!["SELECT".into(), db.to_string()]);
        }
        if !cmds.is_empty() {
            let replies = deadline(opts.deadline, conn.pipeline(&cmds)).await?;
            if auth && let Some(e) = replies[0].error() {
                return Err(ConnError::Auth(e.to_owned()));
            }
            for r in &replies[usize::from(auth)..] {
                if let Some(e) = r.error() {
                    tracing::debug!(error = e, "redis handshake command failed");
                }
            }
        }
        conn.connect_time = started.elapsed();
        Ok(conn)
    }

    /// The database the address selects (0 when it names none).
    pub fn db(&self) -> u32 {
        self.db
    }

    /// How long connecting and the handshake took.
    pub fn connect_time(&self) -> Duration {
        self.connect_time
    }

    /// Sends every command at once and reads one reply per command, in order. Error replies
    /// are returned as [`Reply::Error`], not as `Err`.
    pub async fn pipeline<A: AsRef<[u8]>, C: AsRef<[A]>>(
        &mut self,
        cmds: &[C],
    ) -> Result<Vec<Reply>, ConnError> {
        self.out.clear();
        for c in cmds {
            resp::encode_command(c.as_ref(), &mut self.out);
        }
        let out = std::mem::take(&mut self.out);
        let written = self.write_all(&out).await;
        self.out = out;
        written?;
        let mut replies = Vec::with_capacity(cmds.len());
        while replies.len() < cmds.len() {
            replies.push(self.read_reply().await?);
        }
        Ok(replies)
    }

    /// Sends one command and reads its reply.
    pub async fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply, ConnError> {
        let mut r = self.pipeline(&[args]).await?;
        Ok(r.pop().unwrap_or(Reply::Bulk(None)))
    }

    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Tcp(s) => s.write_all(data).await,
            Stream::Tls(s) => s.write_all(data).await,
            Stream::Unix(s) => s.write_all(data).await,
        }
    }

    async fn read_more(&mut self) -> Result<(), ConnError> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(self.buf.capacity().max(16 << 10));
        }
        let n = match &mut self.stream {
            Stream::Tcp(s) => read_buf(s, &mut self.buf).await?,
            Stream::Tls(s) => read_buf(s.as_mut(), &mut self.buf).await?,
            Stream::Unix(s) => read_buf(s, &mut self.buf).await?,
        };
        if n == 0 {
            return Err(ConnError::Closed);
        }
        Ok(())
    }

    async fn read_reply(&mut self) -> Result<Reply, ConnError> {
        loop {
            if let Some((reply, used)) = resp::parse(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            self.read_more().await?;
        }
    }
}

async fn read_buf<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> io::Result<usize> {
    s.read_buf(buf).await
}
