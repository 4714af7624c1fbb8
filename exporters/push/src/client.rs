//! The one HTTP client every push backend uses: hyper 1 through hyper-util's pooled client,
//! rustls (ring) through hyper-rustls, the system's trust store plus an optional CA file and
//! client certificate, connect and request timeouts, and a cap on how much of a response is
//! read.
//!
//! It is the same hyper that serves the scrape endpoint, so the workspace carries one HTTP
//! stack. [`HttpClient::send`] takes and returns whole bodies (`Bytes`), the shape the
//! OpenTelemetry exporters' `HttpClient` trait has, so an OTLP backend can reuse it.
//! [`HttpClient::new_http2`] speaks HTTP/2 only, for gRPC receivers; response trailers (where
//! gRPC puts its status) come back as [`Trailers`] in the response's extensions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::BuildError;

/// TLS settings for HTTPS receivers.
///
/// ```no_run
/// use aiplatform_push::TlsOptions;
///
/// let tls = TlsOptions::new()
///     .ca_file("/etc/ssl/internal-ca.pem")
///     .client_cert_files("/etc/app/client.pem", "/etc/app/client.key");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    system_roots: Option<bool>,
}

impl TlsOptions {
    /// The system's trust store, no client certificate.
    pub fn new() -> TlsOptions {
        TlsOptions::default()
    }

    /// Also trusts the CA certificates in this PEM file (and, unless
    /// [`TlsOptions::system_roots`] says otherwise, only those).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents this client certificate chain and key (PEM files) for mutual TLS.
    pub fn client_cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Whether the system's trust store is used: by default yes without a CA file, no with one.
    pub fn system_roots(mut self, yes: bool) -> Self {
        self.system_roots = Some(yes);
        self
    }

    fn rustls_config(&self) -> Result<rustls::ClientConfig, BuildError> {
        let mut roots = rustls::RootCertStore::empty();
        if self.system_roots.unwrap_or(self.ca_file.is_none()) {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                // Unparsable system certificates are skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
        if let Some(path) = &self.ca_file {
            for cert in pem_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| BuildError::Tls(format!("{}: {e}", path.display())))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| BuildError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        match &self.client_cert {
            None => Ok(builder.with_no_client_auth()),
            Some((cert, key)) => {
                let chain = pem_certs(cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| BuildError::Tls(format!("{}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| BuildError::Tls(e.to_string()))
            }
        }
    }
}

fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| BuildError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(BuildError::Tls(format!(
            "{}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

/// Timeouts, TLS and limits of an [`HttpClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Time allowed to open a TCP connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, response body included (default 30 s).
    pub request_timeout: Duration,
    /// How much of a response body is read (default 64 KiB); the rest is discarded.
    pub max_response_bytes: usize,
    /// `User-Agent` header (default `aiplatform-push/<version>`).
    pub user_agent: String,
    /// TLS settings.
    pub tls: TlsOptions,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 64 * 1024,
            user_agent: concat!("aiplatform-push/", env!("CARGO_PKG_VERSION")).to_owned(),
            tls: TlsOptions::default(),
        }
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No connection could be opened (refused, unreachable, DNS, TLS handshake).
    #[error("connecting: {0}")]
    Connect(String),
    /// Opening the connection took longer than the connect timeout.
    #[error("connecting timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The whole request took longer than the request timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The connection broke, or the response was not valid HTTP.
    #[error("{0}")]
    Io(String),
}

/// The trailers of a response, when it had any (gRPC's `grpc-status` and `grpc-message`),
/// in [`Response::extensions`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers(pub http::HeaderMap);

/// The HTTP client of every push backend; cheap to clone (a shared pool).
///
/// ```no_run
/// use aiplatform_push::{ClientOptions, HttpClient};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = HttpClient::new(&ClientOptions::default())?;
/// let request = http::Request::post("http://127.0.0.1:9090/api/v1/write")
///     .body(bytes::Bytes::from_static(b""))?;
/// let response = client.send(request).await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    options: Arc<ClientOptions>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with these options. Requests must be made inside a tokio runtime (the push
    /// pipeline runs one on its own thread).
    pub fn new(options: &ClientOptions) -> Result<HttpClient, BuildError> {
        HttpClient::build(options, false)
    }

    /// A client that speaks HTTP/2 only, as gRPC needs: negotiated by ALPN over TLS, with
    /// prior knowledge (h2c) over plain TCP. Otherwise like [`HttpClient::new`].
    pub fn new_http2(options: &ClientOptions) -> Result<HttpClient, BuildError> {
        HttpClient::build(options, true)
    }

    fn build(options: &ClientOptions, http2_only: bool) -> Result<HttpClient, BuildError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(options.connect_timeout));
        http.set_nodelay(true);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(options.tls.rustls_config()?)
            .https_or_http();
        let https = if http2_only {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.enable_http1().wrap_connector(http)
        };
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(2)
            .http2_only(http2_only)
            .build(https);
        Ok(HttpClient {
            inner,
            options: Arc::new(options.clone()),
        })
    }

    /// The options it was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Sends `request` and reads the response, up to the configured number of body bytes,
    /// within the request timeout.
    pub async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, SendError> {
        let timeout = self.options.request_timeout;
        let limit = self.options.max_response_bytes;
        let (mut parts, body) = request.into_parts();
        if !parts.headers.contains_key(http::header::USER_AGENT)
            && let Ok(ua) = http::HeaderValue::from_str(&self.options.user_agent)
        {
            parts.headers.insert(http::header::USER_AGENT, ua);
        }
        let request = Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| classify(e, self.options.connect_timeout))?;
            let (parts, body) = response.into_parts();
            // Read at most `limit` bytes; a longer body is cut (the connection is then not
            // reused, which is fine for the error pages this is for).
            let mut limited = Limited::new(body, limit);
            let mut buf = Vec::new();
            let mut trailers = None;
            while let Some(frame) = limited.frame().await {
                match frame {
                    Ok(f) => match f.into_data() {
                        Ok(d) => buf.extend_from_slice(&d),
                        Err(f) => {
                            if let Ok(t) = f.into_trailers() {
                                trailers = Some(t);
                            }
                        }
                    },
                    Err(e) if e.is::<http_body_util::LengthLimitError>() => break,
                    Err(e) => return Err(SendError::Io(format!("reading the response: {e}"))),
                }
            }
            let mut response = Response::from_parts(parts, Bytes::from(buf));
            if let Some(t) = trailers {
                response.extensions_mut().insert(Trailers(t));
            }
            Ok(response)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout(timeout)),
        }
    }
}

fn classify(e: hyper_util::client::legacy::Error, connect_timeout: Duration) -> SendError {
    let detail = error_chain(&e);
    if e.is_connect() {
        if timed_out(&e) {
            return SendError::ConnectTimeout(connect_timeout);
        }
        SendError::Connect(detail)
    } else {
        SendError::Io(detail)
    }
}

/// Whether an I/O error in `e`'s chain is a timeout (the connect timeout).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// `e: cause: cause`, for one-line logs.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
