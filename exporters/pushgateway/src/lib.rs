//! Push an [`aiplatform_metrics::Registry`] to a Prometheus Pushgateway: the batch-job case,
//! where the process ends before any scrape could reach it.
//!
//! - **Once, at the end of a job**: [`Pushgateway::push`] collects, pushes and waits for the
//!   answer (within a deadline).
//! - **Periodically**: [`Pushgateway::pipeline`] runs the shared push pipeline, which pushes
//!   every interval and once more at shutdown; a newer push replaces a queued older one.
//! - **Grouping labels**: `job` plus any [`Pushgateway::grouping_label`]s make the group's URL
//!   (`/metrics/job/<job>/<name>/<value>...`); values that are empty or not plain path
//!   characters are sent base64url-encoded (`<name>@base64/<value>`), as the gateway accepts.
//! - **PUT vs POST**: [`Method::Put`] (default, client_golang's `Push`) replaces every metric of
//!   the group; [`Method::Post`] (`Add`) replaces only the families pushed.
//! - **Delete**: [`Pushgateway::delete`] removes the group.
//!
//! The body is the delimited protobuf `MetricFamily` stream client_golang sends. Scrape the
//! gateway with `honor_labels: true` so `job` and the grouping labels stay as pushed.
//!
//! ```no_run
//! use std::time::Duration;
//! use aiplatform_metrics::Registry;
//! use aiplatform_pushgateway::Pushgateway;
//!
//! let registry = Registry::new();
//! let processed = registry.counter("records_processed_total", "Records processed.").unwrap();
//! // ... the job runs ...
//! processed.inc_by(1234);
//! Pushgateway::new("http://127.0.0.1:9091", "nightly_import")
//!     .grouping_label("instance", "worker-1")
//!     .push(&registry, Duration::from_secs(10))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod encode;

use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_push::{
    Auth, BuildError, ClientOptions, Compression, FlushError, HttpTransport, Outcome, Pipeline,
    PipelineBuilder, QueuePolicy,
};
use base64::Engine as _;

pub use encode::{CONTENT_TYPE, MetricFamilyEncoder};

/// The `backend` label of the pipeline's self-metrics.
pub const BACKEND: &str = "pushgateway";

/// How a push treats what the group already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Replace every metric of the group (client_golang's `Push`).
    #[default]
    Put,
    /// Replace only the families pushed (client_golang's `Add`).
    Post,
}

/// Why a push or a delete failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The configuration is unusable.
    #[error("pushgateway: {0}")]
    Build(#[from] BuildError),
    /// Not everything was delivered.
    #[error("pushgateway: {0}")]
    Flush(#[from] FlushError),
    /// The gateway refused the request (or could not be reached in time).
    #[error("pushgateway: {0}")]
    Refused(String),
}

/// Configures pushes to one group of a Pushgateway.
#[derive(Debug, Clone)]
pub struct Pushgateway {
    base: String,
    job: String,
    grouping: Vec<(String, String)>,
    method: Method,
    gzip: bool,
    auth: Auth,
    client: ClientOptions,
}

impl Pushgateway {
    /// Pushes to the gateway at `base_url` (`http://host:9091`) under `job`.
    pub fn new(base_url: impl Into<String>, job: impl Into<String>) -> Pushgateway {
        Pushgateway {
            base: base_url.into(),
            job: job.into(),
            grouping: Vec::new(),
            method: Method::Put,
            gzip: false,
            auth: Auth::none(),
            client: ClientOptions::default(),
        }
    }

    /// Adds a grouping label (`instance`, a shard); the pushed metrics must not carry it.
    pub fn grouping_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.grouping.push((name.into(), value.into()));
        self
    }

    /// PUT (replace the group, default) or POST (replace the families pushed).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Compresses bodies with gzip (the gateway accepts `Content-Encoding: gzip`).
    pub fn gzip(mut self, yes: bool) -> Self {
        self.gzip = yes;
        self
    }

    /// Credentials (a gateway behind basic auth or a proxy that wants a token).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Timeouts and TLS.
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.client = options;
        self
    }

    /// The group's URL: `<base>/metrics/job/<job>{/<label>/<value>}`.
    pub fn url(&self) -> Result<String, BuildError> {
        check(!self.job.is_empty(), "the job name must not be empty")?;
        let mut url = self.base.trim_end_matches('/').to_owned();
        url.push_str("/metrics");
        segment(&mut url, "job", &self.job);
        for (name, value) in &self.grouping {
            check(
                valid_label(name),
                &format!("invalid grouping label name {name:?}"),
            )?;
            check(
                name != "job",
                "job is given as the job name, not a grouping label",
            )?;
            segment(&mut url, name, value);
        }
        Ok(url)
    }

    fn transport(&self) -> Result<HttpTransport, BuildError> {
        let (first, rest) = match self.method {
            Method::Put => (http::Method::PUT, http::Method::POST),
            Method::Post => (http::Method::POST, http::Method::POST),
        };
        HttpTransport::builder(self.url()?)
            .method(first)
            // Later batches of one collection add to what the first one replaced.
            .continuation_method(rest)
            .header("Content-Type", CONTENT_TYPE)
            .auth(self.auth.clone())
            .client_options(self.client.clone())
            .build()
    }

    /// A pipeline builder that pushes every interval (and once more at shutdown), a newer
    /// push replacing an older one still queued; adjust it and build.
    pub fn pipeline(
        &self,
        registry: &Registry,
    ) -> Result<PipelineBuilder<MetricFamilyEncoder, HttpTransport>, BuildError> {
        let reserved: Vec<String> = std::iter::once("job".to_owned())
            .chain(self.grouping.iter().map(|(n, _)| n.clone()))
            .collect();
        let collect = registry.collect();
        if let Some((n, _)) = collect
            .const_labels()
            .iter()
            .find(|(n, _)| reserved.iter().any(|r| r == n))
        {
            return Err(BuildError::Config(format!(
                "the registry's constant label {n:?} is also a grouping label"
            )));
        }
        Ok(Pipeline::builder(
            registry,
            BACKEND,
            MetricFamilyEncoder::new(reserved),
            self.transport()?,
        )
        .compression(if self.gzip {
            Compression::Gzip
        } else {
            Compression::None
        })
        .queue_policy(QueuePolicy::LatestCollection)
        .max_batch_series(u64::MAX)
        .max_batch_bytes(usize::MAX))
    }

    /// Pushes the registry once and waits for the gateway's answer, at most `timeout`.
    pub fn push(&self, registry: &Registry, timeout: Duration) -> Result<(), PushError> {
        let pipeline = self
            .pipeline(registry)?
            .periodic(false)
            .collect_on_shutdown(false)
            .build()?;
        let result = pipeline.flush(timeout);
        let _ = pipeline.shutdown(Duration::ZERO);
        result.map_err(PushError::Flush)
    }

    /// Deletes the group from the gateway, waiting at most `timeout`.
    pub fn delete(&self, timeout: Duration) -> Result<(), PushError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PushError::Build(BuildError::Thread(e)))?;
        runtime.block_on(self.delete_async(timeout))
    }

    /// [`Pushgateway::delete`] for async code.
    pub async fn delete_async(&self, timeout: Duration) -> Result<(), PushError> {
        let transport = HttpTransport::builder(self.url()?)
            .auth(self.auth.clone())
            .client_options(ClientOptions {
                request_timeout: timeout,
                ..self.client.clone()
            })
            .build()?;
        let request = transport
            .request(
                http::Method::DELETE,
                transport.endpoint().clone(),
                bytes::Bytes::new(),
            )
            .map_err(|o| PushError::Refused(format!("{o:?}")))?;
        match transport.exchange(request).await {
            Outcome::Delivered => Ok(()),
            Outcome::Retry { detail, .. }
            | Outcome::Rejected { detail, .. }
            | Outcome::TooLarge { detail }
            | Outcome::Stop { detail, .. } => Err(PushError::Refused(detail)),
            other => Err(PushError::Refused(format!("{other:?}"))),
        }
    }
}

fn check(ok: bool, why: &str) -> Result<(), BuildError> {
    if ok {
        Ok(())
    } else {
        Err(BuildError::Config(why.to_owned()))
    }
}

fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Appends `/<name>/<value>`, or `/<name>@base64/<base64url value>` when the value is empty or
/// holds anything but unreserved URL characters (`/` above all).
fn segment(url: &mut String, name: &str, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    url.push('/');
    url.push_str(name);
    if plain {
        url.push('/');
        url.push_str(value);
    } else {
        url.push_str("@base64/");
        if value.is_empty() {
            url.push('=');
        } else {
            url.push_str(&base64::engine::general_purpose::URL_SAFE.encode(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_urls() {
        let pg = Pushgateway::new("http://gw:9091/", "backup")
            .grouping_label("instance", "db-1")
            .grouping_label("path", "/var/tmp")
            .grouping_label("empty", "");
        assert_eq!(
            pg.url().unwrap(),
            "http://gw:9091/metrics/job/backup/instance/db-1/path@base64/L3Zhci90bXA=/empty@base64/="
        );
        let pg = Pushgateway::new("http://gw:9091", "a/b");
        assert_eq!(pg.url().unwrap(), "http://gw:9091/metrics/job@base64/YS9i");
        assert!(Pushgateway::new("http://gw", "").url().is_err());
        assert!(
            Pushgateway::new("http://gw", "j")
                .grouping_label("job", "x")
                .url()
                .is_err()
        );
        assert!(
            Pushgateway::new("http://gw", "j")
                .grouping_label("1x", "x")
                .url()
                .is_err()
        );
    }
}
