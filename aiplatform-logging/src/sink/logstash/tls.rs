//! TLS for the Logstash connection (rustls, ring provider): a custom CA, optionally a client
//! certificate for inputs that require one (`ssl_client_authentication => required`, the tcp
//! input's default).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::Error;

/// How to authenticate the Logstash server, and optionally ourselves to it.
///
/// ```no_run
/// use aiplatform_logging::TlsConfig;
///
/// let tls = TlsConfig::from_ca_file("/etc/logstash/ca.crt")?
///     .client_auth_files("/etc/app/client.crt", "/etc/app/client.key")?
///     .server_name("logstash.internal");
/// # Ok::<(), aiplatform_logging::Error>(())
/// ```
pub struct TlsConfig {
    roots: Vec<CertificateDer<'static>>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    server_name: Option<String>,
}

impl Clone for TlsConfig {
    fn clone(&self) -> Self {
        TlsConfig {
            roots: self.roots.clone(),
            client: self
                .client
                .as_ref()
                .map(|(c, k)| (c.clone(), k.clone_key())),
            server_name: self.server_name.clone(),
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            .field("client_auth", &self.client.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl TlsConfig {
    /// Trusts the CA certificates in `pem` (one or more PEM `CERTIFICATE` blocks).
    pub fn from_ca_pem(pem: &[u8]) -> Result<TlsConfig, Error> {
        Ok(TlsConfig {
            roots: aiplatform_tls::certificates(pem, "CA certificates")?,
            client: None,
            server_name: None,
        })
    }

    /// Trusts the CA certificates in the PEM file at `path`.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<TlsConfig, Error> {
        Ok(TlsConfig {
            roots: aiplatform_tls::read_certificates(path.as_ref(), "CA certificates")?,
            client: None,
            server_name: None,
        })
    }

    /// Presents this client certificate chain and private key (PEM; PKCS#8, PKCS#1 or SEC1).
    pub fn client_auth_pem(mut self, cert_chain: &[u8], key: &[u8]) -> Result<TlsConfig, Error> {
        let chain = aiplatform_tls::certificates(cert_chain, "client certificate")?;
        let key = aiplatform_tls::private_key(key, "client key")?;
        self.client = Some((chain, key));
        Ok(self)
    }

    /// Presents the client certificate chain and key from these PEM files.
    pub fn client_auth_files(
        mut self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, Error> {
        let chain = aiplatform_tls::read_certificates(cert_chain.as_ref(), "client certificate")?;
        let key = aiplatform_tls::read_private_key(key.as_ref(), "client key")?;
        self.client = Some((chain, key));
        Ok(self)
    }

    /// Verifies the server against this name instead of the host part of the address.
    pub fn server_name(mut self, name: impl Into<String>) -> TlsConfig {
        self.server_name = Some(name.into());
        self
    }

    /// Builds the rustls configuration and the name to verify.
    pub(crate) fn build(
        &self,
        host: &str,
    ) -> Result<(Arc<ClientConfig>, ServerName<'static>), Error> {
        let mut store = rustls::RootCertStore::empty();
        for c in &self.roots {
            store.add(c.clone())?;
        }
        let identity = self
            .client
            .as_ref()
            .map(|(chain, key)| (chain.clone(), key.clone_key()));
        let config = aiplatform_tls::client_config(store, identity)?;
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| Error::ServerName(name.to_owned()))?;
        Ok((Arc::new(config), name))
    }
}
