//! The one builder: identity, credentials, site and transport, from the `DD_*` variables
//! Datadog's agents and libraries read, or set in code.

use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_push::{
    BuildError, ClientOptions, Compression, Pipeline, PipelineBuilder, SecretSource, Temporality,
};

use crate::dogstatsd::{
    self, AgentAddr, DogStatsdEncoder, DogStatsdTransport, UDP_MAX_PAYLOAD_BYTES,
};
use crate::intake::IntakeTransport;
use crate::series::{CounterType, SeriesApi, SeriesEncoder};
use crate::text::{split_tags, tag_key};

/// The Datadog site (region) by default.
pub const DEFAULT_SITE: &str = "datadoghq.com";

/// The sites Datadog runs (`DD_SITE` values). Others are accepted too (new regions appear),
/// as long as they look like a domain.
pub const KNOWN_SITES: &[&str] = &[
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "uk1.datadoghq.com",
    "ddog-gov.com",
    "us2.ddog-gov.com",
];

/// The `backend` label of the agentless metrics pipeline's `aiplatform_push_*` self-metrics.
pub const SERIES_BACKEND: &str = "datadog_series";

/// How metrics reach Datadog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricsMode {
    /// DogStatsD to the Datadog Agent (most deployments).
    Agent,
    /// Straight to Datadog's HTTP intake with the API key (no agent).
    Agentless,
}

/// Everything the Datadog backends need, with the defaults of Datadog's own clients.
///
/// [`Datadog::from_env`] reads the variables Datadog's agents and libraries read, so a
/// deployment configured for them configures this too:
///
/// | variable | meaning |
/// |---|---|
/// | `DD_API_KEY` | API key (agentless metrics, logs) |
/// | `DD_API_KEY_FILE` | a file holding the API key (a mounted secret), read again on every request |
/// | `DD_SITE` | the site: `datadoghq.com` (default), `us3.datadoghq.com`, `us5.datadoghq.com`, `datadoghq.eu`, `ap1.datadoghq.com`, `ap2.datadoghq.com`, `uk1.datadoghq.com`, `ddog-gov.com`, `us2.ddog-gov.com` |
/// | `DD_ENV`, `DD_SERVICE`, `DD_VERSION` | unified service tags `env:`, `service:`, `version:` on every metric and log |
/// | `DD_TAGS` | more tags, `key:value`, separated by commas or spaces |
/// | `DD_HOSTNAME` | the host of agentless series and logs (default: this machine's name) |
/// | `DD_ENTITY_ID` | the `dd.internal.entity_id` tag DogStatsD origin detection reads |
/// | `DD_DOGSTATSD_URL` | the agent: `udp://host:port`, `unix:///path` (takes precedence) |
/// | `DD_AGENT_HOST`, `DD_DOGSTATSD_PORT` | the agent's host and DogStatsD port (8125) |
/// | `DD_DD_URL` | the metrics intake's base URL instead of `https://api.<site>` |
/// | `DD_LOGS_CONFIG_LOGS_DD_URL` | the logs intake (`host:port` or a URL) instead of `https://http-intake.logs.<site>` |
///
/// Metrics go to the agent when an agent address is set, else straight to the intake when an
/// API key is, else to the agent at `127.0.0.1:8125` (the official clients' default).
///
/// ```
/// use aiplatform_datadog::{Datadog, MetricsMode};
///
/// let vars = [("DD_AGENT_HOST", "datadog-agent"), ("DD_ENV", "prod"), ("DD_SERVICE", "billing")];
/// let dd = Datadog::from_vars(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
///     .unwrap()
///     .version("1.4.2");
/// assert_eq!(dd.metrics_mode(), MetricsMode::Agent);
/// assert_eq!(dd.agent_addr().to_string(), "udp://datadog-agent:8125");
/// assert_eq!(dd.global_tags(), ["env:prod", "service:billing", "version:1.4.2"]);
/// ```
#[derive(Debug, Clone)]
pub struct Datadog {
    api_key: Option<SecretSource>,
    site: String,
    env: Option<String>,
    service: Option<String>,
    version: Option<String>,
    tags: Vec<String>,
    entity_id: Option<String>,
    hostname: Option<String>,
    agent: Option<AgentAddr>,
    mode: Option<MetricsMode>,
    metrics_url: Option<String>,
    logs_url: Option<String>,
    series_api: SeriesApi,
    counters: CounterType,
    namespace: String,
    interval: Duration,
    compression: Compression,
    max_payload: Option<usize>,
    client_telemetry: bool,
    timestamps: bool,
    write_timeout: Duration,
    client: ClientOptions,
}

impl Default for Datadog {
    fn default() -> Self {
        Datadog::new()
    }
}

impl Datadog {
    /// Datadog's defaults, nothing read from the environment.
    pub fn new() -> Datadog {
        Datadog {
            api_key: None,
            site: DEFAULT_SITE.to_owned(),
            env: None,
            service: None,
            version: None,
            tags: Vec::new(),
            entity_id: None,
            hostname: None,
            agent: None,
            mode: None,
            metrics_url: None,
            logs_url: None,
            series_api: SeriesApi::V2,
            counters: CounterType::Count,
            namespace: String::new(),
            interval: Duration::from_secs(10),
            compression: Compression::Gzip,
            max_payload: None,
            client_telemetry: true,
            timestamps: false,
            write_timeout: Duration::from_millis(100),
            client: ClientOptions::default(),
        }
    }

    /// Reads the `DD_*` variables of the process environment (see the table above).
    pub fn from_env() -> Result<Datadog, BuildError> {
        Datadog::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the `DD_*` variables through `var` (a configuration source of your own, tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Datadog, BuildError> {
        let get = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut dd = Datadog::new();
        // The file wins over the value: it is where a rotated secret shows up.
        if let Some(path) = get("DD_API_KEY_FILE") {
            dd.api_key = Some(SecretSource::file(path));
        } else if let Some(key) = get("DD_API_KEY") {
            dd.api_key = Some(SecretSource::value(key));
        }
        if let Some(site) = get("DD_SITE") {
            dd = dd.site(&site)?;
        }
        dd.env = get("DD_ENV");
        dd.service = get("DD_SERVICE");
        dd.version = get("DD_VERSION");
        if let Some(tags) = get("DD_TAGS") {
            dd.tags = split_tags(&tags).map(str::to_owned).collect();
        }
        dd.entity_id = get("DD_ENTITY_ID");
        dd.hostname = get("DD_HOSTNAME");
        // As datadog-go: the URL first, then host and port.
        if let Some(url) = get("DD_DOGSTATSD_URL") {
            dd.agent = Some(
                url.parse()
                    .map_err(|e| BuildError::Config(format!("DD_DOGSTATSD_URL: {e}")))?,
            );
        } else if let Some(host) = get("DD_AGENT_HOST") {
            let port = match get("DD_DOGSTATSD_PORT") {
                Some(p) => Some(p.parse::<u16>().map_err(|_| {
                    BuildError::Config(format!("DD_DOGSTATSD_PORT: {p:?} is not a port"))
                })?),
                None => None,
            };
            dd.agent = Some(
                AgentAddr::from_host(&host, port)
                    .map_err(|e| BuildError::Config(format!("DD_AGENT_HOST: {e}")))?,
            );
        }
        dd.metrics_url = get("DD_DD_URL");
        dd.logs_url = get("DD_LOGS_CONFIG_LOGS_DD_URL");
        Ok(dd)
    }

    /// The API key.
    pub fn api_key(mut self, key: SecretSource) -> Self {
        self.api_key = Some(key);
        self
    }

    /// The site (`datadoghq.eu`, `us5.datadoghq.com`, ...).
    pub fn site(mut self, site: &str) -> Result<Self, BuildError> {
        let site = site.trim().trim_start_matches("app.").to_ascii_lowercase();
        let looks_like_domain = site.contains('.')
            && site
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !looks_like_domain {
            return Err(BuildError::Config(format!(
                "DD_SITE {site:?} is not a site; Datadog's are {}",
                KNOWN_SITES.join(", ")
            )));
        }
        if !KNOWN_SITES.contains(&site.as_str()) {
            tracing::info!(site = %site, "datadog: a site not in the known list; using it as given");
        }
        self.site = site;
        Ok(self)
    }

    /// The `env` tag.
    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// The `service` tag.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// The `version` tag.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// One more tag on every metric and log (`key:value`, or a bare value).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// The host of agentless series and logs.
    pub fn hostname(mut self, host: impl Into<String>) -> Self {
        self.hostname = Some(host.into());
        self
    }

    /// Sends metrics to the agent at `addr` (see [`AgentAddr`] for the forms).
    pub fn agent(mut self, addr: &str) -> Result<Self, BuildError> {
        self.agent = Some(
            addr.parse()
                .map_err(|e| BuildError::Config(format!("agent address: {e}")))?,
        );
        self.mode = Some(MetricsMode::Agent);
        Ok(self)
    }

    /// Chooses how metrics are sent, whatever the configuration suggests.
    pub fn metrics_mode_override(mut self, mode: MetricsMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The metrics intake's base URL (default `https://api.<site>`).
    pub fn metrics_url(mut self, url: impl Into<String>) -> Self {
        self.metrics_url = Some(url.into());
        self
    }

    /// The logs intake's base URL (default `https://http-intake.logs.<site>`).
    pub fn logs_url(mut self, url: impl Into<String>) -> Self {
        self.logs_url = Some(url.into());
        self
    }

    /// The series API of agentless metrics (default v2).
    pub fn series_api(mut self, api: SeriesApi) -> Self {
        self.series_api = api;
        self
    }

    /// Counters as counts (default) or rates, agentless.
    pub fn counters_as(mut self, t: CounterType) -> Self {
        self.counters = t;
        self
    }

    /// A prefix for every metric name (`namespace.name`), as the OpenMetrics check's
    /// `namespace` option.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Time between flushes (default 10 s, the agent's own).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Compression of agentless request bodies: gzip (default), deflate, zstd (with the `zstd`
    /// feature) or none.
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Bytes per DogStatsD datagram at most (default 1432 over UDP, 8192 over a Unix socket;
    /// keep it at or below the agent's `dogstatsd_buffer_size`).
    pub fn max_datagram_bytes(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// Whether the `datadog.dogstatsd.client.*` telemetry is sent (default yes).
    pub fn client_telemetry(mut self, on: bool) -> Self {
        self.client_telemetry = on;
        self
    }

    /// Whether DogStatsD lines carry their timestamp (`|T`, agent 7.40+; default no). The
    /// agent then stores each value as sent instead of aggregating: only safe when no other
    /// process sends the same series through that agent.
    pub fn dogstatsd_timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }

    /// How long a full Unix socket may hold up the sender before the rest of a flush is
    /// dropped (default 100 ms, as datadog-go).
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.write_timeout = d;
        self
    }

    /// HTTP client options of the intakes (timeouts, TLS).
    pub fn client_options(mut self, options: ClientOptions) -> Self {
        self.client = options;
        self
    }

    /// Whether anything says where to send: an API key or an agent address.
    pub fn is_configured(&self) -> bool {
        self.api_key.is_some() || self.agent.is_some()
    }

    /// Whether an API key is set.
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// How metrics will be sent.
    pub fn metrics_mode(&self) -> MetricsMode {
        match (self.mode, &self.agent, &self.api_key) {
            (Some(m), _, _) => m,
            (None, Some(_), _) => MetricsMode::Agent,
            (None, None, Some(_)) => MetricsMode::Agentless,
            (None, None, None) => MetricsMode::Agent,
        }
    }

    /// The agent's DogStatsD address.
    pub fn agent_addr(&self) -> AgentAddr {
        self.agent.clone().unwrap_or_else(AgentAddr::local)
    }

    /// The site.
    pub fn site_name(&self) -> &str {
        &self.site
    }

    /// The tags every metric and log carries: `DD_TAGS` and [`Datadog::tag`] (those naming
    /// `env`, `service` or `version` give way to the unified service tags), then
    /// `dd.internal.entity_id`, `env`, `service`, `version`.
    pub fn global_tags(&self) -> Vec<String> {
        let unified = [
            ("env", &self.env),
            ("service", &self.service),
            ("version", &self.version),
        ];
        let mut tags: Vec<String> = self
            .tags
            .iter()
            .filter(|t| !unified.iter().any(|(k, v)| v.is_some() && tag_key(t) == *k))
            .cloned()
            .collect();
        if let Some(id) = &self.entity_id {
            tags.push(format!("dd.internal.entity_id:{id}"));
        }
        for (k, v) in unified {
            if let Some(v) = v {
                tags.push(format!("{k}:{v}"));
            }
        }
        tags
    }

    /// The `service` tag, if set.
    pub fn service_name(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// The host agentless series and logs carry: `DD_HOSTNAME`, else this machine's name.
    pub fn host(&self) -> String {
        self.hostname.clone().unwrap_or_else(system_hostname)
    }

    /// The full URL of the agentless metrics intake.
    pub fn series_url(&self) -> String {
        let base = self
            .metrics_url
            .clone()
            .unwrap_or_else(|| format!("https://api.{}", self.site));
        format!("{}{}", base.trim_end_matches('/'), self.series_api.path())
    }

    /// The full URL of the logs intake.
    pub fn logs_intake_url(&self) -> String {
        let base = match &self.logs_url {
            Some(u) if u.contains("://") => u.clone(),
            Some(host_port) => format!("https://{host_port}"),
            None => format!("https://http-intake.logs.{}", self.site),
        };
        format!("{}/api/v2/logs", base.trim_end_matches('/'))
    }

    pub(crate) fn api_key_source(&self) -> Option<&SecretSource> {
        self.api_key.as_ref()
    }

    pub(crate) fn http_options(&self) -> &ClientOptions {
        &self.client
    }

    pub(crate) fn body_compression(&self) -> Compression {
        self.compression
    }

    fn check_interval(&self) -> Result<(), BuildError> {
        if self.interval < Duration::from_secs(1) && self.metrics_mode() == MetricsMode::Agentless {
            return Err(BuildError::Config(
                "the agentless interval must be at least 1 s (the intake counts in seconds)".into(),
            ));
        }
        Ok(())
    }

    /// A DogStatsD pipeline builder (to adjust the queue, the interval, and build).
    pub fn dogstatsd_pipeline(
        &self,
        registry: &Registry,
    ) -> Result<PipelineBuilder<DogStatsdEncoder, DogStatsdTransport>, BuildError> {
        let addr = self.agent_addr();
        let max_payload = self.max_payload.unwrap_or(addr.default_payload_bytes());
        if max_payload == 0
            || (matches!(addr, AgentAddr::Udp { .. }) && max_payload > UDP_MAX_PAYLOAD_BYTES)
        {
            return Err(BuildError::Config(format!(
                "a DogStatsD payload of {max_payload} bytes is not possible over {}",
                addr.transport_name()
            )));
        }
        let settings = dogstatsd::Settings {
            addr,
            namespace: self.namespace.clone(),
            tags: self.global_tags(),
            max_payload,
            timestamps: self.timestamps,
            telemetry: self.client_telemetry,
            write_timeout: self.write_timeout,
            interval: self.interval,
        };
        Ok(dogstatsd::pipeline(registry, &settings))
    }

    /// An agentless metrics pipeline builder (to adjust and build). Needs the API key.
    pub fn series_pipeline(
        &self,
        registry: &Registry,
    ) -> Result<PipelineBuilder<SeriesEncoder, IntakeTransport>, BuildError> {
        self.check_interval()?;
        let key = self.api_key.as_ref().ok_or_else(|| {
            BuildError::Config(
                "agentless metrics need an API key (DD_API_KEY or DD_API_KEY_FILE)".into(),
            )
        })?;
        let api = self.series_api;
        let transport = IntakeTransport::new(&self.series_url(), key, &self.client, "metrics")?
            .zstd_named("zstd1")
            // Points more than an hour old are refused by the intake.
            .max_age(Duration::from_secs(3600));
        let encoder = SeriesEncoder::new(
            api,
            &self.namespace,
            &self.host(),
            &self.global_tags(),
            self.counters,
        );
        // Records are at least ~60 bytes, so separators add under 2 %: 4 MiB of records stay
        // well under the decompressed limit; the compressed limit cuts batches before queueing.
        let max_batch = (api.max_decompressed_bytes() * 4 / 5).min(4 * 1024 * 1024);
        Ok(
            Pipeline::builder(registry, SERIES_BACKEND, encoder, transport)
                .temporality(Temporality::Delta)
                .interval(self.interval)
                .compression(self.compression)
                .max_batch_bytes(max_batch)
                .max_batch_series(u64::from(u32::MAX))
                .max_body_bytes(api.max_body_bytes()),
        )
    }

    /// Starts sending `registry`'s metrics the configured way (agent or agentless), with the
    /// defaults. Flushing and shutting down go through the returned pipeline.
    pub fn start_metrics(&self, registry: &Registry) -> Result<Pipeline, BuildError> {
        match self.metrics_mode() {
            MetricsMode::Agent => self.dogstatsd_pipeline(registry)?.build(),
            MetricsMode::Agentless => self.series_pipeline(registry)?.build(),
        }
    }
}

/// This machine's name (`gethostname`), or `localhost` if it has none.
fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for `buf.len()` bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end])
            && !s.is_empty()
        {
            return s.to_owned();
        }
    }
    "localhost".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Datadog, BuildError> {
        Datadog::from_vars(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_agent_address_as_datadog_go_resolves_it() {
        let dd = from(&[("DD_AGENT_HOST", "10.0.0.7"), ("DD_DOGSTATSD_PORT", "9125")]).unwrap();
        assert_eq!(dd.agent_addr().to_string(), "udp://10.0.0.7:9125");
        let dd = from(&[
            ("DD_AGENT_HOST", "10.0.0.7"),
            ("DD_DOGSTATSD_URL", "unix:///var/run/datadog/dsd.socket"),
        ])
        .unwrap();
        assert_eq!(
            dd.agent_addr().to_string(),
            "unix:///var/run/datadog/dsd.socket"
        );
        assert_eq!(
            from(&[]).unwrap().agent_addr().to_string(),
            "udp://127.0.0.1:8125"
        );
        let err = from(&[("DD_AGENT_HOST", "h"), ("DD_DOGSTATSD_PORT", "x")]).unwrap_err();
        assert!(err.to_string().contains("DD_DOGSTATSD_PORT"), "{err}");
        assert!(from(&[("DD_DOGSTATSD_URL", "tcp://h:1")]).is_err());
    }

    #[test]
    fn mode_follows_what_is_configured() {
        assert_eq!(from(&[]).unwrap().metrics_mode(), MetricsMode::Agent);
        assert!(!from(&[]).unwrap().is_configured());
        let keyed = from(&[("DD_API_KEY", "k")]).unwrap();
        assert_eq!(keyed.metrics_mode(), MetricsMode::Agentless);
        assert!(keyed.is_configured());
        let both = from(&[("DD_API_KEY", "k"), ("DD_AGENT_HOST", "a")]).unwrap();
        assert_eq!(both.metrics_mode(), MetricsMode::Agent);
    }

    #[test]
    fn sites_and_intake_urls() {
        let dd = from(&[("DD_SITE", "datadoghq.eu")]).unwrap();
        assert_eq!(dd.series_url(), "https://api.datadoghq.eu/api/v2/series");
        assert_eq!(
            dd.logs_intake_url(),
            "https://http-intake.logs.datadoghq.eu/api/v2/logs"
        );
        let dd = from(&[("DD_SITE", "app.us5.datadoghq.com")]).unwrap();
        assert_eq!(dd.site_name(), "us5.datadoghq.com");
        assert!(from(&[("DD_SITE", "not a site")]).is_err());
        let dd = from(&[
            ("DD_DD_URL", "http://127.0.0.1:8428/datadog/"),
            ("DD_LOGS_CONFIG_LOGS_DD_URL", "logs.example:10516"),
        ])
        .unwrap()
        .series_api(SeriesApi::V1);
        assert_eq!(
            dd.series_url(),
            "http://127.0.0.1:8428/datadog/api/v1/series"
        );
        assert_eq!(
            dd.logs_intake_url(),
            "https://logs.example:10516/api/v2/logs"
        );
    }

    #[test]
    fn unified_service_tags_win_over_dd_tags() {
        let dd = from(&[
            ("DD_TAGS", "team:ml env:old, region:eu"),
            ("DD_ENV", "prod"),
            ("DD_SERVICE", "api"),
            ("DD_ENTITY_ID", "pod-uid-1"),
        ])
        .unwrap();
        assert_eq!(
            dd.global_tags(),
            [
                "team:ml",
                "region:eu",
                "dd.internal.entity_id:pod-uid-1",
                "env:prod",
                "service:api"
            ]
        );
    }

    #[test]
    fn the_key_is_never_shown() {
        let dd = from(&[("DD_API_KEY", "0123456789abcdef0123456789abcdef")]).unwrap();
        let shown = format!("{dd:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        let dd = from(&[("DD_API_KEY_FILE", "/run/secrets/dd")]).unwrap();
        assert!(format!("{dd:?}").contains("/run/secrets/dd"));
    }
}
