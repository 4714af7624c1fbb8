//! Where the web config comes from, and when it is read again.
//!
//! The toolkit re-reads the file on every request (users, headers) and the TLS material on
//! every handshake. Here each request costs one `stat` of the config file, and each new TLS
//! connection one `stat` per certificate file; the files are parsed again only when their
//! modification time, size or inode changed. A file that becomes invalid while running fails
//! closed (HTTP 500, handshake refused), as in the toolkit, and is logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;

use crate::error::{TlsError, WebConfigError};
use crate::tls;
use crate::web_config::WebConfig;

/// What a file looked like when it was last read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

/// The server's web config: none, fixed, or a file watched for changes.
#[derive(Debug)]
pub(crate) enum ConfigSource {
    /// No web config: plain HTTP, no auth.
    None,
    /// A config given in code; read once.
    Fixed {
        config: Arc<WebConfig>,
        tls: Option<Arc<rustls::ServerConfig>>,
    },
    /// A file, re-read when it or its certificates change.
    File(LiveFile),
}

impl ConfigSource {
    /// A fixed config; its TLS material is loaded now.
    pub(crate) fn fixed(config: WebConfig) -> Result<ConfigSource, WebConfigError> {
        let tls = build_tls(&config)
            .map_err(|source| WebConfigError::Tls {
                path: PathBuf::from("<in code>"),
                source,
            })?
            .map(Arc::new);
        Ok(ConfigSource::Fixed {
            config: Arc::new(config),
            tls,
        })
    }

    /// A file; it and its TLS material are loaded now, so mistakes surface at start-up.
    pub(crate) fn file(path: PathBuf) -> Result<ConfigSource, WebConfigError> {
        Ok(ConfigSource::File(LiveFile::open(path)?))
    }

    /// Whether listeners serve TLS (decided at start-up, as in the toolkit).
    pub(crate) fn tls_enabled(&self) -> bool {
        match self {
            ConfigSource::None => false,
            ConfigSource::Fixed { tls, .. } => tls.is_some(),
            ConfigSource::File(f) => f.state.lock().tls.is_some(),
        }
    }

    /// The config to apply to one request; `None` when there is no web config.
    pub(crate) fn current(&self) -> Result<Option<Arc<WebConfig>>, Arc<WebConfigError>> {
        match self {
            ConfigSource::None => Ok(None),
            ConfigSource::Fixed { config, .. } => Ok(Some(config.clone())),
            ConfigSource::File(f) => f.config().map(Some),
        }
    }

    /// The rustls configuration for one new connection.
    pub(crate) fn tls(&self) -> Result<Arc<rustls::ServerConfig>, Arc<WebConfigError>> {
        match self {
            ConfigSource::None => unreachable!("tls() is only called when TLS is enabled"),
            ConfigSource::Fixed { tls, .. } => Ok(tls
                .clone()
                .expect("tls() is only called when TLS is enabled")),
            ConfigSource::File(f) => f.tls(),
        }
    }
}

fn build_tls(config: &WebConfig) -> Result<Option<rustls::ServerConfig>, TlsError> {
    config
        .tls
        .as_ref()
        .map(|t| tls::server_config(t, config.http2))
        .transpose()
}

/// A web config file and what was last read from it.
#[derive(Debug)]
pub(crate) struct LiveFile {
    path: PathBuf,
    state: Mutex<LiveState>,
}

#[derive(Debug)]
struct LiveState {
    stamp: Option<Stamp>,
    config: Result<Arc<WebConfig>, Arc<WebConfigError>>,
    tls: Option<TlsState>,
}

#[derive(Debug)]
struct TlsState {
    /// The config the TLS settings were built from.
    from: Arc<WebConfig>,
    stamps: Vec<Option<Stamp>>,
    server: Arc<rustls::ServerConfig>,
}

impl LiveFile {
    fn open(path: PathBuf) -> Result<LiveFile, WebConfigError> {
        let stamp = stamp(&path);
        let config = Arc::new(WebConfig::load(&path)?);
        let tls = match build_tls(&config) {
            Ok(server) => server.map(|server| TlsState {
                stamps: config.tls_files().iter().map(|p| self::stamp(p)).collect(),
                from: config.clone(),
                server: Arc::new(server),
            }),
            Err(source) => return Err(WebConfigError::Tls { path, source }),
        };
        Ok(LiveFile {
            state: Mutex::new(LiveState {
                stamp,
                config: Ok(config),
                tls,
            }),
            path,
        })
    }

    fn config(&self) -> Result<Arc<WebConfig>, Arc<WebConfigError>> {
        let now = stamp(&self.path);
        let mut state = self.state.lock();
        if state.stamp != now || now.is_none() {
            state.stamp = now;
            state.config = WebConfig::load(&self.path).map(Arc::new).map_err(|e| {
                tracing::error!(err = %e, "Unable to parse configuration");
                Arc::new(e)
            });
        }
        state.config.clone()
    }

    fn tls(&self) -> Result<Arc<rustls::ServerConfig>, Arc<WebConfigError>> {
        let config = self.config()?;
        let files = config.tls_files();
        let stamps: Vec<Option<Stamp>> = files.iter().map(|p| stamp(p)).collect();
        let mut state = self.state.lock();
        if let Some(current) = &state.tls
            && Arc::ptr_eq(&current.from, &config)
            && current.stamps == stamps
            && stamps.iter().all(Option::is_some)
        {
            return Ok(current.server.clone());
        }
        let fail = |source| {
            let e = WebConfigError::Tls {
                path: self.path.clone(),
                source,
            };
            tracing::error!(err = %e, "Unable to load TLS settings");
            Arc::new(e)
        };
        match build_tls(&config) {
            Ok(Some(server)) => {
                let server = Arc::new(server);
                state.tls = Some(TlsState {
                    from: config,
                    stamps,
                    server: server.clone(),
                });
                Ok(server)
            }
            Ok(None) => Err(fail(TlsError::TlsRemoved)),
            Err(e) => Err(fail(e)),
        }
    }
}
