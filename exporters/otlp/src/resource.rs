//! The resource: who sends the data, identical for metrics, traces and logs.

use crate::config::{Vars, percent_decode};
use crate::error::ConfigError;
use crate::wire;

/// The attributes that describe the sending process, sent once per request.
///
/// From lowest to highest precedence: `telemetry.sdk.*`, `OTEL_RESOURCE_ATTRIBUTES`
/// (`key=value,...`, values percent-encoded), `OTEL_SERVICE_NAME`, then attributes set in
/// code. Without any `service.name`, it is `unknown_service:<executable name>`, as the
/// OpenTelemetry SDKs do.
///
/// ```
/// use aiplatform_otlp::Resource;
///
/// let r = Resource::from_vars([
///     ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod,service.name=ignored"),
///     ("OTEL_SERVICE_NAME", "billing"),
/// ])
/// .unwrap();
/// assert_eq!(r.get("service.name"), Some("billing"));
/// assert_eq!(r.get("deployment.environment.name"), Some("prod"));
/// assert_eq!(r.get("telemetry.sdk.language"), Some("rust"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    attributes: Vec<(String, String)>,
}

impl Resource {
    /// The resource the process environment describes.
    pub fn from_env() -> Result<Resource, ConfigError> {
        Resource::resolve(&Vars::process(), &[])
    }

    /// The resource these variables describe (instead of the process environment).
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Resource, ConfigError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars = Vars::list(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        Resource::resolve(&vars, &[])
    }

    pub(crate) fn resolve(vars: &Vars, set: &[(String, String)]) -> Result<Resource, ConfigError> {
        let mut r = Resource {
            attributes: vec![
                ("telemetry.sdk.name".into(), "aiplatform".into()),
                ("telemetry.sdk.language".into(), "rust".into()),
                (
                    "telemetry.sdk.version".into(),
                    env!("CARGO_PKG_VERSION").into(),
                ),
            ],
        };
        if let Some(list) = vars.get("OTEL_RESOURCE_ATTRIBUTES") {
            for (i, item) in list.split(',').enumerate() {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let bad = |reason| ConfigError::Header {
                    setting: "OTEL_RESOURCE_ATTRIBUTES".into(),
                    position: i + 1,
                    reason,
                };
                let (k, v) = item
                    .split_once('=')
                    .ok_or(bad("no '=' between key and value"))?;
                let k = k.trim();
                let v = percent_decode(v.trim()).ok_or(bad("bad percent-encoding"))?;
                if k.is_empty() {
                    return Err(bad("empty key"));
                }
                r.set(k, v);
            }
        }
        if let Some(name) = vars.get("OTEL_SERVICE_NAME") {
            r.set("service.name", name);
        }
        for (k, v) in set {
            r.set(k, v.clone());
        }
        if r.get("service.name").is_none() {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name()?.to_str().map(str::to_owned))
                .unwrap_or_default();
            r.set("service.name", format!("unknown_service:{exe}"));
        }
        Ok(r)
    }

    /// Sets an attribute, replacing one of the same key.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attributes.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((key.to_owned(), value)),
        }
    }

    /// An attribute's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every attribute, in the order they were first set.
    pub fn attributes(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `Resource` message's content (for the request envelopes).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.attributes {
            wire::string_attribute(&mut out, 1, k, v);
        }
        out
    }
}
