//! Pushing the API's registry to a Prometheus remote-write receiver, when configured.

use std::path::PathBuf;
use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_push::{Auth, Pipeline, SecretSource, SpoolOptions};
use aiplatform_remote_write::RemoteWrite;
use anyhow::Context;
use clap::Args;

/// Remote-write settings (all optional: without a URL nothing is pushed).
#[derive(Debug, Args)]
pub struct RemoteWriteArgs {
    /// Push metrics to this Prometheus remote-write endpoint (Prometheus:
    /// http://host:9090/api/v1/write, VictoriaMetrics: http://host:8428/api/v1/write).
    #[arg(long, env = "AIPLATFORM_REMOTE_WRITE_URL")]
    remote_write_url: Option<String>,
    /// Time between pushes.
    #[arg(long, env = "AIPLATFORM_REMOTE_WRITE_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    remote_write_interval: Duration,
    /// A label added to every pushed series, as name=value (repeatable).
    #[arg(long = "remote-write-external-label", value_parser = parse_label)]
    remote_write_external_labels: Vec<(String, String)>,
    /// Basic-auth user name; the password comes from AIPLATFORM_REMOTE_WRITE_PASSWORD or
    /// --remote-write-password-file.
    #[arg(long, env = "AIPLATFORM_REMOTE_WRITE_USERNAME")]
    remote_write_username: Option<String>,
    /// File holding the basic-auth password (re-read on every push).
    #[arg(long)]
    remote_write_password_file: Option<PathBuf>,
    /// File holding a bearer token (re-read on every push).
    #[arg(long)]
    remote_write_bearer_token_file: Option<PathBuf>,
    /// Keep unsent pushes in this directory, so a restart while the receiver is down loses
    /// nothing.
    #[arg(long, env = "AIPLATFORM_REMOTE_WRITE_SPOOL_DIR")]
    remote_write_spool_dir: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = n.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration {s:?} (use ms, s or m)")),
    }
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected name=value, got {s:?}"))
}

impl RemoteWriteArgs {
    /// Starts the pipeline if a URL is set.
    pub fn start(&self, registry: &Registry) -> anyhow::Result<Option<Pipeline>> {
        let Some(url) = &self.remote_write_url else {
            return Ok(None);
        };
        let auth = match (
            &self.remote_write_username,
            &self.remote_write_bearer_token_file,
        ) {
            (Some(user), _) => Auth::basic(
                user,
                match &self.remote_write_password_file {
                    Some(path) => SecretSource::file(path),
                    None => SecretSource::env("AIPLATFORM_REMOTE_WRITE_PASSWORD"),
                },
            ),
            (None, Some(token)) => Auth::bearer(SecretSource::file(token)),
            (None, None) => Auth::none(),
        };
        let mut rw = RemoteWrite::new(url).auth(auth);
        for (n, v) in &self.remote_write_external_labels {
            rw = rw.external_label(n, v);
        }
        let mut builder = rw
            .pipeline(registry)
            .context("configuring remote write")?
            .interval(self.remote_write_interval);
        if let Some(dir) = &self.remote_write_spool_dir {
            builder = builder.spool(SpoolOptions::new(dir));
        }
        let pipeline = builder.build().context("starting remote write")?;
        tracing::info!(
            interval = ?self.remote_write_interval,
            "pushing metrics with Prometheus remote write"
        );
        Ok(Some(pipeline))
    }
}

/// Pushes the last values before the process ends.
pub async fn shutdown(name: &str, pipeline: Option<Pipeline>) {
    if let Some(pipeline) = pipeline
        && let Err(e) = pipeline.shutdown_async(Duration::from_secs(5)).await
    {
        tracing::warn!(error = %e, "{name}: not everything was pushed at shutdown");
    }
}
