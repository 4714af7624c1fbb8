//! One scrape of one Redis: the commands, in as few round trips as possible, and the
//! families they give. State that outlives a scrape lives in [`crate::exporter`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::config::Config;
use crate::config_metrics::{ConfigOptions, ConfigSupport, extract_config_metrics};
use crate::connection::{ConnError, Connection};
use crate::info::{InfoOptions, InfoSummary, extract_cluster_info_metrics, extract_info_metrics};
use crate::keys::{KeyOutcome, run_key_checks};
use crate::resp::Reply;
use aiplatform_prometheus::family::FamilySet;

/// Why a scrape failed (`redis_up 0`); the text becomes `redis_exporter_last_scrape_error{err}`.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// Talking to Redis failed.
    #[error(transparent)]
    Conn(#[from] ConnError),
    /// `INFO` was refused.
    #[error("redis INFO failed: {0}")]
    Info(String),
}

/// What the exporter keeps between scrapes of one target and hands to [`scrape_with`].
#[derive(Debug, Default)]
pub struct TargetState {
    /// How this server answers `CONFIG GET`.
    pub config_support: ConfigSupport,
    /// The server's `run_id` at the last scrape.
    pub run_id: String,
    /// Whether "CONFIG unavailable" was logged.
    pub config_logged: bool,
    /// Whether a truncated key check was logged.
    pub keys_logged: bool,
}

pub(crate) fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn within<T>(
    deadline: Instant,
    fut: impl Future<Output = Result<T, ConnError>>,
) -> Result<T, ConnError> {
    let limit = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout_at(deadline, fut)
        .await
        .unwrap_or(Err(ConnError::Timeout(limit)))
}

fn bulk_text(r: &Reply) -> Option<std::borrow::Cow<'_, str>> {
    match r {
        Reply::Bulk(Some(_)) | Reply::Simple(_) => r.as_text(),
        _ => None,
    }
}

/// Runs the commands of one scrape on `conn` and appends the families. Any `Err` leaves the
/// connection in an unknown state: the caller drops it.
pub async fn scrape_with(
    conn: &mut Connection,
    cfg: &Config,
    state: &mut TargetState,
    deadline: Instant,
    out: &mut FamilySet,
) -> Result<(), ScrapeError> {
    let step = |d: Duration| (Instant::now() + d).min(deadline);
    if cfg.ping_on_connect {
        let started = Instant::now();
        match within(step(cfg.connection_timeout), conn.command(&["PING"])).await? {
            r if r.error().is_some() => tracing::debug!("PING refused"),
            _ => out.gauge(
                "exporter_last_scrape_ping_time_seconds",
                "exporter_last_scrape_ping_time_seconds metric",
                &[],
                &[],
                started.elapsed().as_secs_f64(),
            ),
        }
    }

    let config_request = cfg
        .config_command
        .as_deref()
        .and_then(|c| state.config_support.request(c, cfg.include_config_metrics));
    let mut cmds: Vec<Vec<String>> = Vec::with_capacity(5);
    if let Some(c) = &config_request {
        cmds.push(c.clone());
    }
    for c in [
        &["INFO", "ALL"][..],
        &["LATENCY", "LATEST"],
        &["SLOWLOG", "LEN"],
        &["SLOWLOG", "GET", "1"],
    ] {
        cmds.push(c.iter().map(|s| (*s).to_owned()).collect());
    }
    let mut replies = within(step(cfg.connection_timeout), conn.pipeline(&cmds))
        .await?
        .into_iter();

    let mut config_reply = if config_request.is_some() {
        replies.next()
    } else {
        None
    };
    if let (Some(reply), Some(command)) = (&config_reply, &cfg.config_command)
        && reply.error().is_some()
        && state.config_support == ConfigSupport::Unknown
    {
        // Redis < 7 takes one pattern: ask again at once, so the first scrape is complete.
        state.config_support = ConfigSupport::Star;
        let again = ConfigSupport::Star
            .request(command, true)
            .unwrap_or_default();
        config_reply = Some(within(step(cfg.connection_timeout), conn.command(&again)).await?);
    }
    let mut db_count = 0;
    if let Some(reply) = &config_reply {
        state.config_support = state.config_support.after(reply);
        match reply.error() {
            Some(e) => {
                if !state.config_logged {
                    state.config_logged = true;
                    tracing::info!(
                        error = e,
                        "CONFIG GET is not available (disabled or renamed); config metrics are skipped and 16 databases assumed"
                    );
                }
            }
            None => {
                let opts = ConfigOptions {
                    compat: cfg.compat,
                    include_all: cfg.include_config_metrics,
                };
                db_count = extract_config_metrics(reply, opts, out).unwrap_or(0);
            }
        }
    }

    let info_reply = replies.next().unwrap_or(Reply::Bulk(None));
    let latency = replies.next();
    let slowlog_len = replies.next();
    let slowlog_get = replies.next();
    let info_owned;
    let info = match bulk_text(&info_reply) {
        Some(t) if !t.is_empty() => t,
        _ => {
            let r = within(step(cfg.connection_timeout), conn.command(&["INFO"])).await?;
            if let Some(e) = r.error() {
                return Err(ScrapeError::Info(e.to_owned()));
            }
            info_owned = r;
            bulk_text(&info_owned).ok_or_else(|| ScrapeError::Info("empty reply".to_owned()))?
        }
    };

    let cluster = info.contains("cluster_enabled:1");
    if cluster {
        let r = within(
            step(cfg.connection_timeout),
            conn.command(&["CLUSTER", "INFO"]),
        )
        .await?;
        match bulk_text(&r) {
            Some(text) => {
                extract_cluster_info_metrics(&text, &cfg.info_map, out);
                db_count = 1;
            }
            None => tracing::warn!("CLUSTER INFO failed"),
        }
    }
    if db_count == 0 {
        db_count = 16;
    }
    let opts = InfoOptions {
        compat: cfg.compat,
        map: &cfg.info_map,
        db_count,
        now_unix: now_unix(),
    };
    let summary: InfoSummary = extract_info_metrics(&info, &opts, out);
    if summary.run_id != state.run_id {
        if !state.run_id.is_empty() && state.config_support == ConfigSupport::Disabled {
            // A restarted server may have CONFIG back: detect again.
            state.config_support = ConfigSupport::Unknown;
        }
        state.run_id = summary.run_id;
    }

    if let Some(r) = &latency {
        latency_metrics(r, out);
    }
    slowlog_metrics(slowlog_len.as_ref(), slowlog_get.as_ref(), out);

    if !cfg.keys.is_empty() {
        // Leave a tenth of what remains (at most 250 ms) for the rest of the scrape.
        let remaining = deadline.saturating_duration_since(Instant::now());
        let budget = deadline - (remaining / 10).min(Duration::from_millis(250));
        let outcome: KeyOutcome =
            within(deadline, run_key_checks(conn, &cfg.keys, budget, out)).await?;
        if outcome.truncated && !state.keys_logged {
            state.keys_logged = true;
            tracing::warn!(
                "key checks stopped at the scrape's time budget; key metrics are partial"
            );
        }
        // Leave the connection on its own database for the next scrape.
        let _ = within(
            step(cfg.connection_timeout),
            conn.command(&["SELECT".to_owned(), conn.db().to_string()]),
        )
        .await?;
    }
    out.gauge(
        "last_key_groups_scrape_duration_milliseconds",
        "Duration of the last key group metrics scrape in milliseconds",
        &[],
        &[],
        0.0,
    );
    Ok(())
}

/// `LATENCY LATEST` → `latency_spike_last`, `latency_spike_duration_seconds`.
pub fn latency_metrics(reply: &Reply, out: &mut FamilySet) {
    let Some(events) = reply.as_array() else {
        return;
    };
    for e in events {
        let Some([name, last, latest, ..]) = e.as_array() else {
            continue;
        };
        let (Some(name), Some(last), Some(latest)) =
            (name.as_text(), last.as_int(), latest.as_int())
        else {
            continue;
        };
        out.gauge(
            "latency_spike_last",
            "When the latency spike last occurred",
            &["event_name"],
            &[&name],
            last as f64,
        );
        out.gauge(
            "latency_spike_duration_seconds",
            "Length of the last latency spike in seconds",
            &["event_name"],
            &[&name],
            latest as f64 / 1e3,
        );
    }
}

/// `SLOWLOG LEN` and `SLOWLOG GET 1` → `slowlog_length`, `slowlog_last_id`,
/// `last_slow_execution_duration_seconds`.
pub fn slowlog_metrics(len: Option<&Reply>, get: Option<&Reply>, out: &mut FamilySet) {
    if let Some(n) = len.filter(|r| r.error().is_none()).and_then(Reply::as_int) {
        out.gauge("slowlog_length", "Total slowlog", &[], &[], n as f64);
    }
    let Some(entries) = get.and_then(Reply::as_array) else {
        return;
    };
    let (mut id, mut duration) = (0.0, 0.0);
    if let Some(first) = entries.first().and_then(Reply::as_array) {
        id = first.first().and_then(Reply::as_int).unwrap_or(0) as f64;
        duration = first.get(2).and_then(Reply::as_int).unwrap_or(0) as f64 / 1e6;
    }
    out.gauge("slowlog_last_id", "Last id of slowlog", &[], &[], id);
    out.gauge(
        "last_slow_execution_duration_seconds",
        "The amount of time needed for last slow execution, in seconds",
        &[],
        &[],
        duration,
    );
}
