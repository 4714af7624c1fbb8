//! Sending the API's metrics and request logs to New Relic when a key is set, configured by
//! the variables New Relic's agents read (`NEW_RELIC_LICENSE_KEY`, `NEW_RELIC_REGION`, ...).

use aiplatform_logging::LogBuilder;
use aiplatform_metrics::Registry;
use aiplatform_newrelic::NewRelic;
use aiplatform_push::Pipeline;
use anyhow::Context;

/// The New Relic configuration from the environment, `None` without a key. `service.name` is
/// `NEW_RELIC_APP_NAME`, else `aiplatform-api`.
pub fn from_env() -> anyhow::Result<Option<NewRelic>> {
    let Some(nr) = NewRelic::from_env().context("reading the NEW_RELIC_* settings")? else {
        return Ok(None);
    };
    let named = std::env::var("NEW_RELIC_APP_NAME").is_ok_and(|n| !n.trim().is_empty());
    Ok(Some(if named {
        nr
    } else {
        nr.service_name("aiplatform-api")
    }))
}

/// Adds the Log API output to `logs` when New Relic is configured.
pub fn with_log_output(logs: LogBuilder, nr: Option<&NewRelic>) -> anyhow::Result<LogBuilder> {
    Ok(match nr {
        Some(nr) => logs.output(
            nr.log_output()
                .context("configuring the New Relic Log API")?,
        ),
        None => logs,
    })
}

/// Starts pushing `registry` to the Metric API (every 15 s) when New Relic is configured.
pub fn start_metrics(
    nr: Option<&NewRelic>,
    registry: &Registry,
) -> anyhow::Result<Option<Pipeline>> {
    let Some(nr) = nr else {
        return Ok(None);
    };
    let pipeline = nr
        .start_metrics(registry)
        .context("starting the New Relic Metric API pipeline")?;
    let endpoint = nr.metric_endpoint().unwrap_or_default();
    tracing::info!(%endpoint, "sending metrics and logs to New Relic");
    Ok(Some(pipeline))
}
