//! Prometheus remote write 1.0 from an [`aiplatform_metrics::Registry`], for stores that take
//! pushes: Prometheus (`--web.enable-remote-write-receiver`), VictoriaMetrics, Mimir, Thanos
//! Receive, Cortex.
//!
//! Every interval the registry is collected and sent as a snappy-compressed protobuf
//! `WriteRequest` (`Content-Type: application/x-protobuf`, `Content-Encoding: snappy`,
//! `X-Prometheus-Remote-Write-Version: 0.1.0`). Series carry the names a scrape would see
//! (`x_total` for counters, `x_bucket{le=...}`, `x_sum`, `x_count` for histograms, `x{quantile=...}`
//! for summaries), the registry's constant labels and your external labels, sorted by name.
//! Values are cumulative, timestamped at collection. Metadata (type, help, unit) goes along
//! unless turned off.
//!
//! Delivery (batching, retries, `Retry-After`, 413 splitting, the bounded queue, the spool,
//! `aiplatform_push_*{backend="remote_write"}` self-metrics) is the shared pipeline's; see
//! [`aiplatform_push`].
//!
//! ```no_run
//! use std::time::Duration;
//! use aiplatform_metrics::Registry;
//! use aiplatform_push::{Auth, SecretSource};
//! use aiplatform_remote_write::RemoteWrite;
//!
//! let registry = Registry::new();
//! let jobs = registry.counter("jobs_total", "Jobs done.").unwrap();
//! let pipeline = RemoteWrite::new("http://127.0.0.1:9090/api/v1/write")
//!     .external_label("cluster", "eu-1")
//!     .auth(Auth::basic("writer", SecretSource::env("REMOTE_WRITE_PASSWORD")))
//!     .pipeline(&registry)?
//!     .interval(Duration::from_secs(15))
//!     .build()?;
//! jobs.inc();
//! // At exit: push what is left, within 5 s.
//! pipeline.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod encode;

use aiplatform_metrics::Registry;
use aiplatform_push::{
    Auth, BuildError, ClientOptions, Compression, HttpTransport, Pipeline, PipelineBuilder,
};

pub use encode::WriteRequestEncoder;

/// The `backend` label of the pipeline's self-metrics.
pub const BACKEND: &str = "remote_write";

/// Configures a remote-write pipeline.
#[derive(Debug, Clone)]
pub struct RemoteWrite {
    url: String,
    external: Vec<(String, String)>,
    metadata: bool,
    auth: Auth,
    headers: Vec<(String, String)>,
    client: ClientOptions,
}

impl RemoteWrite {
    /// Writes to `url` (Prometheus: `http://host:9090/api/v1/write`; VictoriaMetrics:
    /// `http://host:8428/api/v1/write`).
    pub fn new(url: impl Into<String>) -> RemoteWrite {
        RemoteWrite {
            url: url.into(),
            external: Vec::new(),
            metadata: true,
            auth: Auth::none(),
            headers: Vec::new(),
            client: ClientOptions::default(),
        }
    }

    /// Adds a label to every series (`cluster`, `replica`); a series' own label of the same
    /// name wins, as with Prometheus' `external_labels`.
    pub fn external_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.external.push((name.into(), value.into()));
        self
    }

    /// Whether to send metric metadata (type, help, unit) with the samples (default yes).
    pub fn metadata(mut self, yes: bool) -> Self {
        self.metadata = yes;
        self
    }

    /// Credentials: basic auth, a bearer token, API-key headers (tenant ids such as
    /// `X-Scope-OrgID` can go here too).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Another header sent with every request (not a credential: it may be logged).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Timeouts and TLS.
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.client = options;
        self
    }

    /// The encoder alone (benches, custom pipelines).
    pub fn encoder(&self) -> WriteRequestEncoder {
        WriteRequestEncoder::new(self.external.clone(), self.metadata)
    }

    /// A pipeline builder set up for remote write (snappy, 2000 series or 1 MiB per request),
    /// to adjust (interval, queue, spool) and build.
    pub fn pipeline(
        self,
        registry: &Registry,
    ) -> Result<PipelineBuilder<WriteRequestEncoder, HttpTransport>, BuildError> {
        for (name, _) in &self.external {
            check_label_name(name)?;
        }
        let mut transport = HttpTransport::builder(&self.url)
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .auth(self.auth.clone())
            .client_options(self.client.clone());
        for (n, v) in &self.headers {
            transport = transport.header(n, v);
        }
        let transport = transport.build()?;
        Ok(
            Pipeline::builder(registry, BACKEND, self.encoder(), transport)
                .compression(Compression::Snappy)
                .max_batch_series(2000)
                .max_batch_bytes(1024 * 1024),
        )
    }

    /// Builds and starts the pipeline with its defaults.
    pub fn start(self, registry: &Registry) -> Result<Pipeline, BuildError> {
        self.pipeline(registry)?.build()
    }
}

fn check_label_name(name: &str) -> Result<(), BuildError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    if valid {
        Ok(())
    } else {
        Err(BuildError::Config(format!(
            "invalid external label name {name:?}"
        )))
    }
}
