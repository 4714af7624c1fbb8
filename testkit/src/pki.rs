//! Certificates made for a test: a CA and the server and client certificates it signs.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::TempDir;

/// A certificate authority, as PEM, that signs server and client certificates.
///
/// Subjects differ between the CA and what it signs (OpenSSL, redis-server's TLS library,
/// takes a leaf whose subject equals its issuer's for self-signed).
///
/// ```
/// let pki = aiplatform_testkit::Pki::new("example CA");
/// let server = pki.server();
/// assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(server.key_pem.contains("PRIVATE KEY"));
/// ```
pub struct Pki {
    /// The CA certificate.
    pub ca_pem: String,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

/// A certificate and its private key, as PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl Pki {
    /// A new CA whose common name is `name`.
    pub fn new(name: &str) -> Pki {
        let ca_key = KeyPair::generate().expect("generating a key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = params.self_signed(&ca_key).expect("self-signing the CA");
        Pki {
            ca_pem: ca_cert.pem(),
            ca_cert,
            ca_key,
        }
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().expect("generating a key");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("certificate parameters");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("client"),
        );
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("signing a certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn server(&self) -> Issued {
        self.issue(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate for `name`.
    pub fn client(&self, name: &str) -> Issued {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// Writes `ca.pem`, `server.pem` / `server.key` and `client.pem` / `client.key` (for
    /// `client_name`) into `dir`, for programs that read files; returns the CA's path.
    pub fn write_files(&self, dir: &TempDir, client_name: &str) -> PathBuf {
        let server = self.server();
        let client = self.client(client_name);
        dir.write("server.pem", &server.cert_pem);
        dir.write("server.key", &server.key_pem);
        dir.write("client.pem", &client.cert_pem);
        dir.write("client.key", &client.key_pem);
        dir.write("ca.pem", &self.ca_pem)
    }
}
