//! The one builder for both New Relic APIs, and how New Relic's agents' environment
//! variables map onto it.

use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_push::{
    Auth, BuildError, ClientOptions, Compression, HttpTransport, Pipeline, PipelineBuilder,
    SecretSource, Temporality,
};

use std::sync::Arc;

use aiplatform_logging::{ExportConfig, Output};

use crate::attributes::check_configured;
use crate::logs::{Common, LogEncoder, LogSender, MAX_LOG_SEARCHABLE_CHARS};
use crate::metrics::{MAX_METRIC_VALUE_CHARS, MetricEncoder};
use crate::region::Region;
use crate::response::classifier;

/// The `backend` label of the metrics pipeline's self-metrics.
pub const METRICS_BACKEND: &str = "newrelic";

/// The `sink` label of the log output's self-metrics.
pub const LOGS_SINK: &str = "newrelic";

/// Largest body, compressed, the Metric and Log APIs take (10^6 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 1_000_000;

/// `instrumentation.provider`, `collector.name` and `collector.version` on every metric, as
/// New Relic's exporter guidelines ask of every exporter.
const PROVIDER: &str = "aiplatform";
const COLLECTOR: &str = "aiplatform-newrelic";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A New Relic ingest key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestKey {
    /// A license key (`INGEST - LICENSE`, 40 characters ending in `NRAL`), sent as `Api-Key`.
    /// What New Relic's agents use.
    License(SecretSource),
    /// An Insights insert key (`NRII-...`), sent as `X-Insert-Key`.
    Insert(SecretSource),
}

impl IngestKey {
    fn source(&self) -> &SecretSource {
        match self {
            IngestKey::License(s) | IngestKey::Insert(s) => s,
        }
    }

    /// The header it travels in.
    pub fn header(&self) -> &'static str {
        match self {
            IngestKey::License(_) => "Api-Key",
            IngestKey::Insert(_) => "X-Insert-Key",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            IngestKey::License(_) => "license key",
            IngestKey::Insert(_) => "insert key",
        }
    }
}

/// Sends an [`aiplatform_metrics::Registry`] to New Relic's Metric API and `tracing` events
/// to its Log API, configured in one place.
///
/// ```no_run
/// use aiplatform_metrics::Registry;
/// use aiplatform_newrelic::NewRelic;
///
/// let registry = Registry::new();
/// // NEW_RELIC_LICENSE_KEY, NEW_RELIC_REGION / NEW_RELIC_HOST, NEW_RELIC_APP_NAME, ...
/// if let Some(newrelic) = NewRelic::from_env()? {
///     let pipeline = newrelic.start_metrics(&registry)?;
///     // ... at exit:
///     pipeline.shutdown(std::time::Duration::from_secs(5))?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `Debug` shows where the key comes from, never the key:
///
/// ```
/// use aiplatform_newrelic::NewRelic;
/// use aiplatform_push::SecretSource;
///
/// let nr = NewRelic::license_key(SecretSource::value("eu01xx0123456789abcdef0123456789abcdNRAL"));
/// assert!(!format!("{nr:?}").contains("0123456789"));
/// ```
#[derive(Debug, Clone)]
pub struct NewRelic {
    pub(crate) key: IngestKey,
    region: Option<Region>,
    metric_url: Option<String>,
    pub(crate) log_url: Option<String>,
    pub(crate) service_name: Option<String>,
    /// `None`: this machine's name; `Some("")`: none.
    pub(crate) host_name: Option<String>,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) client: ClientOptions,
}

impl NewRelic {
    /// Sends with a license key (`Api-Key` header): from [`SecretSource::env`],
    /// [`SecretSource::file`] (re-read on every request, so a rotated key is picked up) or a
    /// value.
    pub fn license_key(key: SecretSource) -> NewRelic {
        NewRelic::with_key(IngestKey::License(key))
    }

    /// Sends with an Insights insert key (`X-Insert-Key` header).
    pub fn insert_key(key: SecretSource) -> NewRelic {
        NewRelic::with_key(IngestKey::Insert(key))
    }

    /// Sends with `key`.
    pub fn with_key(key: IngestKey) -> NewRelic {
        NewRelic {
            key,
            region: None,
            metric_url: None,
            log_url: None,
            service_name: None,
            host_name: None,
            attributes: Vec::new(),
            client: ClientOptions::default(),
        }
    }

    /// Configures from the environment variables New Relic's agents and SDKs read; `None`
    /// when no key is set (or `NEW_RELIC_ENABLED` is `false`), so an application can call it
    /// unconditionally. See [`NewRelic::from_env_vars`] for the list.
    pub fn from_env() -> Result<Option<NewRelic>, BuildError> {
        NewRelic::from_env_vars(|name| std::env::var(name).ok())
    }

    /// Configures from variables looked up with `var` (the environment, a configuration
    /// file, a test):
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `NEW_RELIC_LICENSE_KEY` | license key (`Api-Key`), as every New Relic agent reads it |
    /// | `NEW_RELIC_LICENSE_KEY_FILE` | a file holding the license key, re-read on every request (this crate's; for Kubernetes secrets) |
    /// | `NEW_RELIC_INSERT_KEY`, `NEW_RELIC_INSERT_API_KEY`, `NEW_RELIC_API_KEY` | an insert key (`X-Insert-Key`), as the Telemetry SDKs and the OpenTelemetry exporters read it; a license key (ending in `NRAL`) given here is sent as one, a User API key (`NRAK-`) is refused (the ingest APIs do not take it) |
    /// | `NEW_RELIC_REGION` | `us`, `eu` or `fedramp` |
    /// | `NEW_RELIC_HOST` | an agent's collector host; `collector.eu01.nr-data.net` means the EU, `gov-collector.newrelic.com` FedRAMP |
    /// | `NEW_RELIC_METRIC_URL`, `NEW_RELIC_LOG_URL` | endpoint overrides (a proxy, a test receiver) |
    /// | `NEW_RELIC_APP_NAME` | `service.name` (the first of a `;`-separated list, as agents take it) |
    /// | `NEW_RELIC_LABELS` | more common attributes: `key:value;key2:value2`, the agents' label syntax |
    /// | `NEW_RELIC_ENABLED` | `false` turns the backend off |
    ///
    /// Without a region or host, a license key that names its region (`eu01xx...`) picks it,
    /// as the agents do; otherwise the US.
    ///
    /// ```
    /// use aiplatform_newrelic::{NewRelic, Region};
    ///
    /// let vars = [
    ///     ("NEW_RELIC_LICENSE_KEY", "eu01xx0123456789abcdef0123456789abcdNRAL"),
    ///     ("NEW_RELIC_APP_NAME", "billing;billing-eu"),
    ///     ("NEW_RELIC_LABELS", "team:payments;tier:1"),
    /// ];
    /// let nr = NewRelic::from_env_vars(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()))
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(nr.resolved_region().unwrap(), Region::Eu);
    /// assert_eq!(nr.metric_endpoint().unwrap(), "https://metric-api.eu.newrelic.com/metric/v1");
    ///
    /// assert!(NewRelic::from_env_vars(|_| None).unwrap().is_none());
    /// ```
    pub fn from_env_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<NewRelic>, BuildError> {
        let var = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(enabled) = var("NEW_RELIC_ENABLED")
            && matches!(
                enabled.to_ascii_lowercase().as_str(),
                "false" | "0" | "no" | "off"
            )
        {
            return Ok(None);
        }
        let key = if let Some(k) = var("NEW_RELIC_LICENSE_KEY") {
            IngestKey::License(SecretSource::value(k))
        } else if let Some(path) = var("NEW_RELIC_LICENSE_KEY_FILE") {
            IngestKey::License(SecretSource::file(path))
        } else if let Some((name, k)) = [
            "NEW_RELIC_INSERT_KEY",
            "NEW_RELIC_INSERT_API_KEY",
            "NEW_RELIC_API_KEY",
        ]
        .iter()
        .find_map(|n| var(n).map(|v| (*n, v)))
        {
            if k.starts_with("NRAK-") {
                return Err(BuildError::Config(format!(
                    "{name} holds a New Relic User API key (NRAK-...), which the ingest APIs refuse; \
                     set NEW_RELIC_LICENSE_KEY to a license key (or {name} to an insert key)"
                )));
            }
            if k.ends_with("NRAL") {
                IngestKey::License(SecretSource::value(k))
            } else {
                IngestKey::Insert(SecretSource::value(k))
            }
        } else {
            return Ok(None);
        };
        let mut nr = NewRelic::with_key(key);
        if let Some(r) = var("NEW_RELIC_REGION") {
            nr.region = Some(r.parse().map_err(BuildError::Config)?);
        } else if let Some(host) = var("NEW_RELIC_HOST") {
            nr.region = Some(Region::of_collector_host(&host));
        }
        nr.metric_url = var("NEW_RELIC_METRIC_URL");
        nr.log_url = var("NEW_RELIC_LOG_URL");
        if let Some(names) = var("NEW_RELIC_APP_NAME") {
            nr.service_name = names
                .split(';')
                .map(str::trim)
                .find(|n| !n.is_empty())
                .map(str::to_owned);
        }
        if let Some(labels) = var("NEW_RELIC_LABELS") {
            for pair in labels.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once(':').ok_or_else(|| {
                    BuildError::Config(format!(
                        "NEW_RELIC_LABELS: {pair:?} is not key:value (pairs are separated by ';')"
                    ))
                })?;
                nr = nr.attribute(k.trim(), v.trim());
            }
        }
        Ok(Some(nr))
    }

    /// The data center (default: the one a license key names, else the US).
    pub fn region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }

    /// Sends metrics to this URL instead of the region's Metric API (a proxy, a test receiver).
    pub fn metric_url(mut self, url: impl Into<String>) -> Self {
        self.metric_url = Some(url.into());
        self
    }

    /// Sends logs to this URL instead of the region's Log API.
    pub fn log_url(mut self, url: impl Into<String>) -> Self {
        self.log_url = Some(url.into());
        self
    }

    /// `service.name` on every metric and log (what New Relic groups an entity's data by).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `host.name` on every metric (default: this machine's name; empty: none).
    pub fn host_name(mut self, name: impl Into<String>) -> Self {
        self.host_name = Some(name.into());
        self
    }

    /// Another attribute on every metric and log (in the `common` block). A series' label of
    /// the same name wins on that series, as New Relic applies per-metric attributes over
    /// common ones.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// Timeouts and TLS for the HTTP client.
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.client = options;
        self
    }

    /// The key this configuration sends.
    pub fn key(&self) -> &IngestKey {
        &self.key
    }

    /// The region requests go to: the one set, else the one the license key names, else the
    /// US. Reads the key (to look at its prefix) when no region was set.
    pub fn resolved_region(&self) -> Result<Region, BuildError> {
        if let Some(r) = self.region {
            return Ok(r);
        }
        Ok(match &self.key {
            IngestKey::License(source) => {
                Region::of_license_key(source.read()?.expose()).unwrap_or_default()
            }
            IngestKey::Insert(_) => Region::Us,
        })
    }

    /// The Metric API URL requests go to.
    pub fn metric_endpoint(&self) -> Result<String, BuildError> {
        match &self.metric_url {
            Some(u) => Ok(u.clone()),
            None => Ok(self.resolved_region()?.metric_url().to_owned()),
        }
    }

    /// The Log API URL requests go to.
    pub fn log_endpoint(&self) -> Result<String, BuildError> {
        match &self.log_url {
            Some(u) => Ok(u.clone()),
            None => Ok(self.resolved_region()?.log_url().to_owned()),
        }
    }

    /// The attributes of the `common` block, in order: `service.name`, `host.name`, the
    /// exporter's identity, yours, then the registry's constant labels (given as `extra`),
    /// a later one replacing an earlier one of the same name.
    pub(crate) fn common_attributes(
        &self,
        extra: impl Iterator<Item = (String, String)>,
        max_value: usize,
    ) -> Result<Vec<(String, String)>, BuildError> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |k: String, v: String| {
            out.retain(|(n, _)| *n != k);
            out.push((k, v));
        };
        if let Some(s) = &self.service_name {
            put("service.name".into(), s.clone());
        }
        let host = match &self.host_name {
            Some(h) => h.clone(),
            None => this_host(),
        };
        if !host.is_empty() {
            put("host.name".into(), host);
        }
        put("instrumentation.provider".into(), PROVIDER.into());
        put("collector.name".into(), COLLECTOR.into());
        put("collector.version".into(), VERSION.into());
        for (k, v) in &self.attributes {
            put(k.clone(), v.clone());
        }
        for (k, v) in extra {
            put(k, v);
        }
        for (k, v) in &out {
            check_configured(k, v, max_value)?;
        }
        Ok(out)
    }

    pub(crate) fn transport(
        &self,
        url: &str,
        api: &'static str,
    ) -> Result<HttpTransport, BuildError> {
        let auth = Auth::none().with_header(self.key.header(), self.key.source().clone())?;
        HttpTransport::builder(url)
            .header("Content-Type", "application/json")
            .header(
                "User-Agent",
                concat!(
                    "aiplatform-newrelic/",
                    env!("CARGO_PKG_VERSION"),
                    " NewRelic-Rust-Exporter"
                ),
            )
            .auth(auth)
            .client_options(self.client.clone())
            .classifier(classifier(
                api,
                self.key.kind(),
                self.key.header(),
                api != "Log API",
            ))
            .build()
    }

    /// A pipeline builder for the Metric API, set up as New Relic wants it: delta counts,
    /// gzip, bodies cut below 10^6 bytes compressed before they are sent, 403 stops it. Adjust
    /// (interval, queue, spool) and build.
    pub fn metrics(
        &self,
        registry: &Registry,
    ) -> Result<PipelineBuilder<MetricEncoder, HttpTransport>, BuildError> {
        let constants = registry
            .const_labels()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let common = self.common_attributes(constants, MAX_METRIC_VALUE_CHARS)?;
        let transport = self.transport(&self.metric_endpoint()?, "Metric API")?;
        Ok(Pipeline::builder(
            registry,
            METRICS_BACKEND,
            MetricEncoder::new(&common),
            transport,
        )
        .temporality(Temporality::Delta)
        .compression(Compression::Gzip)
        .max_batch_bytes(4 * 1024 * 1024)
        .max_batch_series(10_000)
        .max_body_bytes(MAX_PAYLOAD_BYTES)
        .interval(Duration::from_secs(15)))
    }

    /// Builds and starts the metrics pipeline with its defaults (a push every 15 s).
    pub fn start_metrics(&self, registry: &Registry) -> Result<Pipeline, BuildError> {
        self.metrics(registry)?.build()
    }

    /// The Log API export for an `aiplatform-logging` output, to adjust (batch size, linger,
    /// backoff) before [`Output::export`]: events encoded by [`LogEncoder`], batches of at
    /// most 1000 events and 1 MiB sent by [`LogSender`], at the latest 1 s after their first
    /// event.
    pub fn log_export(&self) -> Result<ExportConfig, BuildError> {
        let common = self.common_attributes(std::iter::empty(), MAX_LOG_SEARCHABLE_CHARS)?;
        // service.name and host.name come from here when set, else from the logging layer.
        let configured: Vec<(String, String)> = common
            .into_iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "service.name" | "host.name" | "instrumentation.provider"
                )
            })
            .collect();
        let common = Arc::new(Common::new(
            configured,
            self.service_name.clone(),
            self.host_name.clone(),
        ));
        let transport = self.transport(&self.log_endpoint()?, "Log API")?;
        let sender = LogSender::new(transport, common.clone());
        Ok(ExportConfig::new(sender)
            .encoder(LogEncoder { common })
            .max_batch_records(1000)
            .max_batch_bytes(1024 * 1024))
    }

    /// An `aiplatform-logging` output that ships events to the Log API (the `sink` label of
    /// its self-metrics is `newrelic`):
    ///
    /// ```no_run
    /// # let newrelic = aiplatform_newrelic::NewRelic::license_key(aiplatform_push::SecretSource::env("NEW_RELIC_LICENSE_KEY"));
    /// let _guard = aiplatform_logging::builder()
    ///     .service_name("billing")
    ///     .output(aiplatform_logging::Output::stdout(aiplatform_logging::Format::Json))
    ///     .output(newrelic.log_output()?)
    ///     .init()?;
    /// tracing::info!(order.id = 42, "payment accepted");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_output(&self) -> Result<Output, BuildError> {
        Ok(Output::export(self.log_export()?).name(LOGS_SINK))
    }
}

/// This machine's name: `$HOSTNAME`, else the kernel's, else none.
fn this_host() -> String {
    if let Ok(h) = std::env::var("HOSTNAME")
        && !h.trim().is_empty()
    {
        return h.trim().to_owned();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |n| {
            list.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn keys_from_the_agents_variables() {
        let nr = NewRelic::from_env_vars(vars(&[("NEW_RELIC_LICENSE_KEY", "abcNRAL")]))
            .unwrap()
            .unwrap();
        assert!(matches!(nr.key, IngestKey::License(_)));
        let nr = NewRelic::from_env_vars(vars(&[("NEW_RELIC_API_KEY", "NRII-insert")]))
            .unwrap()
            .unwrap();
        assert!(matches!(nr.key, IngestKey::Insert(_)));
        assert_eq!(nr.key.header(), "X-Insert-Key");
        // A license key in the insert-key variable is sent as what it is.
        let nr = NewRelic::from_env_vars(vars(&[("NEW_RELIC_API_KEY", "0123NRAL")]))
            .unwrap()
            .unwrap();
        assert_eq!(nr.key.header(), "Api-Key");
        let err = NewRelic::from_env_vars(vars(&[("NEW_RELIC_API_KEY", "NRAK-secretuserkey")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("User API key") && !err.contains("secretuserkey"),
            "{err}"
        );
        assert!(
            NewRelic::from_env_vars(vars(&[
                ("NEW_RELIC_LICENSE_KEY", "k"),
                ("NEW_RELIC_ENABLED", "false")
            ]))
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn regions_and_endpoints() {
        let eu_key = "eu01xx0123456789abcdef0123456789abcdNRAL";
        let nr = NewRelic::license_key(SecretSource::value(eu_key));
        assert_eq!(nr.resolved_region().unwrap(), Region::Eu);
        assert_eq!(
            nr.log_endpoint().unwrap(),
            "https://log-api.eu.newrelic.com/log/v1"
        );
        let nr = nr.region(Region::FedRamp);
        assert_eq!(
            nr.metric_endpoint().unwrap(),
            "https://gov-metric-api.newrelic.com/metric/v1"
        );
        let nr = NewRelic::from_env_vars(vars(&[
            (
                "NEW_RELIC_LICENSE_KEY",
                "0123456789abcdef0123456789abcdef0123NRAL",
            ),
            ("NEW_RELIC_HOST", "collector.eu01.nr-data.net"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(nr.resolved_region().unwrap(), Region::Eu);
        let nr = NewRelic::from_env_vars(vars(&[
            ("NEW_RELIC_LICENSE_KEY", "k"),
            ("NEW_RELIC_REGION", "eu"),
            ("NEW_RELIC_HOST", "gov-collector.newrelic.com"),
            ("NEW_RELIC_METRIC_URL", "http://127.0.0.1:1/metric/v1"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(nr.resolved_region().unwrap(), Region::Eu, "the region wins");
        assert_eq!(
            nr.metric_endpoint().unwrap(),
            "http://127.0.0.1:1/metric/v1"
        );
        assert!(
            NewRelic::from_env_vars(vars(&[
                ("NEW_RELIC_LICENSE_KEY", "k"),
                ("NEW_RELIC_REGION", "mars")
            ]))
            .is_err()
        );
    }

    #[test]
    fn common_attributes_in_order_later_ones_winning() {
        let nr = NewRelic::from_env_vars(vars(&[
            ("NEW_RELIC_LICENSE_KEY", "k"),
            ("NEW_RELIC_APP_NAME", " billing ; other"),
            ("NEW_RELIC_LABELS", "team:payments; env : staging"),
        ]))
        .unwrap()
        .unwrap()
        .host_name("web-1");
        let common = nr
            .common_attributes([("env".to_owned(), "prod".to_owned())].into_iter(), 4096)
            .unwrap();
        let names: Vec<(&str, &str)> = common.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            names,
            [
                ("service.name", "billing"),
                ("host.name", "web-1"),
                ("instrumentation.provider", "aiplatform"),
                ("collector.name", "aiplatform-newrelic"),
                ("collector.version", VERSION),
                ("team", "payments"),
                ("env", "prod"),
            ]
        );
        assert!(
            NewRelic::from_env_vars(vars(&[
                ("NEW_RELIC_LICENSE_KEY", "k"),
                ("NEW_RELIC_LABELS", "nocolon")
            ]))
            .is_err()
        );
        let reserved = NewRelic::license_key(SecretSource::value("k")).attribute("eventType", "x");
        assert!(
            reserved
                .common_attributes(std::iter::empty(), 4096)
                .is_err()
        );
    }
}
