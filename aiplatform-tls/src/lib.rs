//! PEM certificates and keys for [rustls] with the ring provider, read strictly.
//!
//! The logging crate's Logstash client, the scrape server's `tls_server_config` and the Redis
//! exporter's `rediss://` client all read PEM files given by an operator. A file that holds a
//! malformed block, or none of the expected kind, is refused with an error that names the
//! setting and the file: skipping what does not parse would start the process with a smaller
//! trust store, or without the client certificate, and fail later where the cause is hidden.
//!
//! ```
//! use aiplatform_tls::{PemError, certificates, private_key};
//!
//! let pki = aiplatform_testkit::Pki::new("example CA");
//! let server = pki.server();
//! assert_eq!(certificates(server.cert_pem.as_bytes(), "cert_file").unwrap().len(), 1);
//! assert!(private_key(server.key_pem.as_bytes(), "key_file").is_ok());
//!
//! // A block cut short is an error, even after a good one.
//! let cut = format!("{}-----BEGIN CERTIFICATE-----\nMIIB\n", pki.ca_pem);
//! let err = certificates(cut.as_bytes(), "ca.pem").unwrap_err();
//! assert!(matches!(err, PemError::Invalid { .. }), "{err}");
//! // So is a file without the expected kind of block.
//! let err = private_key(pki.ca_pem.as_bytes(), "key_file").unwrap_err();
//! assert_eq!(err.to_string(), "no private key found in key_file");
//! ```

#![deny(missing_docs)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WantsClientCert;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Why PEM data could not be used. `what` names the setting or file the data came from.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PemError {
    /// The file could not be read.
    #[error("failed to read {what} ({}): {source}", path.display())]
    Read {
        /// The setting the file was given for.
        what: String,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A block is not valid PEM (bad base64, no end line, ...).
    #[error("invalid PEM in {what}: {source}")]
    Invalid {
        /// Where the data came from.
        what: String,
        /// The parser's error.
        #[source]
        source: pem::Error,
    },
    /// No block of the expected kind.
    #[error("no {kind} found in {what}")]
    Missing {
        /// Where the data came from.
        what: String,
        /// `certificate` or `private key`.
        kind: &'static str,
    },
}

/// Every certificate in `pem` (one or more `CERTIFICATE` blocks; other blocks are ignored).
pub fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| PemError::Invalid {
            what: what.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(PemError::Missing {
            what: what.to_owned(),
            kind: "certificate",
        });
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        pem::Error::NoItemsFound => PemError::Missing {
            what: what.to_owned(),
            kind: "private key",
        },
        source => PemError::Invalid {
            what: what.to_owned(),
            source,
        },
    })
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read {
        what: what.to_owned(),
        path: path.to_owned(),
        source,
    })
}

/// [`certificates`] from the file at `path`, given for the setting `what`.
pub fn read_certificates(
    path: &Path,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    certificates(&read(path, what)?, &format!("{what} ({})", path.display()))
}

/// [`private_key`] from the file at `path`, given for the setting `what`.
pub fn read_private_key(path: &Path, what: &str) -> Result<PrivateKeyDer<'static>, PemError> {
    private_key(&read(path, what)?, &format!("{what} ({})", path.display()))
}

/// The ring crypto provider, with every suite and group it has.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration on the ring provider with rustls' safe protocol versions, up to
/// the choice of client certificate: verifying servers against `roots`.
pub fn client_builder(
    roots: RootCertStore,
) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, rustls::Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}

/// A client configuration verifying servers against `roots`, presenting `identity` (a
/// certificate chain and its key) when given.
pub fn client_config(
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, rustls::Error> {
    let builder = client_builder(roots)?;
    match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key),
        None => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_in_errors() {
        let dir = aiplatform_testkit::TempDir::new("pem");
        let missing = dir.join("nope.pem");
        let err = read_certificates(&missing, "-tls-ca-cert-file").unwrap_err();
        assert!(matches!(err, PemError::Read { .. }));
        assert!(
            err.to_string().starts_with(&format!(
                "failed to read -tls-ca-cert-file ({})",
                missing.display()
            )),
            "{err}"
        );
        let empty = dir.write("empty.pem", "");
        let err = read_private_key(&empty, "key_file").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no private key found in key_file ({})", empty.display())
        );
    }

    #[test]
    fn a_client_configuration_with_and_without_identity() {
        let pki = aiplatform_testkit::Pki::new("CA");
        let mut roots = RootCertStore::empty();
        for c in certificates(pki.ca_pem.as_bytes(), "ca").unwrap() {
            roots.add(c).unwrap();
        }
        assert!(client_config(roots.clone(), None).is_ok());
        let client = pki.client("app");
        let chain = certificates(client.cert_pem.as_bytes(), "cert").unwrap();
        let key = private_key(client.key_pem.as_bytes(), "key").unwrap();
        assert!(client_config(roots, Some((chain, key))).is_ok());
    }
}
