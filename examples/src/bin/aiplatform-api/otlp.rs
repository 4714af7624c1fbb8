//! OTLP export of the API's metrics, request spans and logs, switched on by the standard
//! OpenTelemetry variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or a signal endpoint); see
//! `aiplatform_otlp::config` for the full list.

use aiplatform_logging::Output;
use aiplatform_metrics::Registry;
use aiplatform_otlp::{Otlp, SpanLayer, TraceGuard};
use aiplatform_push::Pipeline;
use anyhow::Context;

/// The OTLP settings when the environment asks for OTLP, else nothing.
pub struct Telemetry {
    otlp: Option<Otlp>,
}

impl Telemetry {
    pub fn from_env() -> Telemetry {
        let otlp = Otlp::from_env();
        Telemetry {
            otlp: otlp.is_configured().then_some(otlp),
        }
    }

    /// The logging output sending log records over OTLP.
    pub fn log_output(&self) -> anyhow::Result<Option<Output>> {
        let Some(otlp) = &self.otlp else {
            return Ok(None);
        };
        otlp.logs().context("configuring OTLP logs")
    }

    /// The layer exporting spans, and its guard; the exporter's health goes into `registry`
    /// (`aiplatform_push_*{backend="otlp_traces"}`).
    pub fn span_layer(
        &self,
        registry: &Registry,
    ) -> anyhow::Result<(Option<SpanLayer>, Option<TraceGuard>)> {
        let Some(otlp) = &self.otlp else {
            return Ok((None, None));
        };
        Ok(otlp
            .traces_with_registry(registry)
            .context("configuring OTLP traces")?
            .unzip())
    }

    /// Starts pushing `registry` over OTLP.
    pub fn start_metrics(&self, registry: &Registry) -> anyhow::Result<Option<Pipeline>> {
        let Some(otlp) = &self.otlp else {
            return Ok(None);
        };
        let Some(builder) = otlp.metrics(registry).context("configuring OTLP metrics")? else {
            return Ok(None);
        };
        let pipeline = builder.build().context("starting OTLP metrics")?;
        let endpoint = otlp
            .signal(aiplatform_otlp::Signal::Metrics)?
            .map(|s| s.url().to_owned());
        tracing::info!(endpoint = ?endpoint, "pushing metrics over OTLP");
        Ok(Some(pipeline))
    }
}
