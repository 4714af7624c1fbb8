//! The standard OpenTelemetry environment variables, resolved once into settings per signal.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_SDK_DISABLED` | `true`: export nothing | `false` |
//! | `OTEL_METRICS_EXPORTER`, `OTEL_TRACES_EXPORTER`, `OTEL_LOGS_EXPORTER` | a list holding `otlp` exports that signal over OTLP; `none` (or a list without `otlp`) does not | `otlp` |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL; OTLP/HTTP appends `v1/metrics`, `v1/traces`, `v1/logs` to its path | `http://localhost:4318`, gRPC `http://localhost:4317` |
//! | `OTEL_EXPORTER_OTLP_{METRICS,TRACES,LOGS}_ENDPOINT` | the signal's URL, used as given for OTLP/HTTP (no path means `/`) | |
//! | `OTEL_EXPORTER_OTLP[_{SIGNAL}]_PROTOCOL` | `http/protobuf` or `grpc` (`http/json` is refused) | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP[_{SIGNAL}]_HEADERS` | `key=value,key2=value2`, percent-encoded; treated as credentials | |
//! | `OTEL_EXPORTER_OTLP[_{SIGNAL}]_TIMEOUT` | milliseconds per request | `10000` |
//! | `OTEL_EXPORTER_OTLP[_{SIGNAL}]_COMPRESSION` | `gzip` or `none` | `none` |
//! | `OTEL_EXPORTER_OTLP[_{SIGNAL}]_CERTIFICATE` | CA certificates (PEM) to trust instead of the system's | |
//! | `OTEL_EXPORTER_OTLP[_{SIGNAL}]_CLIENT_CERTIFICATE`, `..._CLIENT_KEY` | client certificate and key (PEM) for mutual TLS | |
//! | `OTEL_EXPORTER_OTLP_INSECURE` | gRPC endpoints given without a scheme use `http` | `false` |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative`, `delta` or `lowmemory` (delta here: every registry instrument is synchronous) | `cumulative` |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds between metric pushes | `60000` |
//! | `OTEL_BLRP_SCHEDULE_DELAY`, `OTEL_BLRP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE` | log batching: wait (ms), queue (records), batch (records) | `1000`, `2048`, `512` |
//! | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | span batching: wait (ms), queue (spans), batch (spans) | `5000`, `2048`, `512` |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | which spans are exported: `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`; the ratio (0 to 1) of the ratio samplers; see [`Sampler`](crate::Sampler) | `parentbased_always_on`, `1.0` |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | resource attributes; see [`Resource`](crate::Resource) | |
//!
//! A signal-specific variable wins over the generic one. Header values never appear in an
//! error, a log line or `Debug` output.

use std::path::PathBuf;
use std::time::Duration;

use aiplatform_push::{Compression, Secret, Temporality, TlsOptions};

use crate::error::ConfigError;

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (`application/x-protobuf`), the default.
    HttpProtobuf,
    /// OTLP/gRPC: unary `Export` calls over HTTP/2.
    Grpc,
}

impl Protocol {
    /// Parses the value of an `OTEL_EXPORTER_OTLP_PROTOCOL` variable.
    pub fn parse(s: &str) -> Result<Protocol, ConfigError> {
        match s.trim() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "grpc" => Ok(Protocol::Grpc),
            other => Err(ConfigError::Invalid {
                setting: "protocol".into(),
                value: other.into(),
                expected: "http/protobuf or grpc (http/json is not supported)",
            }),
        }
    }
}

/// The three kinds of OTLP data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Metrics from a registry.
    Metrics,
    /// Spans.
    Traces,
    /// Log records.
    Logs,
}

impl Signal {
    /// `METRICS`, `TRACES`, `LOGS`: the part of the signal-specific variable names.
    pub fn env_name(self) -> &'static str {
        match self {
            Signal::Metrics => "METRICS",
            Signal::Traces => "TRACES",
            Signal::Logs => "LOGS",
        }
    }

    /// The OTLP/HTTP path appended to a base endpoint.
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Metrics => "v1/metrics",
            Signal::Traces => "v1/traces",
            Signal::Logs => "v1/logs",
        }
    }

    /// The gRPC method path.
    pub fn grpc_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }

    fn exporter_var(self) -> &'static str {
        match self {
            Signal::Metrics => "OTEL_METRICS_EXPORTER",
            Signal::Traces => "OTEL_TRACES_EXPORTER",
            Signal::Logs => "OTEL_LOGS_EXPORTER",
        }
    }
}

/// Where the variables come from: the process environment, or a list (tests, or settings
/// read from elsewhere).
pub(crate) struct Vars {
    lookup: Box<Lookup>,
}

/// Reads one variable.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vars")
    }
}

impl Vars {
    pub(crate) fn process() -> Vars {
        Vars {
            lookup: Box::new(|k| std::env::var(k).ok()),
        }
    }

    pub(crate) fn list(pairs: Vec<(String, String)>) -> Vars {
        Vars {
            lookup: Box::new(move |k| {
                pairs
                    .iter()
                    .rev()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            }),
        }
    }

    /// A variable's value, trimmed; unset and empty are the same.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The signal-specific variable `OTEL_EXPORTER_OTLP_<SIGNAL>_<what>`, else the generic
    /// `OTEL_EXPORTER_OTLP_<what>`; with the name of the one that was set.
    fn layered(&self, signal: Signal, what: &str) -> Option<(String, String)> {
        let specific = format!("OTEL_EXPORTER_OTLP_{}_{what}", signal.env_name());
        if let Some(v) = self.get(&specific) {
            return Some((specific, v));
        }
        let generic = format!("OTEL_EXPORTER_OTLP_{what}");
        self.get(&generic).map(|v| (generic, v))
    }

    fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(ConfigError::Invalid {
                setting: name.into(),
                value: v,
                expected: "true or false",
            }),
        }
    }

    fn millis(&self, name: &str) -> Result<Option<Duration>, ConfigError> {
        self.get(name).map(|v| parse_millis(name, &v)).transpose()
    }

    fn count(&self, name: &str) -> Result<Option<usize>, ConfigError> {
        self.get(name)
            .map(|v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(ConfigError::Invalid {
                        setting: name.into(),
                        value: v,
                        expected: "a positive whole number",
                    })
            })
            .transpose()
    }
}

fn parse_millis(name: &str, v: &str) -> Result<Duration, ConfigError> {
    v.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::Invalid {
            setting: name.into(),
            value: v.into(),
            expected: "milliseconds (a whole number)",
        })
}

/// Settings of one signal's requests, resolved.
#[derive(Clone)]
pub struct SignalConfig {
    pub(crate) signal: Signal,
    pub(crate) url: String,
    pub(crate) protocol: Protocol,
    pub(crate) headers: Vec<(String, Secret)>,
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
    pub(crate) tls: TlsOptions,
}

impl std::fmt::Debug for SignalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalConfig")
            .field("signal", &self.signal)
            .field("url", &self.url)
            .field("protocol", &self.protocol)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl SignalConfig {
    /// The URL requests go to (for gRPC: scheme, authority and the method path).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The names of the headers sent with every request (their values are secret).
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|(k, _)| k.as_str())
    }

    /// Time allowed per request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How bodies are compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }
}

/// Programmatic settings that win over the environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) headers: Vec<(String, Secret)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Option<Compression>,
    pub(crate) tls: Option<TlsOptions>,
}

/// Resolves one signal's request settings, or `None` when the signal is switched off.
pub(crate) fn signal_config(
    vars: &Vars,
    signal: Signal,
    o: &Overrides,
) -> Result<Option<SignalConfig>, ConfigError> {
    if vars.flag("OTEL_SDK_DISABLED")? || !exporter_is_otlp(vars, signal) {
        return Ok(None);
    }
    let protocol = match o.protocol {
        Some(p) => p,
        None => match vars.layered(signal, "PROTOCOL") {
            Some((name, v)) => Protocol::parse(&v).map_err(|e| e.for_setting(&name))?,
            None => Protocol::HttpProtobuf,
        },
    };
    let insecure = vars.flag("OTEL_EXPORTER_OTLP_INSECURE")?
        || vars.flag(&format!(
            "OTEL_EXPORTER_OTLP_{}_INSECURE",
            signal.env_name()
        ))?;
    let url = match &o.endpoint {
        Some(base) => signal_url(base, true, signal, protocol, insecure, "endpoint")?,
        None => {
            let specific = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.env_name());
            match (vars.get(&specific), vars.get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                (Some(u), _) => signal_url(&u, false, signal, protocol, insecure, &specific)?,
                (None, Some(u)) => signal_url(
                    &u,
                    true,
                    signal,
                    protocol,
                    insecure,
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                )?,
                (None, None) => {
                    let default = match protocol {
                        Protocol::HttpProtobuf => "http://localhost:4318",
                        Protocol::Grpc => "http://localhost:4317",
                    };
                    signal_url(default, true, signal, protocol, insecure, "endpoint")?
                }
            }
        }
    };
    let mut headers = match vars.layered(signal, "HEADERS") {
        Some((name, v)) => parse_headers(&name, &v)?,
        None => Vec::new(),
    };
    for (k, v) in &o.headers {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
        headers.push((k.clone(), v.clone()));
    }
    let timeout = match o.timeout {
        Some(t) => t,
        None => match vars.layered(signal, "TIMEOUT") {
            Some((name, v)) => parse_millis(&name, &v)?,
            None => Duration::from_secs(10),
        },
    };
    let compression = match o.compression {
        Some(c) => c,
        None => match vars.layered(signal, "COMPRESSION") {
            Some((name, v)) => match v.to_ascii_lowercase().as_str() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                _ => {
                    return Err(ConfigError::Invalid {
                        setting: name,
                        value: v,
                        expected: "gzip or none",
                    });
                }
            },
            None => Compression::None,
        },
    };
    let tls = match &o.tls {
        Some(t) => t.clone(),
        None => tls_from_env(vars, signal)?,
    };
    Ok(Some(SignalConfig {
        signal,
        url,
        protocol,
        headers,
        timeout,
        compression,
        tls,
    }))
}

/// Whether `OTEL_<SIGNAL>_EXPORTER` asks for OTLP (unset: yes).
fn exporter_is_otlp(vars: &Vars, signal: Signal) -> bool {
    match vars.get(signal.exporter_var()) {
        None => true,
        Some(v) => v.split(',').any(|e| e.trim().eq_ignore_ascii_case("otlp")),
    }
}

fn tls_from_env(vars: &Vars, signal: Signal) -> Result<TlsOptions, ConfigError> {
    let mut tls = TlsOptions::new();
    if let Some((_, ca)) = vars.layered(signal, "CERTIFICATE") {
        tls = tls.ca_file(PathBuf::from(ca));
    }
    match (
        vars.layered(signal, "CLIENT_CERTIFICATE"),
        vars.layered(signal, "CLIENT_KEY"),
    ) {
        (Some((_, cert)), Some((_, key))) => {
            tls = tls.client_cert_files(PathBuf::from(cert), PathBuf::from(key));
        }
        (None, None) => {}
        (Some((name, _)), None) | (None, Some((name, _))) => {
            return Err(ConfigError::Incomplete {
                setting: name,
                missing: "a client certificate needs both the certificate and the key",
            });
        }
    }
    Ok(tls)
}

/// The request URL for `signal` from an endpoint: a base URL (the signal path is appended for
/// OTLP/HTTP) or a signal URL used as given. For gRPC only the scheme and authority count.
pub(crate) fn signal_url(
    endpoint: &str,
    is_base: bool,
    signal: Signal,
    protocol: Protocol,
    insecure: bool,
    setting: &str,
) -> Result<String, ConfigError> {
    let invalid = |expected| ConfigError::Invalid {
        setting: setting.into(),
        value: without_userinfo(endpoint),
        expected,
    };
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        // gRPC endpoints are often written `host:port`.
        None if protocol == Protocol::Grpc => {
            (if insecure { "http" } else { "https" }.to_owned(), endpoint)
        }
        None => return Err(invalid("a URL starting with http:// or https://")),
    };
    if scheme != "http" && scheme != "https" {
        return Err(invalid("a URL starting with http:// or https://"));
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(invalid("a URL with a host"));
    }
    if authority.contains('@') {
        return Err(invalid(
            "a URL without credentials (put them in OTEL_EXPORTER_OTLP_HEADERS)",
        ));
    }
    let path = match protocol {
        Protocol::Grpc => signal.grpc_path().to_owned(),
        Protocol::HttpProtobuf if is_base => {
            let base = path.split('?').next().unwrap_or("");
            format!("{}/{}", base.trim_end_matches('/'), signal.http_path())
        }
        Protocol::HttpProtobuf if path.is_empty() => "/".to_owned(),
        Protocol::HttpProtobuf => path.to_owned(),
    };
    Ok(format!("{scheme}://{authority}{path}"))
}

/// `endpoint` with any `user:password@` replaced, for error messages.
fn without_userinfo(endpoint: &str) -> String {
    let start = endpoint.find("://").map_or(0, |i| i + 3);
    let end = endpoint[start..]
        .find(['/', '?'])
        .map_or(endpoint.len(), |i| start + i);
    match endpoint[start..end].rfind('@') {
        Some(at) => format!(
            "{}[redacted]@{}",
            &endpoint[..start],
            &endpoint[start + at + 1..]
        ),
        None => endpoint.to_owned(),
    }
}

/// Parses `key=value,key2=value2` (W3C baggage octets: values percent-decoded). The value
/// never appears in an error.
pub(crate) fn parse_headers(setting: &str, s: &str) -> Result<Vec<(String, Secret)>, ConfigError> {
    let mut out: Vec<(String, Secret)> = Vec::new();
    for (i, item) in s.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let bad = |why: &'static str| ConfigError::Header {
            setting: setting.into(),
            position: i + 1,
            reason: why,
        };
        let (k, v) = item
            .split_once('=')
            .ok_or(bad("no '=' between name and value"))?;
        let k = percent_decode(k.trim()).ok_or(bad("bad percent-encoding in the name"))?;
        let v = percent_decode(v.trim()).ok_or(bad("bad percent-encoding in the value"))?;
        if k.is_empty() || http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            return Err(bad("not a valid header name"));
        }
        if http::HeaderValue::from_str(&v).is_err() {
            return Err(bad("not a valid header value"));
        }
        out.retain(|(n, _)| !n.eq_ignore_ascii_case(&k));
        out.push((k, Secret::new(v)));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Metric settings besides the requests'.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetricSettings {
    pub(crate) temporality: Temporality,
    pub(crate) interval: Duration,
}

pub(crate) fn metric_settings(
    vars: &Vars,
    temporality: Option<Temporality>,
    interval: Option<Duration>,
) -> Result<MetricSettings, ConfigError> {
    let name = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    let temporality = match temporality {
        Some(t) => t,
        None => match vars.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Temporality::Cumulative,
            Some(v) if v == "cumulative" => Temporality::Cumulative,
            // Every registry instrument is synchronous, so "lowmemory" means delta for all
            // of them (it differs from "delta" only for asynchronous counters).
            Some(v) if v == "delta" || v == "lowmemory" => Temporality::Delta,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    setting: name.into(),
                    value: v,
                    expected: "cumulative, delta or lowmemory",
                });
            }
        },
    };
    let interval = match interval {
        Some(i) => i,
        None => vars
            .millis("OTEL_METRIC_EXPORT_INTERVAL")?
            .unwrap_or(Duration::from_secs(60)),
    };
    if interval.is_zero() {
        return Err(ConfigError::Invalid {
            setting: "OTEL_METRIC_EXPORT_INTERVAL".into(),
            value: "0".into(),
            expected: "a positive number of milliseconds",
        });
    }
    Ok(MetricSettings {
        temporality,
        interval,
    })
}

/// Batching of log records or spans (the OpenTelemetry batch processors' variables).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    pub(crate) delay: Duration,
    pub(crate) queue: usize,
    pub(crate) batch: usize,
}

/// `OTEL_BLRP_*` (logs, `prefix` `BLRP`, default delay 1 s) or `OTEL_BSP_*` (spans, `BSP`,
/// 5 s): schedule delay, queue size, batch size (2048 and 512 by default).
pub(crate) fn batching(
    vars: &Vars,
    prefix: &str,
    delay: Duration,
) -> Result<Batching, ConfigError> {
    Ok(Batching {
        delay: vars
            .millis(&format!("OTEL_{prefix}_SCHEDULE_DELAY"))?
            .unwrap_or(delay),
        queue: vars
            .count(&format!("OTEL_{prefix}_MAX_QUEUE_SIZE"))?
            .unwrap_or(2048),
        batch: vars
            .count(&format!("OTEL_{prefix}_MAX_EXPORT_BATCH_SIZE"))?
            .unwrap_or(512),
    })
}

/// Whether the environment asks for any OTLP export: an OTLP endpoint is set and the SDK is
/// not disabled.
pub(crate) fn configured(vars: &Vars) -> bool {
    let disabled = vars
        .get("OTEL_SDK_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint = vars.get("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || [Signal::Metrics, Signal::Traces, Signal::Logs]
            .iter()
            .any(|s| {
                vars.get(&format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", s.env_name()))
                    .is_some()
            });
    endpoint && !disabled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::list(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn url(pairs: &[(&str, &str)], signal: Signal) -> String {
        signal_config(&vars(pairs), signal, &Overrides::default())
            .unwrap()
            .unwrap()
            .url
    }

    #[test]
    fn endpoints_follow_the_signal_path_rules() {
        // Defaults.
        assert_eq!(
            url(&[], Signal::Metrics),
            "http://localhost:4318/v1/metrics"
        );
        assert_eq!(
            url(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")], Signal::Traces),
            "http://localhost:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        );
        // The generic endpoint is a base: the signal path is appended to its path.
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")];
        assert_eq!(url(&base, Signal::Logs), "https://collector:4318/v1/logs");
        let with_path = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw/otlp/")];
        assert_eq!(
            url(&with_path, Signal::Metrics),
            "http://gw/otlp/v1/metrics"
        );
        // A signal endpoint is used as given; no path means the root.
        let specific = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw:4318"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://metrics:9090/api/v1/otlp/v1/metrics",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318"),
        ];
        assert_eq!(
            url(&specific, Signal::Metrics),
            "http://metrics:9090/api/v1/otlp/v1/metrics"
        );
        assert_eq!(url(&specific, Signal::Traces), "http://traces:4318/");
        assert_eq!(url(&specific, Signal::Logs), "http://gw:4318/v1/logs");
        // gRPC: only scheme and authority count; host:port takes https unless insecure.
        let grpc = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ];
        assert_eq!(
            url(&grpc, Signal::Logs),
            "https://collector:4317/opentelemetry.proto.collector.logs.v1.LogsService/Export"
        );
        let insecure = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ];
        assert!(url(&insecure, Signal::Logs).starts_with("http://collector:4317/"));
    }

    #[test]
    fn signal_specific_settings_win() {
        let v = vars(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-a=1,x-b=2"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-c=3"),
        ]);
        let o = Overrides::default();
        let m = signal_config(&v, Signal::Metrics, &o).unwrap().unwrap();
        let t = signal_config(&v, Signal::Traces, &o).unwrap().unwrap();
        let l = signal_config(&v, Signal::Logs, &o).unwrap().unwrap();
        assert_eq!(m.protocol, Protocol::HttpProtobuf);
        assert_eq!(t.protocol, Protocol::Grpc);
        assert_eq!(m.timeout, Duration::from_millis(2500));
        assert_eq!(t.timeout, Duration::from_millis(700));
        assert_eq!(m.compression, Compression::Gzip);
        assert_eq!(l.compression, Compression::None);
        assert_eq!(m.header_names().collect::<Vec<_>>(), ["x-a", "x-b"]);
        assert_eq!(l.header_names().collect::<Vec<_>>(), ["x-c"]);
    }

    #[test]
    fn switched_off_signals_and_sdk() {
        let v = vars(&[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "console,otlp"),
        ]);
        let o = Overrides::default();
        assert!(signal_config(&v, Signal::Traces, &o).unwrap().is_none());
        assert!(signal_config(&v, Signal::Logs, &o).unwrap().is_some());
        assert!(signal_config(&v, Signal::Metrics, &o).unwrap().is_some());
        let off = vars(&[("OTEL_SDK_DISABLED", "TRUE")]);
        assert!(signal_config(&off, Signal::Metrics, &o).unwrap().is_none());
        assert!(!configured(&vars(&[])));
        assert!(configured(&vars(&[(
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://x"
        )])));
        assert!(!configured(&vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x"),
            ("OTEL_SDK_DISABLED", "true")
        ])));
    }

    #[test]
    fn headers_are_percent_decoded_and_never_echoed() {
        let h = parse_headers("H", "api-key=s%3Dcr%2Ct, x-tenant = acme ,").unwrap();
        assert_eq!(h[0].0, "api-key");
        assert_eq!(h[0].1.expose(), "s=cr,t");
        assert_eq!(h[1].1.expose(), "acme");
        for bad in [
            "novalue",
            "k=%zz-topsecret",
            "bad name=topsecret",
            "=topsecret",
        ] {
            let e = parse_headers("OTEL_EXPORTER_OTLP_HEADERS", bad)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("topsecret"), "{e}");
            assert!(e.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{e}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (k, v) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:pw@x"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem"),
        ] {
            let e = signal_config(&vars(&[(k, v)]), Signal::Metrics, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(k), "{k}: {e}");
            assert!(!e.contains("pw@"), "{e}");
        }
        let e = metric_settings(
            &vars(&[(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "sometimes",
            )]),
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cumulative, delta or lowmemory"), "{e}");
        let m = metric_settings(
            &vars(&[
                (
                    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                    "LowMemory",
                ),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ]),
            None,
            None,
        )
        .unwrap();
        assert_eq!(m.temporality, Temporality::Delta);
        assert_eq!(m.interval, Duration::from_millis(1500));
    }
}
