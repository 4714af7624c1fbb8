//! Sending the API's metrics and logs to Datadog, configured as Datadog's own agents and
//! libraries are: `DD_AGENT_HOST` / `DD_DOGSTATSD_URL` for DogStatsD to the agent,
//! `DD_API_KEY` (and `DD_SITE`) for the agentless intakes, `DD_ENV`, `DD_SERVICE`,
//! `DD_VERSION` for the unified service tags.

use std::time::Duration;

use aiplatform_datadog::Datadog;
use aiplatform_push::Pipeline;
use anyhow::Context;

/// The Datadog configuration, if the environment names an agent or an API key.
pub fn from_env() -> anyhow::Result<Option<Datadog>> {
    let mut dd = Datadog::from_env().context("reading the DD_* variables")?;
    if !dd.is_configured() {
        return Ok(None);
    }
    if dd.service_name().is_none() {
        dd = dd.service("aiplatform-api");
    }
    if let Ok(interval) = std::env::var("AIPLATFORM_DATADOG_INTERVAL") {
        let secs: u64 = interval
            .parse()
            .context("AIPLATFORM_DATADOG_INTERVAL is a number of seconds")?;
        dd = dd.interval(Duration::from_secs(secs.max(1)));
    }
    Ok(Some(dd))
}

/// The logging output to Datadog's logs intake, when there is an API key and
/// `DD_LOGS_ENABLED` is not `false`.
pub fn logs_output(dd: Option<&Datadog>) -> anyhow::Result<Option<aiplatform_logging::Output>> {
    let enabled = std::env::var("DD_LOGS_ENABLED").map_or(true, |v| v != "false" && v != "0");
    match dd {
        Some(dd) if dd.has_api_key() && enabled => {
            Ok(Some(dd.logs_output().context("setting up Datadog logs")?))
        }
        _ => Ok(None),
    }
}

/// Starts sending the registry's metrics (to the agent, or agentless).
pub fn start_metrics(
    dd: Option<&Datadog>,
    registry: &aiplatform_metrics::Registry,
) -> anyhow::Result<Option<Pipeline>> {
    let Some(dd) = dd else { return Ok(None) };
    let pipeline = dd
        .start_metrics(registry)
        .context("starting the Datadog metrics pipeline")?;
    tracing::info!(mode = ?dd.metrics_mode(), agent = %dd.agent_addr(), site = dd.site_name(), "sending metrics to Datadog");
    Ok(Some(pipeline))
}
