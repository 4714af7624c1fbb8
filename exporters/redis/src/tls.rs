//! TLS to Redis (`rediss://`) with redis_exporter's flags: `-tls-ca-cert-file`,
//! `-tls-client-cert-file` / `-tls-client-key-file` (mutual TLS), `-skip-tls-verification` and
//! `-tls-server-name`. Without a CA file the system bundle is used (`SSL_CERT_FILE`, else
//! Debian's `/etc/ssl/certs/ca-certificates.crt`), as Go does.
//!
//! The rustls configuration is built on first use, so an exporter that never talks TLS never
//! reads a certificate.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use aiplatform_tls::{PemError, read_certificates, read_private_key};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// The TLS flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `-tls-ca-cert-file`: CA certificates to verify the server with.
    pub ca_cert_file: Option<PathBuf>,
    /// `-tls-client-cert-file`: certificate for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    /// `-tls-client-key-file`: its key.
    pub client_key_file: Option<PathBuf>,
    /// `-skip-tls-verification`: accept any server certificate.
    pub skip_verification: bool,
    /// `-tls-server-name`: the name to verify instead of the address's host.
    pub server_name: Option<String>,
}

/// Why the TLS settings cannot be used. Holds paths, never key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A certificate or key file cannot be read, holds a malformed PEM block, or none of the
    /// expected kind.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// Only one of the client certificate and key was given.
    #[error("-tls-client-cert-file and -tls-client-key-file go together")]
    HalfClientAuth,
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The settings and, once built, the rustls configuration.
#[derive(Debug, Default)]
pub struct RedisTls {
    options: TlsOptions,
    built: OnceLock<Result<Arc<ClientConfig>, String>>,
}

impl RedisTls {
    /// Settings to build from on first use.
    pub fn new(options: TlsOptions) -> RedisTls {
        RedisTls {
            options,
            built: OnceLock::new(),
        }
    }

    /// Builds now (to refuse bad settings at start-up).
    pub fn check(&self) -> Result<(), String> {
        self.config().map(|_| ())
    }

    /// The client configuration; the error text names the file at fault.
    pub fn config(&self) -> Result<Arc<ClientConfig>, String> {
        self.built
            .get_or_init(|| {
                build(&self.options)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// The name to verify for `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, String> {
        let name = self.options.server_name.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_owned())
            .map_err(|_| format!("invalid TLS server name {name:?}"))
    }
}

fn system_bundle() -> Option<PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")))
        .filter(|p| p.is_file())
}

fn build(o: &TlsOptions) -> Result<ClientConfig, TlsSetupError> {
    let builder = if o.skip_verification {
        let provider = aiplatform_tls::provider();
        ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(
                provider.signature_verification_algorithms,
            )))
    } else {
        let mut roots = RootCertStore::empty();
        let (path, what) = match &o.ca_cert_file {
            Some(p) => (Some(p.clone()), "-tls-ca-cert-file"),
            None => (system_bundle(), "system CA bundle"),
        };
        if let Some(path) = path {
            for cert in read_certificates(&path, what)? {
                // A bundle may hold certificates webpki cannot use (an unsupported key or
                // extension); those are left out, as Go does. A malformed PEM block is not.
                let _ = roots.add(cert);
            }
        }
        aiplatform_tls::client_builder(roots)?
    };
    let config = match (&o.client_cert_file, &o.client_key_file) {
        (Some(cert), Some(key)) => builder.with_client_auth_cert(
            read_certificates(cert, "-tls-client-cert-file")?,
            read_private_key(key, "-tls-client-key-file")?,
        )?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsSetupError::HalfClientAuth),
    };
    Ok(config)
}

/// `-skip-tls-verification`: any certificate, but the handshake signature is still checked.
#[derive(Debug)]
struct AnyServerCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_the_file() {
        let t = RedisTls::new(TlsOptions {
            ca_cert_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        });
        let e = t.check().unwrap_err();
        assert!(
            e.contains("failed to read -tls-ca-cert-file (/nonexistent/ca.pem)"),
            "{e}"
        );
        let t = RedisTls::new(TlsOptions {
            client_cert_file: Some("/x".into()),
            skip_verification: true,
            ..TlsOptions::default()
        });
        assert!(t.check().unwrap_err().contains("go together"));
        let t = RedisTls::new(TlsOptions {
            skip_verification: true,
            ..TlsOptions::default()
        });
        assert!(t.check().is_ok());
        assert!(t.server_name("127.0.0.1").is_ok() && t.server_name("bad name!").is_err());
    }

    #[test]
    fn a_malformed_pem_block_is_refused_not_skipped() {
        let pki = aiplatform_testkit::Pki::new("redis test CA");
        let dir = aiplatform_testkit::TempDir::new("redis-tls");
        let good = dir.write("ca.pem", &pki.ca_pem);
        assert!(
            RedisTls::new(TlsOptions {
                ca_cert_file: Some(good),
                ..TlsOptions::default()
            })
            .check()
            .is_ok()
        );
        // The good CA, then a block cut short: refused, naming the file.
        let cut = dir.write(
            "cut.pem",
            format!("{}-----BEGIN CERTIFICATE-----\nMIIB\n", pki.ca_pem),
        );
        let e = RedisTls::new(TlsOptions {
            ca_cert_file: Some(cut.clone()),
            ..TlsOptions::default()
        })
        .check()
        .unwrap_err();
        assert!(e.starts_with("invalid PEM in -tls-ca-cert-file"), "{e}");
        assert!(e.contains(&*cut.to_string_lossy()), "{e}");
        // A certificate where the client key should be.
        let client = pki.client("exporter");
        let cert = dir.write("client.pem", &client.cert_pem);
        let e = RedisTls::new(TlsOptions {
            client_cert_file: Some(cert.clone()),
            client_key_file: Some(cert),
            skip_verification: true,
            ..TlsOptions::default()
        })
        .check()
        .unwrap_err();
        assert!(
            e.starts_with("no private key found in -tls-client-key-file"),
            "{e}"
        );
    }
}
