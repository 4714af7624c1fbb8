//! Typed errors: what was refused, and why.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::web_config::ClientAuthType;

/// Why a server could not be built or started.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The web config file is missing, unreadable or invalid, or its certificates are.
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
    /// A listen address could not be parsed or resolved.
    #[error("invalid listen address {address:?}: {reason}")]
    ListenAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No listen address was given.
    #[error("no listen address given (--web.listen-address)")]
    NoListenAddress,
    /// Binding a listener failed (address in use, permission, ...).
    #[error("couldn't listen on {address}: {source}")]
    Bind {
        /// The address being bound.
        address: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The telemetry path or an extra route's path does not start with `/`.
    #[error("invalid path {0:?}: must start with '/'")]
    Path(String),
    /// Two handlers were given the same path.
    #[error("path {0:?} is served twice")]
    DuplicateRoute(String),
    /// The server task could not be joined (it panicked).
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A web config file that cannot be used; every variant names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WebConfigError {
    /// The file could not be read.
    #[error("couldn't read web config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The YAML is malformed or has an unknown key (the message names the key and line).
    #[error("invalid web config file {}: {source}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_norway::Error,
    },
    /// A value is not allowed.
    #[error("invalid web config file {}: {key}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the file, as `section.key`.
        key: String,
        /// What is wrong.
        #[source]
        problem: ConfigProblem,
    },
    /// The certificates or keys the file names cannot be used.
    #[error("invalid TLS settings in web config file {}: {source}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: TlsError,
    },
}

impl WebConfigError {
    /// The same error, naming `path` as the file.
    pub(crate) fn at(self, file: &Path) -> WebConfigError {
        let mut e = self;
        match &mut e {
            WebConfigError::Read { path, .. }
            | WebConfigError::Syntax { path, .. }
            | WebConfigError::Invalid { path, .. }
            | WebConfigError::Tls { path, .. } => *path = file.to_owned(),
        }
        e
    }
}

/// A value in the web config file that is refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// A header the toolkit does not let a config set.
    #[error("HTTP header {0:?} can not be configured")]
    HeaderNotAllowed(String),
    /// A header value outside the toolkit's enumeration.
    #[error("invalid value, expected one of {allowed:?}, but got {got:?}")]
    HeaderValue {
        /// The values allowed.
        allowed: &'static [&'static str],
        /// The value given.
        got: String,
    },
    /// A header value with bytes HTTP does not allow.
    #[error("{0:?} is not a valid HTTP header value")]
    HeaderBytes(String),
    /// A `basic_auth_users` entry that is not a bcrypt hash.
    #[error("not a bcrypt hash: {source}")]
    BadHash {
        /// Why the hash was refused.
        #[source]
        source: bcrypt::BcryptError,
    },
    /// A user listed twice in `basic_auth_users` (which of the two hashes was meant?).
    #[error("user {0:?} is listed more than once")]
    DuplicateUser(String),
    /// A cipher suite name Go does not know.
    #[error("unknown cipher: {0}")]
    UnknownCipher(String),
    /// A cipher suite Go offers but rustls does not implement.
    #[error(
        "cipher suite {0} is not supported by rustls (it implements only the AEAD suites: AES-GCM and ChaCha20-Poly1305)"
    )]
    UnsupportedCipher(String),
    /// A curve name Go does not know.
    #[error("unknown curve: {0}")]
    UnknownCurve(String),
    /// A curve Go offers but this build's rustls provider does not.
    #[error(
        "curve {0} is not supported by rustls' ring provider (X25519, CurveP256, CurveP384 are)"
    )]
    UnsupportedCurve(String),
    /// A TLS version name Go does not know.
    #[error("unknown TLS version: {0}")]
    UnknownTlsVersion(String),
    /// A TLS version older than rustls implements.
    #[error("{0} is not supported by rustls (TLS12 and TLS13 are)")]
    UnsupportedTlsVersion(String),
    /// `min_version` above `max_version`.
    #[error("min_version is above max_version")]
    VersionRange,
    /// An unknown `client_auth_type`.
    #[error("invalid ClientAuth: {0}")]
    UnknownClientAuth(String),
    /// A client CA with `NoClientCert`.
    #[error("client CA's have been configured without a Client Auth Policy")]
    ClientCaWithoutClientAuth,
    /// A verifying `client_auth_type` without a client CA.
    #[error(
        "{0} needs client_ca_file or client_ca: rustls verifies client certificates only against an explicit CA"
    )]
    ClientCaRequired(ClientAuthType),
    /// A required key is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A key this implementation refuses rather than ignores.
    #[error("not supported: {0}")]
    NotSupported(&'static str),
    /// A duration that does not parse as Go's `time.Duration`.
    #[error("invalid duration {0:?}")]
    BadDuration(String),
}

/// Certificates or keys that cannot be loaded, or a TLS configuration rustls refuses.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key could not be read, holds a malformed PEM block, or none of the
    /// expected kind.
    #[error(transparent)]
    Pem(#[from] aiplatform_tls::PemError),
    /// rustls refused the certificate and key (for instance, they do not match).
    #[error("failed to load X509KeyPair: {0}")]
    KeyPair(#[source] rustls::Error),
    /// rustls refused a protocol setting.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    /// A client CA certificate was refused.
    #[error("invalid client CA certificate: {0}")]
    ClientCa(#[source] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The file no longer configures TLS, but the listener was started with TLS.
    #[error("TLS was enabled at start-up and cannot be switched off while running")]
    TlsRemoved,
}
