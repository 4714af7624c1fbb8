//! rustls server configuration from `tls_server_config`.
//!
//! Go's `crypto/tls` semantics, mapped onto rustls with the ring provider:
//!
//! | toolkit | rustls |
//! |---|---|
//! | `min_version`/`max_version` | protocol versions offered (TLS 1.2, 1.3) |
//! | `cipher_suites` | the TLS 1.2 suites, in order; TLS 1.3 suites stay on, as in Go |
//! | `prefer_server_cipher_suites` | `ignore_client_order` |
//! | `curve_preferences` | key exchange groups, in order |
//! | `RequestClientCert`, `RequireAnyClientCert` | a verifier that checks possession of the key but no chain |
//! | `VerifyClientCertIfGiven`, `RequireAndVerifyClientCert` | webpki verifier over `client_ca_file` |
//! | `http2` | ALPN `h2` offered or not |

use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::RootCertStore;
use rustls::SignatureScheme;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::error::TlsError;
use crate::web_config::{ClientAuthType, Curve, PemSource, TlsServerConfig, TlsVersion};

/// Builds the rustls configuration, reading the certificate, key and client CA.
pub(crate) fn server_config(tls: &TlsServerConfig, http2: bool) -> Result<ServerConfig, TlsError> {
    let certs = load_certs(&tls.cert, "cert_file")?;
    let key = load_key(&tls.key)?;
    let provider = Arc::new(provider(tls));

    let versions: Vec<&'static SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (tls.min_version..=tls.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(&versions)?;

    let builder = match tls.client_auth {
        ClientAuthType::NoClientCert => builder.with_no_client_auth(),
        ClientAuthType::RequestClientCert | ClientAuthType::RequireAnyClientCert => builder
            .with_client_cert_verifier(Arc::new(AnyClientCert {
                mandatory: tls.client_auth == ClientAuthType::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })),
        ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert => {
            let ca = tls
                .client_ca
                .as_ref()
                .expect("validated: verifying client auth has a client CA");
            let mut roots = RootCertStore::empty();
            for cert in load_certs(ca, "client_ca_file")? {
                roots.add(cert).map_err(TlsError::ClientCa)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if tls.client_auth == ClientAuthType::VerifyClientCertIfGiven {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build()?)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(TlsError::KeyPair)?;
    config.ignore_client_order = tls.prefer_server_cipher_suites;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// The ring provider narrowed to the configured suites and groups.
fn provider(tls: &TlsServerConfig) -> CryptoProvider {
    use rustls::crypto::ring::{cipher_suite as cs, kx_group};
    let mut provider = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        let mut suites: Vec<SupportedCipherSuite> = tls
            .cipher_suites
            .iter()
            .map(|name| match name.as_str() {
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
                    cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                }
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
                    cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                }
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
                    cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                }
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
                    cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                }
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
                    cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                }
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
                    cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
                }
                other => unreachable!("validated TLS 1.2 suite name {other}"),
            })
            .collect();
        suites.extend(
            provider
                .cipher_suites
                .iter()
                .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
                .copied(),
        );
        provider.cipher_suites = suites;
    }
    if !tls.curve_preferences.is_empty() {
        provider.kx_groups = tls
            .curve_preferences
            .iter()
            .map(|c| match c {
                Curve::X25519 => kx_group::X25519,
                Curve::P256 => kx_group::SECP256R1,
                Curve::P384 => kx_group::SECP384R1,
            })
            .collect();
    }
    provider
}

fn load_certs(
    source: &PemSource,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    Ok(match source {
        PemSource::File(path) => aiplatform_tls::read_certificates(path, what)?,
        PemSource::Inline(text) => aiplatform_tls::certificates(text.as_bytes(), what)?,
    })
}

fn load_key(source: &PemSource) -> Result<PrivateKeyDer<'static>, TlsError> {
    const WHAT: &str = "key_file";
    Ok(match source {
        PemSource::File(path) => aiplatform_tls::read_private_key(path, WHAT)?,
        PemSource::Inline(text) => aiplatform_tls::private_key(text.as_bytes(), WHAT)?,
    })
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate is accepted, but the client
/// must still sign the handshake with its key, as Go checks.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
