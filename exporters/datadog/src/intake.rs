//! HTTP intakes (agentless metrics, logs): one request per batch, Datadog's status codes, the
//! `Content-Encoding` names Datadog reads.

use std::time::{Duration, SystemTime};

use aiplatform_push::{
    Auth, Batch, BuildError, ClientOptions, Compression, Failure, HttpTransport, Outcome, Secret,
    SecretSource, Transport,
};
use http::Method;
use http::header::{CONTENT_ENCODING, HeaderValue};

/// The header Datadog reads the API key from.
pub const API_KEY_HEADER: &str = "DD-API-KEY";

/// Sends batches to one Datadog intake with the API key in `DD-API-KEY`.
///
/// 2xx is delivered; 401 and 403 stop the backend and say once that the key was refused (a
/// wrong key or a key of another site stays wrong); 413 cuts the batch in two; 408, 429 and
/// 5xx are retried (after `Retry-After` when given); other 4xx drop the batch, counted. Batches
/// older than the intake accepts (`max_age`) are dropped before sending, counted.
#[derive(Debug, Clone)]
pub struct IntakeTransport {
    http: HttpTransport,
    zstd_name: &'static str,
    max_age: Option<Duration>,
    what: &'static str,
}

impl IntakeTransport {
    /// A transport POSTing JSON to `url` with `api_key`.
    pub(crate) fn new(
        url: &str,
        api_key: &SecretSource,
        client: &ClientOptions,
        what: &'static str,
    ) -> Result<IntakeTransport, BuildError> {
        let site_hint = what;
        let http = HttpTransport::builder(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .auth(Auth::none().with_header(API_KEY_HEADER, api_key.clone())?)
            .client_options(client.clone())
            .classifier(std::sync::Arc::new(move |response, detail| {
                let status = response.status().as_u16();
                (status == 401 || status == 403).then(|| Outcome::Stop {
                    failure: Failure::Status(status),
                    detail: format!(
                        "Datadog refused the API key for {site_hint} ({detail}); check DD_API_KEY and that DD_SITE is the key's site"
                    ),
                })
            }))
            .build()?;
        Ok(IntakeTransport {
            http,
            zstd_name: "zstd",
            max_age: None,
            what,
        })
    }

    /// Names zstd bodies `zstd1`, as the metrics intake wants it.
    pub(crate) fn zstd_named(mut self, name: &'static str) -> Self {
        self.zstd_name = name;
        self
    }

    /// Drops batches older than `age` (the intake would not keep their points).
    pub(crate) fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &http::Uri {
        self.http.endpoint()
    }

    /// POSTs `body`, compressed with `compression`, and classifies the answer.
    pub(crate) async fn post(&self, body: bytes::Bytes, compression: Compression) -> Outcome {
        let uri = self.http.endpoint().clone();
        let mut req = match self.http.request(Method::POST, uri, body) {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        if let Some(enc) = self.encoding(compression) {
            req.headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        self.http.exchange(req).await
    }

    fn encoding(&self, c: Compression) -> Option<&'static str> {
        match c {
            Compression::Gzip => Some("gzip"),
            Compression::Deflate => Some("deflate"),
            #[cfg(feature = "zstd")]
            Compression::Zstd => Some(self.zstd_name),
            _ => None,
        }
    }
}

impl Transport for IntakeTransport {
    async fn send(&mut self, batch: &Batch) -> Outcome {
        if let Some(max) = self.max_age {
            let age = SystemTime::now()
                .duration_since(batch.created())
                .unwrap_or_default();
            if age > max {
                return Outcome::Rejected {
                    failure: Failure::Status(0),
                    detail: format!(
                        "{}: the batch waited {}s, longer than the intake keeps points ({}s); dropped unsent",
                        self.what,
                        age.as_secs(),
                        max.as_secs()
                    ),
                };
            }
        }
        self.post(batch.body().clone(), batch.compression()).await
    }

    fn secrets(&self) -> Vec<Secret> {
        Transport::secrets(&self.http)
    }
}
