//! What the exporter says about its own scrapes of a target, with redis_exporter's names
//! under the namespace: `exporter_last_scrape_error`, `exporter_last_scrape_duration_seconds`,
//! `exporter_scrapes_total`, `exporter_scrape_duration_seconds`,
//! `exporter_last_scrape_connect_time_seconds`, `target_scrape_request_errors_total` and
//! `exporter_build_info`. (`redis_up` describes Redis, not the exporter.)

use std::time::Duration;

use aiplatform_prometheus::family::FamilySet;

/// Version labels of `redis_exporter_build_info`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// `version`.
    pub version: String,
    /// `commit_sha`.
    pub commit_sha: String,
    /// `build_date`.
    pub build_date: String,
    /// `golang_version`: here the Rust compiler's version.
    pub language_version: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit_sha: option_env!("AIPLATFORM_COMMIT_SHA")
                .unwrap_or("unknown")
                .to_owned(),
            build_date: option_env!("AIPLATFORM_BUILD_DATE")
                .unwrap_or("unknown")
                .to_owned(),
            language_version: format!("rustc{}", aiplatform_prometheus::RUST_VERSION),
        }
    }
}

/// The scrapes of one target so far.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ScrapeStats {
    /// Scrapes started.
    pub scrapes: u64,
    /// Scrapes finished, and their total duration in seconds.
    pub duration_count: u64,
    /// See `duration_count`.
    pub duration_sum: f64,
    /// How long the last finished one took.
    pub last_duration: Duration,
}

impl ScrapeStats {
    /// Records a finished scrape.
    pub fn record(&mut self, took: Duration) {
        self.duration_count += 1;
        self.duration_sum += took.as_secs_f64();
        self.last_duration = took;
    }
}

/// `exporter_last_scrape_error{err}`: 1 with the error's text, or 0 with an empty one.
pub fn last_scrape_error(out: &mut FamilySet, error: Option<&str>) {
    out.gauge(
        "exporter_last_scrape_error",
        "The last scrape error status.",
        &["err"],
        &[error.unwrap_or("")],
        if error.is_some() { 1.0 } else { 0.0 },
    );
}

/// `exporter_last_scrape_connect_time_seconds`: how long opening the connection took (the
/// last time one was opened, when the scrape reused it).
pub fn connect_time(out: &mut FamilySet, took: Duration) {
    out.gauge(
        "exporter_last_scrape_connect_time_seconds",
        "exporter_last_scrape_connect_time_seconds metric",
        &[],
        &[],
        took.as_secs_f64(),
    );
}

/// The scrape counters and durations, the `/scrape` request errors and, unless `build` is
/// `None` (`--redis-only-metrics`, `/scrape`), `exporter_build_info`.
pub fn scrape_stats(
    out: &mut FamilySet,
    stats: &ScrapeStats,
    request_errors: u64,
    build: Option<&BuildInfo>,
) {
    out.gauge(
        "exporter_last_scrape_duration_seconds",
        "exporter_last_scrape_duration_seconds metric",
        &[],
        &[],
        stats.last_duration.as_secs_f64(),
    );
    out.counter(
        "exporter_scrapes_total",
        "Current total redis scrapes.",
        &[],
        &[],
        stats.scrapes as f64,
    );
    out.summary(
        "exporter_scrape_duration_seconds",
        "Durations of scrapes by the exporter",
        &[],
        &[],
        &[],
        stats.duration_count,
        stats.duration_sum,
    );
    out.counter(
        "target_scrape_request_errors_total",
        "Errors in requests to the exporter",
        &[],
        &[],
        request_errors as f64,
    );
    if let Some(b) = build {
        out.gauge(
            "exporter_build_info",
            "redis exporter build_info",
            &["version", "commit_sha", "build_date", "golang_version"],
            &[
                &b.version,
                &b.commit_sha,
                &b.build_date,
                &b.language_version,
            ],
            1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::family_set;

    #[test]
    fn stats_and_error_status() {
        let mut stats = ScrapeStats {
            scrapes: 2,
            ..ScrapeStats::default()
        };
        stats.record(Duration::from_millis(250));
        stats.record(Duration::from_millis(750));
        let mut out = family_set("redis");
        last_scrape_error(&mut out, Some("connection refused"));
        scrape_stats(&mut out, &stats, 3, None);
        assert_eq!(out.skipped(), 0);
        let f = out.into_families();
        let names: Vec<&str> = f.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "redis_exporter_last_scrape_error",
                "redis_exporter_last_scrape_duration_seconds",
                "redis_exporter_scrapes",
                "redis_exporter_scrape_duration_seconds",
                "redis_target_scrape_request_errors",
            ]
        );
        assert_eq!(
            f[0].samples().next().unwrap().labels.value(0),
            "connection refused"
        );
        assert_eq!(stats.duration_count, 2);
        assert_eq!(stats.duration_sum, 1.0);
    }
}
