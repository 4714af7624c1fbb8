//! Sending OTLP requests: OTLP/HTTP or OTLP/gRPC over the push pipeline's client, with the
//! OTLP response rules on top of the pipeline's.
//!
//! OTLP/HTTP (specification, "OTLP/HTTP Response"):
//!
//! | status | outcome |
//! |---|---|
//! | 2xx | delivered; a partial success in the body counts its rejected items as dropped |
//! | 429, 502, 503, 504 | retried, after `Retry-After` when given |
//! | 413 | the batch is halved (the pipeline's rule; OTLP says nothing) |
//! | any other | dropped, not retried (408 and 500 included, as OTLP requires); the detail is the `google.rpc.Status` message when the body is one |
//!
//! Connection errors and timeouts are retried, as for every push backend.

use std::sync::Arc;
use std::time::SystemTime;

use aiplatform_push::{
    Auth, Batch, Classifier, ClientOptions, Compression, Failure, HttpClient, HttpTransport,
    Outcome, Secret, SecretSource, Transport, retry_after, scrub,
};
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderValue, Method, Response};

use crate::config::{Protocol, SignalConfig};
use crate::error::ConfigError;
use crate::{grpc, wire};

/// Sends OTLP export requests for one signal; a push [`Transport`] for the metrics pipeline.
#[derive(Clone)]
pub struct OtlpTransport {
    http: HttpTransport,
    protocol: Protocol,
    secrets: Vec<Secret>,
    grpc_timeout: HeaderValue,
}

impl std::fmt::Debug for OtlpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpTransport")
            .field("http", &self.http)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl OtlpTransport {
    /// A transport for the signal `cfg` describes, with a client of its own.
    pub fn new(cfg: &SignalConfig) -> Result<OtlpTransport, ConfigError> {
        let options = ClientOptions {
            request_timeout: cfg.timeout,
            user_agent: concat!("aiplatform-otlp/", env!("CARGO_PKG_VERSION")).to_owned(),
            tls: cfg.tls.clone(),
            ..ClientOptions::default()
        };
        let client = match cfg.protocol {
            Protocol::HttpProtobuf => HttpClient::new(&options)?,
            Protocol::Grpc => HttpClient::new_http2(&options)?,
        };
        let mut auth = Auth::none();
        for (name, value) in &cfg.headers {
            auth = auth
                .with_header(name, SecretSource::value(value.expose()))
                .map_err(|e| ConfigError::Push(e.into()))?;
        }
        let secrets: Vec<Secret> = cfg.headers.iter().map(|(_, v)| v.clone()).collect();
        let protocol = cfg.protocol;
        let known = secrets.clone();
        let classifier: Classifier = Arc::new(move |response, detail| {
            Some(match protocol {
                Protocol::HttpProtobuf => classify_http(response, detail, &known),
                Protocol::Grpc => grpc::classify(response, &known),
            })
        });
        let builder = HttpTransport::builder(&cfg.url)
            .client(client)
            .auth(auth)
            .classifier(classifier);
        let builder = match cfg.protocol {
            Protocol::HttpProtobuf => builder.header("Content-Type", "application/x-protobuf"),
            Protocol::Grpc => builder
                .header("Content-Type", "application/grpc")
                .header("TE", "trailers"),
        };
        let http = builder.build()?;
        // grpc-timeout: at most 8 digits, in milliseconds.
        let ms = cfg.timeout.as_millis().min(99_999_999);
        Ok(OtlpTransport {
            http,
            protocol: cfg.protocol,
            secrets,
            grpc_timeout: HeaderValue::from_str(&format!("{ms}m"))
                .unwrap_or(HeaderValue::from_static("10000m")),
        })
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Sends one request body (an export request, compressed as `compression` says) and
    /// reads the answer. Must run on the runtime that owns this transport's client.
    pub async fn send_body(&self, body: Bytes, compression: Compression) -> Outcome {
        let compressed = compression.content_encoding();
        let body = match self.protocol {
            Protocol::HttpProtobuf => body,
            Protocol::Grpc => grpc::frame(&body, compressed.is_some()),
        };
        let mut req = match self
            .http
            .request(Method::POST, self.http.endpoint().clone(), body)
        {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        if let Some(enc) = compressed {
            let name = match self.protocol {
                Protocol::HttpProtobuf => CONTENT_ENCODING,
                Protocol::Grpc => http::HeaderName::from_static("grpc-encoding"),
            };
            req.headers_mut()
                .insert(name, HeaderValue::from_static(enc));
        }
        if self.protocol == Protocol::Grpc {
            req.headers_mut()
                .insert("grpc-timeout", self.grpc_timeout.clone());
        }
        self.http.exchange(req).await
    }

    /// The credentials it sends (to scrub from anything logged).
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }
}

/// Reads an OTLP/HTTP response; `detail` is the pipeline's rendering of it.
pub(crate) fn classify_http(
    response: &Response<Bytes>,
    detail: &str,
    secrets: &[Secret],
) -> Outcome {
    let status = response.status();
    let code = status.as_u16();
    if status.is_success() {
        return match wire::partial_success(response.body()) {
            Some(ps) => Outcome::PartlyDelivered {
                rejected: ps.rejected,
                detail: scrub(&format!("partial success: {}", ps.message), secrets),
            },
            None => Outcome::Delivered,
        };
    }
    let is_protobuf = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-protobuf"));
    let detail = match is_protobuf
        .then(|| wire::rpc_status(response.body()))
        .flatten()
    {
        Some(st) => scrub(&format!("HTTP {code}: {}", st.message), secrets),
        None => detail.to_owned(),
    };
    match code {
        413 => Outcome::TooLarge { detail },
        429 | 502 | 503 | 504 => Outcome::Retry {
            failure: Failure::Status(code),
            after: retry_after(response.headers(), SystemTime::now()),
            detail,
        },
        _ => Outcome::Rejected {
            failure: Failure::Status(code),
            detail,
        },
    }
}

impl Transport for OtlpTransport {
    async fn send(&mut self, batch: &Batch) -> Outcome {
        self.send_body(batch.body().clone(), batch.compression())
            .await
    }

    fn secrets(&self) -> Vec<Secret> {
        self.secrets.clone()
    }
}
