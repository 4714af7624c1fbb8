//! One PostgreSQL server to scrape: at most one pooled connection, opened on demand with a
//! connect timeout, with `statement_timeout` and `lock_timeout` set, shared by the
//! collectors of a scrape (tokio-postgres pipelines their queries on it), and cancelled with a
//! PostgreSQL cancel request and dropped when a scrape gives up on a query.
//!
//! That is how a locked table or a slow query cannot pile up connections (upstream #1228,
//! #921): every query is bounded by the server-side timeouts, a query the scrape stopped
//! waiting for is cancelled at once, and the next scrape opens a fresh connection instead of
//! queueing behind it. A database that is down costs one connect attempt per scrape, shared
//! by all its collectors.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex as SyncMutex;
use thiserror::Error;
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{CancelToken, Client, NoTls, Row, Statement};

use crate::dsn::Dsn;
use crate::redact::scrub;
use crate::version::ServerVersion;

/// Time limits applied to a target's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest a connection attempt may take (also cut to the scrape's time left).
    pub connect_timeout: Duration,
    /// `statement_timeout` of the exporter's session.
    pub statement_timeout: Duration,
    /// `lock_timeout` of the exporter's session.
    pub lock_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(2),
        }
    }
}

/// Why a query could not be answered. Messages are scrubbed of the target's password.
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum TargetError {
    /// The server could not be reached or refused the login.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// The redacted data source.
        target: String,
        /// Why (scrubbed).
        reason: String,
    },
    /// The connection attempt did not finish in time.
    #[error("connecting to {target} timed out after {after:?}")]
    ConnectTimeout {
        /// The redacted data source.
        target: String,
        /// How long was waited.
        after: Duration,
    },
    /// The query failed (server error, timeout, lost connection).
    #[error("query failed: {0}")]
    Query(String),
}

/// An open connection and what was learnt on opening it.
pub struct Session {
    client: Client,
    cancel: CancelToken,
    task: tokio::task::JoinHandle<()>,
    abort: tokio::task::AbortHandle,
    /// Set when a query was abandoned: the session is cancelled and not reused.
    poisoned: AtomicBool,
    version: ServerVersion,
    version_text: String,
    secret: String,
    id: u64,
    /// Statements prepared on this connection, by SQL text: each query is parsed and planned
    /// once per connection instead of once per scrape.
    statements: SyncMutex<std::collections::HashMap<String, Statement>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// The server's version.
    pub fn version(&self) -> ServerVersion {
        self.version
    }

    /// The full `version()` string.
    pub fn version_text(&self) -> &str {
        &self.version_text
    }

    /// This connection's number (1 for the first opened by the target); cached results tied
    /// to a connection's view (its settings) use it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Runs a query. If the future is dropped before the answer arrives (the scrape's time
    /// ran out), the query is cancelled on the server and the connection is not reused.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, TargetError> {
        let guard = InFlight {
            session: self,
            done: false,
        };
        let cached = self.statements.lock().get(sql).cloned();
        let result = match cached {
            Some(stmt) => self.client.query(&stmt, params).await,
            None => match self.client.prepare(sql).await {
                Ok(stmt) => {
                    self.statements.lock().insert(sql.to_owned(), stmt.clone());
                    self.client.query(&stmt, params).await
                }
                Err(e) => Err(e),
            },
        };
        let mut guard = guard;
        guard.done = true;
        result.map_err(|e| {
            if self.client.is_closed() {
                self.poisoned.store(true, Ordering::Relaxed);
            }
            TargetError::Query(scrub(&error_text(&e), &[&self.secret]))
        })
    }

    fn abandon(&self) {
        if self.poisoned.swap(true, Ordering::AcqRel) {
            return;
        }
        let token = self.cancel.clone();
        let abort = self.abort.clone();
        let id = self.id;
        // Cancel what the server is running, then close the connection so that nothing
        // queued behind it starts: the backend sees the socket close and exits.
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(5), token.cancel_query(NoTls)).await {
                Ok(Ok(())) => tracing::debug!(session = id, "cancelled an abandoned query"),
                Ok(Err(e)) => {
                    tracing::debug!(session = id, err = %error_text(&e), "cancel request failed")
                }
                Err(_) => tracing::debug!(session = id, "cancel request timed out"),
            }
            abort.abort();
        });
    }

    fn is_usable(&self) -> bool {
        !self.poisoned.load(Ordering::Acquire) && !self.client.is_closed()
    }
}

/// Cancels its query when dropped before completion.
struct InFlight<'a> {
    session: &'a Session,
    done: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.session.abandon();
        }
    }
}

/// A tokio-postgres error as text, with the server's message when there is one.
fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                source = inner.source();
            }
            s
        }
    }
}

/// What the last connection attempt found, for `pg_up`.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Whether the last attempt to use the server connected.
    pub up: bool,
    /// The full `version()` text of the server, once known.
    pub version_text: Option<String>,
    /// The server's version, once known.
    pub version: Option<ServerVersion>,
}

/// One server to scrape; see the [module docs](self).
pub struct Target {
    dsn: Dsn,
    config: tokio_postgres::Config,
    limits: Limits,
    /// The whole connection attempt's limit: socket, start-up, authentication and the version
    /// query (tokio-postgres' own `connect_timeout` covers only the socket connect).
    connect_timeout: Duration,
    redacted: String,
    server_label: String,
    slot: Mutex<Slot>,
    health: SyncMutex<Health>,
    sessions_opened: AtomicU64,
}

#[derive(Default)]
struct Slot {
    session: Option<Arc<Session>>,
    /// The last failed connection attempt: when it ended, and why.
    failure: Option<(Instant, TargetError)>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("dsn", &self.redacted)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// A target for `dsn`; nothing is opened until a scrape needs it.
    pub fn new(dsn: Dsn, limits: Limits) -> Target {
        let mut config = dsn.to_config();
        // The DSN's own connect_timeout, if shorter, wins.
        let connect = dsn
            .connect_timeout
            .map_or(limits.connect_timeout, |t| t.min(limits.connect_timeout));
        config.connect_timeout(connect);
        let opts = format!(
            "-c statement_timeout={} -c lock_timeout={}",
            limits.statement_timeout.as_millis().max(1),
            limits.lock_timeout.as_millis().max(1)
        );
        let options = match &dsn.options {
            Some(o) if !o.is_empty() => format!("{o} {opts}"),
            _ => opts,
        };
        config.options(&options);
        Target {
            connect_timeout: connect,
            redacted: dsn.redacted(),
            server_label: dsn.server_label(),
            dsn,
            config,
            limits,
            slot: Mutex::new(Slot::default()),
            health: SyncMutex::new(Health::default()),
            sessions_opened: AtomicU64::new(0),
        }
    }

    /// The data source, password redacted.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// `host:port` (postgres_exporter's `server` label).
    pub fn server_label(&self) -> &str {
        &self.server_label
    }

    /// The parsed data source.
    pub fn dsn(&self) -> &Dsn {
        &self.dsn
    }

    /// What the last use of the server found.
    pub fn health(&self) -> Health {
        self.health.lock().clone()
    }

    /// How many connections were opened so far.
    pub fn sessions_opened(&self) -> u64 {
        self.sessions_opened.load(Ordering::Relaxed)
    }

    /// The pooled session, opened if needed. `started` is when the caller's scrape work
    /// began: a connection attempt that failed after it is not repeated (every collector of
    /// a scrape shares one attempt), and `deadline` bounds the attempt.
    pub async fn session(
        &self,
        started: Instant,
        deadline: Instant,
    ) -> Result<Arc<Session>, TargetError> {
        let mut slot = tokio::time::timeout_at(deadline.into(), self.slot.lock())
            .await
            .map_err(|_| TargetError::ConnectTimeout {
                target: self.redacted.clone(),
                after: deadline.saturating_duration_since(started),
            })?;
        if let Some(s) = &slot.session {
            if s.is_usable() {
                return Ok(s.clone());
            }
            slot.session = None;
        }
        if let Some((at, err)) = &slot.failure
            && *at >= started
        {
            return Err(err.clone());
        }
        // Pessimistic until the attempt succeeds: a scrape that gives up while connecting
        // reports the server as down.
        self.health.lock().up = false;
        match self.connect(deadline).await {
            Ok(session) => {
                let session = Arc::new(session);
                slot.session = Some(session.clone());
                slot.failure = None;
                let mut h = self.health.lock();
                h.up = true;
                h.version_text = Some(session.version_text.clone());
                h.version = Some(session.version);
                Ok(session)
            }
            Err(e) => {
                tracing::warn!(target = %self.redacted, err = %e, "Error opening connection to database");
                slot.failure = Some((Instant::now(), e.clone()));
                self.health.lock().up = false;
                Err(e)
            }
        }
    }

    /// Drops the pooled session (the next scrape reconnects).
    pub async fn reset(&self) {
        self.slot.lock().await.session = None;
    }

    async fn connect(&self, deadline: Instant) -> Result<Session, TargetError> {
        let started = Instant::now();
        let secret = self.dsn.password.expose().to_owned();
        let scrub_err = |e: &tokio_postgres::Error| TargetError::Connect {
            target: self.redacted.clone(),
            reason: scrub(&error_text(e), &[&secret]),
        };
        let attempt = async {
            let (client, connection) = self
                .config
                .connect(NoTls)
                .await
                .map_err(|e| scrub_err(&e))?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(err = %error_text(&e), "database connection closed");
                }
            });
            let row = client
                .query_one(
                    "SELECT version(), current_setting('server_version_num')::int",
                    &[],
                )
                .await
                .map_err(|e| {
                    task.abort();
                    scrub_err(&e)
                })?;
            let version_text: String = row.get(0);
            let num: i32 = row.get(1);
            Ok::<_, TargetError>((client, task, version_text, num))
        };
        // A server that accepts the TCP connection and never answers the start-up message
        // held a scrape for the whole collection time limit.
        let until = deadline.min(started + self.connect_timeout);
        let (client, task, version_text, num) =
            match tokio::time::timeout_at(until.into(), attempt).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(TargetError::ConnectTimeout {
                        target: self.redacted.clone(),
                        after: started.elapsed(),
                    });
                }
            };
        let id = self.sessions_opened.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(target = %self.redacted, session = id, "Established new database connection");
        Ok(Session {
            cancel: client.cancel_token(),
            client,
            abort: task.abort_handle(),
            task,
            poisoned: AtomicBool::new(false),
            version: ServerVersion::from_num(num),
            version_text,
            secret,
            id,
            statements: SyncMutex::new(std::collections::HashMap::new()),
        })
    }
}
