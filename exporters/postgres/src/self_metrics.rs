//! What postgres_exporter says about its own scrapes of a server: `pg_up`, `pg_static`, and
//! `pg_exporter_*`. They are a registry collector, read right after the collectors of a scrape
//! finished, so they describe that scrape.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aiplatform_metrics::collect::Collector;
use aiplatform_metrics::{MetricFamily, MetricKind};
use parking_lot::Mutex;

use crate::config::Config;
use crate::target::Target;
use crate::version::ServerVersion;

/// Groups the collector runs of a scrape: the first run to start opens a scrape, the last
/// to finish closes it and records its duration and whether any run failed.
#[derive(Debug, Default)]
pub struct ScrapeClock {
    state: Mutex<ClockState>,
    scrapes: AtomicU64,
}

#[derive(Debug, Default)]
struct ClockState {
    running: usize,
    started: Option<Instant>,
    failed: bool,
    last: Option<(Duration, bool)>,
}

/// One collector run; dropping it unfinished (a timeout) counts as a failure.
#[derive(Debug)]
pub struct Run<'a> {
    clock: &'a ScrapeClock,
    done: bool,
}

impl ScrapeClock {
    /// Starts a collector run.
    pub fn begin(&self) -> Run<'_> {
        let mut s = self.state.lock();
        if s.running == 0 {
            s.started = Some(Instant::now());
            s.failed = false;
        }
        s.running += 1;
        Run {
            clock: self,
            done: false,
        }
    }

    fn end(&self, ok: bool) {
        let mut s = self.state.lock();
        s.failed |= !ok;
        s.running = s.running.saturating_sub(1);
        if s.running == 0 {
            let took = s.started.map_or(Duration::ZERO, |t| t.elapsed());
            s.last = Some((took, s.failed));
            self.scrapes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Duration and error flag of the last finished scrape, and how many scrapes finished.
    pub fn last(&self) -> (Option<(Duration, bool)>, u64) {
        (self.state.lock().last, self.scrapes.load(Ordering::Relaxed))
    }
}

impl Run<'_> {
    /// Ends the run.
    pub fn finish(mut self, ok: bool) {
        self.done = true;
        self.clock.end(ok);
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.clock.end(false);
        }
    }
}

/// The state of the queries file, for `pg_exporter_user_queries_load_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueriesLoad {
    /// The file name as given.
    pub filename: String,
    /// SHA-256 of the content (empty when unreadable).
    pub hashsum: String,
    /// Whether loading failed.
    pub failed: bool,
}

/// The registry collector; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct SelfMetrics {
    /// The server.
    pub target: Arc<Target>,
    /// The scrapes of it.
    pub clock: Arc<ScrapeClock>,
    /// The collectors' settings (and the settings they skipped).
    pub config: Arc<Config>,
    /// The queries file, when one was given.
    pub queries: Option<QueriesLoad>,
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> MetricFamily {
    MetricFamily::builder(MetricKind::Gauge, name, help)
        .label_names(labels)
        .build()
        .expect("static description is valid")
}

impl Collector for SelfMetrics {
    fn collect(&self, out: &mut Vec<MetricFamily>) {
        let health = self.target.health();
        let none: &[&str] = &[];
        let mut up = gauge(
            "pg_up",
            "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).",
            none,
        );
        up.push_gauge(none, if health.up { 1.0 } else { 0.0 })
            .expect("no labels");
        out.push(up);

        if let (true, Some(text)) = (health.up, &health.version_text) {
            let mut f = MetricFamily::builder(
                MetricKind::Unknown,
                "pg_static",
                "Version string as reported by postgres",
            )
            .label_names(&["server", "short_version", "version"])
            .build()
            .expect("static description is valid");
            let short = health
                .version
                .map_or_else(String::new, |v: ServerVersion| v.to_string());
            f.push_gauge(
                &[self.target.server_label(), short.as_str(), text.as_str()],
                1.0,
            )
            .expect("three labels");
            out.push(f);
        }

        let (last, scrapes) = self.clock.last();
        let mut d = gauge(
            "pg_exporter_last_scrape_duration_seconds",
            "Duration of the last scrape of metrics from PostgreSQL.",
            none,
        );
        d.push_gauge(none, last.map_or(0.0, |(t, _)| t.as_secs_f64()))
            .expect("no labels");
        out.push(d);
        let mut total = MetricFamily::builder(
            MetricKind::Counter,
            "pg_exporter_scrapes_total",
            "Total number of times PostgreSQL was scraped for metrics.",
        )
        .build()
        .expect("static description is valid");
        total.push_counter(none, scrapes as f64).expect("no labels");
        out.push(total);
        let mut e = gauge(
            "pg_exporter_last_scrape_error",
            "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).",
            none,
        );
        e.push_gauge(
            none,
            if last.is_some_and(|(_, failed)| failed) {
                1.0
            } else {
                0.0
            },
        )
        .expect("no labels");
        out.push(e);

        if let Some(q) = &self.queries {
            let mut f = gauge(
                "pg_exporter_user_queries_load_error",
                "Whether the user queries file was loaded and parsed successfully (1 for error, 0 for success).",
                &["filename", "hashsum"],
            );
            f.push_gauge(
                &[q.filename.as_str(), q.hashsum.as_str()],
                if q.failed { 1.0 } else { 0.0 },
            )
            .expect("two labels");
            out.push(f);
        }

        let mut skipped = MetricFamily::builder(
            MetricKind::Counter,
            "pg_exporter_settings_skipped_total",
            "pg_settings rows skipped because their unit or value could not be converted.",
        )
        .build()
        .expect("static description is valid");
        skipped
            .push_counter(
                none,
                self.config.settings_skipped.load(Ordering::Relaxed) as f64,
            )
            .expect("no labels");
        out.push(skipped);
    }
}
