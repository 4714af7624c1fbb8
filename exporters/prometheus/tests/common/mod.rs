//! What the scrape server's integration tests share: a real HTTP client (hyper, HTTP/1.1 or
//! HTTP/2, over TCP or rustls with a chosen version and ALPN), and a server on a free
//! 127.0.0.1 port. Ports, certificates and temporary directories come from the test kit.

// Each test file uses part of this module.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use aiplatform_prometheus::{Server, ServerBuilder, ServerHandle};
pub use aiplatform_testkit::{Issued, Pki, TempDir};

/// What a request got back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("UTF-8 body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// How to reach the server.
#[derive(Clone, Default)]
pub struct Client {
    tls: Option<Arc<rustls::ClientConfig>>,
    http2: bool,
}

impl Client {
    pub fn plain() -> Client {
        Client::default()
    }

    pub fn tls(config: rustls::ClientConfig) -> Client {
        Client {
            tls: Some(Arc::new(config)),
            http2: false,
        }
    }

    /// Speak HTTP/2 when ALPN picks it.
    pub fn with_http2(mut self) -> Client {
        self.http2 = true;
        self
    }

    pub async fn get(&self, addr: SocketAddr, path: &str) -> Result<Reply, String> {
        self.request(addr, Method::GET, path, &[]).await
    }

    pub async fn get_with(
        &self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        self.request(addr, Method::GET, path, headers).await
    }

    pub async fn request(
        &self,
        addr: SocketAddr,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("localhost:{}", addr.port()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Empty::<Bytes>::new()).unwrap();
        match &self.tls {
            None => send_h1(tcp, req).await,
            Some(config) => {
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let name = ServerName::try_from("localhost").unwrap();
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                if h2 && self.http2 {
                    send_h2(tls, req).await
                } else {
                    send_h1(tls, req).await
                }
            }
        }
    }
}

async fn send_h1<S>(io: S, req: Request<Empty<Bytes>>) -> Result<Reply, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    collect(resp).await
}

async fn send_h2<S>(io: S, mut req: Request<Empty<Bytes>>) -> Result<Reply, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    *req.uri_mut() = format!("https://localhost{}", req.uri()).parse().unwrap();
    req.headers_mut().remove("host");
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    collect(resp).await
}

async fn collect(resp: http::Response<hyper::body::Incoming>) -> Result<Reply, String> {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
        version: parts.version,
    })
}

/// A server on a free loopback port, stopped on drop of the handle.
pub async fn start(builder: ServerBuilder) -> (ServerHandle, SocketAddr) {
    let server: Server = builder
        .listen_addresses(["127.0.0.1:0"])
        .shutdown_grace(Duration::from_secs(2))
        .bind()
        .await
        .expect("server binds");
    let handle = server.spawn();
    let addr = handle.local_addrs()[0];
    (handle, addr)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A client trusting `ca_pem`, optionally presenting `identity`, offering `alpn`.
pub fn client_config(
    ca_pem: &str,
    identity: Option<&Issued>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> rustls::ClientConfig {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(ca_pem));
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A client for the usual case: TLS 1.2 and 1.3, HTTP/1.1.
pub fn simple_client(ca_pem: &str, identity: Option<&Issued>) -> Client {
    Client::tls(client_config(
        ca_pem,
        identity,
        rustls::ALL_VERSIONS,
        &[b"http/1.1"],
    ))
}

/// A bcrypt hash at the lowest cost (tests only).
pub fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// `Authorization: Basic ...` for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
