//! Transports: how a batch reaches a receiver, and what the receiver's answer means.
//!
//! The pipeline only knows [`Outcome`]s; a [`Transport`] turns a send into one. The
//! [`HttpTransport`] speaks for every HTTP receiver (remote write, Pushgateway, OTLP/HTTP,
//! Datadog, New Relic); a datagram transport (DogStatsD) returns `Delivered` or `Rejected`
//! and never asks for a retry.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};

use crate::batch::Batch;
use crate::client::{ClientOptions, HttpClient, SendError};
use crate::error::BuildError;
use crate::secret::{Auth, Secret, scrub};

/// Why an attempt failed: the `reason` label of `aiplatform_push_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Failure {
    /// No connection (refused, unreachable, DNS, TLS).
    Connect,
    /// A connect or request timeout.
    Timeout,
    /// The connection broke mid-exchange, or a local send error.
    Io,
    /// The receiver answered with this status.
    Status(u16),
    /// A credential could not be read (a missing file, say).
    Credentials,
}

impl Failure {
    /// The label value: `connect`, `timeout`, `io`, `credentials`, or the status class
    /// (`http_5xx`, `http_429`, `http_408`, `http_413`, `http_4xx`, `http_other`).
    pub fn label(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Io => "io",
            Failure::Credentials => "credentials",
            Failure::Status(408) => "http_408",
            Failure::Status(413) => "http_413",
            Failure::Status(429) => "http_429",
            Failure::Status(s) if (500..600).contains(&s) => "http_5xx",
            Failure::Status(s) if (400..500).contains(&s) => "http_4xx",
            Failure::Status(_) => "http_other",
        }
    }
}

/// What became of one attempt to send a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The receiver took it.
    Delivered,
    /// The receiver took it but says it discarded `rejected` samples (OTLP's partial
    /// success): counted as dropped (`rejected`) and logged like a rejected batch, not resent.
    PartlyDelivered {
        /// Samples (data points) the receiver discarded.
        rejected: u64,
        /// What to log (credentials already scrubbed).
        detail: String,
    },
    /// Worth trying again: after `after` if the receiver said so (`Retry-After`), else after
    /// the backoff.
    Retry {
        /// Why it failed.
        failure: Failure,
        /// How long the receiver asked us to wait.
        after: Option<Duration>,
        /// What to log (credentials already scrubbed).
        detail: String,
    },
    /// Too large (413): the pipeline cuts the batch in two and sends each half.
    TooLarge {
        /// What to log.
        detail: String,
    },
    /// Refused for good (a 4xx other than 408/413/429): dropped and counted, never retried.
    Rejected {
        /// Why.
        failure: Failure,
        /// What to log.
        detail: String,
    },
    /// The receiver refuses this sender altogether (a revoked key): the pipeline stops, says
    /// so once, and drops what it holds.
    Stop {
        /// Why.
        failure: Failure,
        /// What to log.
        detail: String,
    },
}

/// Sends batches somewhere.
pub trait Transport: Send + 'static {
    /// One attempt to deliver `batch`. Must finish within its own timeout.
    fn send<'a>(&'a mut self, batch: &'a Batch) -> impl Future<Output = Outcome> + 'a;

    /// Credentials this transport sends, to scrub from anything the pipeline logs.
    fn secrets(&self) -> Vec<Secret> {
        Vec::new()
    }
}

/// Decides what a response means, for receivers whose status codes say more than the
/// defaults (a 403 that means "your key was revoked", say). `None` falls back to the defaults.
pub type Classifier = Arc<dyn Fn(&Response<Bytes>, &str) -> Option<Outcome> + Send + Sync>;

/// Sends batches as HTTP requests to one endpoint.
///
/// ```
/// use aiplatform_push::{Auth, HttpTransport, SecretSource};
///
/// let transport = HttpTransport::builder("http://127.0.0.1:9090/api/v1/write")
///     .header("Content-Type", "application/x-protobuf")
///     .header("X-Prometheus-Remote-Write-Version", "0.1.0")
///     .auth(Auth::bearer(SecretSource::value("t0ken")))
///     .build()
///     .unwrap();
/// assert!(!format!("{transport:?}").contains("t0ken"));
/// ```
#[derive(Clone)]
pub struct HttpTransport {
    client: HttpClient,
    endpoint: Uri,
    method: Method,
    continuation_method: Method,
    headers: HeaderMap,
    auth: Auth,
    classifier: Option<Classifier>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("endpoint", &self.endpoint)
            .field("method", &self.method)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Builds an [`HttpTransport`].
#[derive(Clone)]
pub struct HttpTransportBuilder {
    url: String,
    method: Method,
    continuation_method: Option<Method>,
    headers: Vec<(String, String)>,
    auth: Auth,
    client: Option<HttpClient>,
    options: ClientOptions,
    classifier: Option<Classifier>,
}

impl std::fmt::Debug for HttpTransportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransportBuilder")
            .field("url", &redact_userinfo(&self.url))
            .field("method", &self.method)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// Starts a transport that POSTs to `url`.
    pub fn builder(url: impl Into<String>) -> HttpTransportBuilder {
        HttpTransportBuilder {
            url: url.into(),
            method: Method::POST,
            continuation_method: None,
            headers: Vec::new(),
            auth: Auth::none(),
            client: None,
            options: ClientOptions::default(),
            classifier: None,
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    /// The client it sends with (to make other requests to the same receiver).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Builds a request with the transport's headers and credentials.
    pub fn request(
        &self,
        method: Method,
        uri: Uri,
        body: Bytes,
    ) -> Result<Request<Bytes>, Outcome> {
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        headers.clone_from(&self.headers);
        self.auth
            .write_headers(headers)
            .map_err(|e| Outcome::Retry {
                failure: Failure::Credentials,
                after: None,
                detail: e.to_string(),
            })?;
        Ok(req)
    }

    /// Sends `request` and turns the answer into an [`Outcome`].
    pub async fn exchange(&self, request: Request<Bytes>) -> Outcome {
        match self.client.send(request).await {
            Ok(response) => self.classify(&response),
            Err(e) => {
                let failure = match e {
                    SendError::Connect(_) => Failure::Connect,
                    SendError::Timeout(_) | SendError::ConnectTimeout(_) => Failure::Timeout,
                    SendError::Io(_) => Failure::Io,
                };
                Outcome::Retry {
                    failure,
                    after: None,
                    detail: scrub(&e.to_string(), &self.auth.secret_values()),
                }
            }
        }
    }

    fn classify(&self, response: &Response<Bytes>) -> Outcome {
        let detail = response_detail(response, &self.auth.secret_values());
        if let Some(c) = &self.classifier
            && let Some(outcome) = c(response, &detail)
        {
            return outcome;
        }
        default_outcome(response, detail)
    }
}

/// The pipeline's reading of a status code: 2xx delivered; 413 too large; 408, 429 and 5xx
/// retried (after `Retry-After` when given); anything else rejected.
pub fn default_outcome(response: &Response<Bytes>, detail: String) -> Outcome {
    let status = response.status();
    let code = status.as_u16();
    if status.is_success() {
        return Outcome::Delivered;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return Outcome::TooLarge { detail };
    }
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Outcome::Retry {
            failure: Failure::Status(code),
            after: retry_after(response.headers(), SystemTime::now()),
            detail,
        };
    }
    Outcome::Rejected {
        failure: Failure::Status(code),
        detail,
    }
}

/// How long `Retry-After` asks to wait: delay-seconds or an HTTP date (a date in the past
/// means now).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Bytes of a response body kept in a log line.
pub const DETAIL_BODY_BYTES: usize = 256;

/// `HTTP 400: <the first 256 bytes of the body, one line, credentials scrubbed>`.
fn response_detail(response: &Response<Bytes>, secrets: &[Secret]) -> String {
    let body = response.body();
    let cut = &body[..body.len().min(DETAIL_BODY_BYTES)];
    let mut text: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    text = scrub(text.trim(), secrets);
    if body.len() > DETAIL_BODY_BYTES {
        text.push_str(" [...]");
    }
    format!("HTTP {}: {text}", response.status().as_u16())
}

/// `url` without a `user:password@` part.
pub(crate) fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let host_start = scheme_end + 3;
            let path_start = url[host_start..]
                .find('/')
                .map_or(url.len(), |i| host_start + i);
            if at < path_start {
                return format!("{}[redacted]@{}", &url[..host_start], &url[at + 1..]);
            }
            url.to_owned()
        }
        _ => url.to_owned(),
    }
}

impl HttpTransportBuilder {
    /// The method for every request (default POST).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The method for every batch of a collection but its first (the Pushgateway: PUT the
    /// first, POST the rest, so a split collection still replaces the group once).
    pub fn continuation_method(mut self, method: Method) -> Self {
        self.continuation_method = Some(method);
        self
    }

    /// A header sent with every request (protocol headers; credentials go through
    /// [`HttpTransportBuilder::auth`]).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Credentials.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Client options (timeouts, TLS); ignored when a client is given.
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Shares an existing client (and its connection pool).
    pub fn client(mut self, client: HttpClient) -> Self {
        self.client = Some(client);
        self
    }

    /// Overrides the reading of some responses.
    pub fn classifier(mut self, classifier: Classifier) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// Checks the URL, resolves credentials, builds the client.
    pub fn build(self) -> Result<HttpTransport, BuildError> {
        let shown = redact_userinfo(&self.url);
        let endpoint: Uri = self.url.parse().map_err(|e| BuildError::Endpoint {
            url: shown.clone(),
            reason: format!("{e}"),
        })?;
        match endpoint.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(BuildError::Endpoint {
                    url: shown,
                    reason: "the scheme must be http or https".into(),
                });
            }
        }
        if endpoint
            .authority()
            .is_some_and(|a| a.as_str().contains('@'))
        {
            return Err(BuildError::Endpoint {
                url: shown,
                reason: "credentials in the URL are not accepted; use basic auth settings".into(),
            });
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BuildError::Config(format!("invalid header name {name:?}")))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| BuildError::Config(format!("invalid value for header {name}")))?;
            headers.append(n, v);
        }
        let client = match self.client {
            Some(c) => c,
            None => HttpClient::new(&self.options)?,
        };
        Ok(HttpTransport {
            client,
            endpoint,
            continuation_method: self
                .continuation_method
                .unwrap_or_else(|| self.method.clone()),
            method: self.method,
            headers,
            auth: self.auth.resolve()?,
            classifier: self.classifier,
        })
    }
}

impl Transport for HttpTransport {
    async fn send(&mut self, batch: &Batch) -> Outcome {
        {
            let method = if batch.is_first_of_collection() {
                self.method.clone()
            } else {
                self.continuation_method.clone()
            };
            let mut req = match self.request(method, self.endpoint.clone(), batch.body().clone()) {
                Ok(r) => r,
                Err(outcome) => return outcome,
            };
            if let Some(enc) = batch.compression().content_encoding() {
                req.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static(enc));
            }
            if !req.headers().contains_key(CONTENT_TYPE) {
                req.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
            }
            self.exchange(req).await
        }
    }

    fn secrets(&self) -> Vec<Secret> {
        self.auth.secret_values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Bytes> {
        let mut r = Response::new(Bytes::from(body.to_owned()));
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        for (n, v) in headers {
            r.headers_mut().insert(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        r
    }

    #[test]
    fn status_rules() {
        let d = || String::new();
        assert_eq!(
            default_outcome(&response(204, &[], ""), d()),
            Outcome::Delivered
        );
        assert!(matches!(
            default_outcome(&response(413, &[], ""), d()),
            Outcome::TooLarge { .. }
        ));
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(default_outcome(&response(s, &[], ""), d()), Outcome::Retry { failure: Failure::Status(x), .. } if x == s),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 422] {
            assert!(
                matches!(
                    default_outcome(&response(s, &[], ""), d()),
                    Outcome::Rejected { .. }
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&earlier).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn details_are_cut_single_line_and_scrubbed() {
        let body = format!("bad token abc123\nline two {}", "x".repeat(1000));
        let d = response_detail(&response(401, &[], &body), &[Secret::new("abc123")]);
        assert!(
            d.starts_with("HTTP 401: bad token [redacted] line two xxx"),
            "{d}"
        );
        assert!(d.ends_with(" [...]"));
        assert!(d.len() < DETAIL_BODY_BYTES + 40);
    }

    #[test]
    fn urls_with_credentials_are_refused_and_never_shown() {
        let err = HttpTransport::builder("http://user:hunter2@127.0.0.1:9/x")
            .build()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(
            redact_userinfo("https://u:p@host:1/path@x"),
            "https://[redacted]@host:1/path@x"
        );
        assert_eq!(redact_userinfo("http://host/a@b"), "http://host/a@b");
        assert!(HttpTransport::builder("ftp://host/").build().is_err());
    }
}
