//! The set of named collectors: registration, enablement, per-scrape selection, and running a
//! scrape with per-collector time limits and success/duration reporting.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use aiplatform_metrics::{MetricFamily, MetricKind};

use super::run::{AsyncRunner, BlockingRunner, Job, Outcome, Runner, run_all};
use super::{
    BlockingCollector, CollectError, CollectorSetError, FilterError, ScrapeCollector, ScrapeContext,
};

/// Whether a collector runs when no flag names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultState {
    /// On unless `--no-collector.<name>` or `--collector.disable-defaults`.
    Enabled,
    /// Off unless `--collector.<name>`.
    Disabled,
}

/// Which collectors one scrape runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    /// Every enabled collector.
    #[default]
    All,
    /// These (enabled) collectors only (`collect[]`).
    Only(Vec<String>),
    /// Every enabled collector but these (`exclude[]`).
    Except(Vec<String>),
}

/// Parameters of one scrape.
#[derive(Debug, Clone, Default)]
pub struct ScrapeOptions {
    /// Which collectors run.
    pub selection: Selection,
    /// Time the whole scrape may take (usually from [`scrape_budget`]); collectors' limits
    /// are cut to fit it.
    pub budget: Option<Duration>,
    /// The request's query parameters, passed to collectors in their [`ScrapeContext`].
    pub query: Vec<(String, String)>,
}

/// The default per-collector time limit.
pub const DEFAULT_COLLECTOR_TIMEOUT: Duration = Duration::from_secs(10);

/// What is kept back from Prometheus' scrape timeout for encoding and the network.
pub const DEFAULT_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The time a scrape may take, from Prometheus' `X-Prometheus-Scrape-Timeout-Seconds`
/// header: the header's value less `offset`, but never less than half the header's value
/// (so a 1 s scrape timeout still leaves collectors 0.5 s). `None` when the header is absent
/// or not a positive number.
///
/// ```
/// use std::time::Duration;
/// use aiplatform_prometheus::scrape_budget;
///
/// let offset = Duration::from_millis(500);
/// assert_eq!(scrape_budget(Some("10"), offset), Some(Duration::from_millis(9500)));
/// assert_eq!(scrape_budget(Some("0.6"), offset), Some(Duration::from_millis(300)));
/// assert_eq!(scrape_budget(Some("nope"), offset), None);
/// assert_eq!(scrape_budget(None, offset), None);
/// ```
pub fn scrape_budget(header: Option<&str>, offset: Duration) -> Option<Duration> {
    let secs: f64 = header?.trim().parse().ok()?;
    if !(secs.is_finite() && secs > 0.0) {
        return None;
    }
    let total = Duration::try_from_secs_f64(secs).ok()?;
    Some(total.saturating_sub(offset).max(total / 2))
}

/// Collectors registered by name, each enabled or not; see the [module docs](crate::collectors).
pub struct CollectorSet {
    namespace: String,
    program: String,
    timeout: Duration,
    timeout_offset: Duration,
    report: bool,
    entries: Vec<Entry>,
}

struct Entry {
    name: Arc<str>,
    default: DefaultState,
    enabled: bool,
    timeout: Option<Duration>,
    /// `None` in a set made by [`CollectorSet::for_flags`].
    runner: Option<Arc<dyn Runner>>,
}

impl fmt::Debug for CollectorSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectorSet")
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field(
                "collectors",
                &self
                    .entries
                    .iter()
                    .map(|e| (&*e.name, e.enabled))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CollectorSet {
    /// An empty set reporting `<namespace>_scrape_collector_*` with HELP prefixed by
    /// `program` (`CollectorSet::new("node", "node_exporter")`).
    pub fn new(
        namespace: impl Into<String>,
        program: impl Into<String>,
    ) -> Result<CollectorSet, CollectorSetError> {
        let namespace = namespace.into();
        MetricFamily::builder(
            MetricKind::Gauge,
            &format!("{namespace}_scrape_collector_success"),
            "",
        )
        .build()
        .map_err(|e| CollectorSetError::Namespace(namespace.clone(), e.to_string()))?;
        Ok(CollectorSet {
            namespace,
            program: program.into(),
            timeout: DEFAULT_COLLECTOR_TIMEOUT,
            timeout_offset: DEFAULT_TIMEOUT_OFFSET,
            report: true,
            entries: Vec::new(),
        })
    }

    /// A set of names and defaults without collectors: what a binary parses
    /// `--[no-]collector.<name>` into before it can build its collectors, whose settings come
    /// from the same command line. A scrape of it runs nothing; copy its choices to the real
    /// set with [`enable_like`](Self::enable_like).
    ///
    /// ```
    /// use aiplatform_prometheus::{CollectorSet, DefaultState};
    ///
    /// let flags = CollectorSet::for_flags(
    ///     "node",
    ///     "node_exporter",
    ///     [("cpu", DefaultState::Enabled), ("wifi", DefaultState::Disabled)],
    /// )
    /// .unwrap();
    /// assert_eq!(flags.enabled().collect::<Vec<_>>(), ["cpu"]);
    /// ```
    pub fn for_flags<'a>(
        namespace: impl Into<String>,
        program: impl Into<String>,
        names: impl IntoIterator<Item = (&'a str, DefaultState)>,
    ) -> Result<CollectorSet, CollectorSetError> {
        let mut set = CollectorSet::new(namespace, program)?;
        for (name, default) in names {
            set.insert(name, default, None)?;
        }
        Ok(set)
    }

    /// Enables or disables each collector as `other` (usually the set the command line was
    /// parsed into, see [`for_flags`](Self::for_flags)) has it; names `other` lacks keep
    /// their state.
    pub fn enable_like(&mut self, other: &CollectorSet) {
        for e in &mut self.entries {
            if let Some(on) = other.is_enabled(&e.name) {
                e.enabled = on;
            }
        }
    }

    /// Whether scrapes add `<namespace>_scrape_collector_success` and
    /// `_duration_seconds` (default on, as node_exporter and postgres_exporter do). An
    /// exporter reproducing one without them (redis_exporter) turns them off; failures are
    /// still logged.
    ///
    /// ```
    /// use aiplatform_prometheus::CollectorSet;
    ///
    /// let mut set = CollectorSet::new("redis", "redis_exporter").unwrap();
    /// set.set_collector_report(false);
    /// ```
    pub fn set_collector_report(&mut self, on: bool) -> &mut Self {
        self.report = on;
        self
    }

    /// The time limit of collectors without their own (default 10 s).
    pub fn set_timeout(&mut self, limit: Duration) -> &mut Self {
        self.timeout = limit;
        self
    }

    /// The offset kept back from the scrape timeout header.
    pub fn timeout_offset(&self) -> Duration {
        self.timeout_offset
    }

    /// Registers an async collector.
    pub fn register<C: ScrapeCollector>(
        &mut self,
        name: &str,
        default: DefaultState,
        collector: C,
    ) -> Result<&mut Self, CollectorSetError> {
        self.insert(
            name,
            default,
            Some(Arc::new(AsyncRunner(Arc::new(collector)))),
        )
    }

    /// Registers a blocking collector (run on the blocking pool).
    pub fn register_blocking<C: BlockingCollector>(
        &mut self,
        name: &str,
        default: DefaultState,
        collector: C,
    ) -> Result<&mut Self, CollectorSetError> {
        self.insert(
            name,
            default,
            Some(Arc::new(BlockingRunner {
                collector: Arc::new(collector),
                running: Arc::new(AtomicBool::new(false)),
            })),
        )
    }

    fn insert(
        &mut self,
        name: &str,
        default: DefaultState,
        runner: Option<Arc<dyn Runner>>,
    ) -> Result<&mut Self, CollectorSetError> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(CollectorSetError::InvalidName(name.to_owned()));
        }
        let at = match self.entries.binary_search_by(|e| (*e.name).cmp(name)) {
            Ok(_) => return Err(CollectorSetError::Duplicate(name.to_owned())),
            Err(at) => at,
        };
        self.entries.insert(
            at,
            Entry {
                name: Arc::from(name),
                default,
                enabled: default == DefaultState::Enabled,
                timeout: None,
                runner,
            },
        );
        Ok(self)
    }

    fn entry_mut(&mut self, name: &str) -> Result<&mut Entry, CollectorSetError> {
        self.entries
            .iter_mut()
            .find(|e| &*e.name == name)
            .ok_or_else(|| CollectorSetError::Unknown(name.to_owned()))
    }

    /// Gives one collector its own time limit.
    pub fn set_collector_timeout(
        &mut self,
        name: &str,
        limit: Duration,
    ) -> Result<&mut Self, CollectorSetError> {
        self.entry_mut(name)?.timeout = Some(limit);
        Ok(self)
    }

    /// Enables or disables a collector (flags do this through
    /// [`apply_matches`](Self::apply_matches)).
    pub fn set_enabled(&mut self, name: &str, on: bool) -> Result<&mut Self, CollectorSetError> {
        self.entry_mut(name)?.enabled = on;
        Ok(self)
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|e| &*e.name)
    }

    /// The enabled names, sorted.
    pub fn enabled(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().filter(|e| e.enabled).map(|e| &*e.name)
    }

    /// Whether `name` is enabled (`None`: not registered).
    pub fn is_enabled(&self, name: &str) -> Option<bool> {
        self.entries
            .iter()
            .find(|e| &*e.name == name)
            .map(|e| e.enabled)
    }

    /// A registered collector's default.
    pub(crate) fn defaults(&self) -> impl Iterator<Item = (&str, DefaultState)> + '_ {
        self.entries.iter().map(|e| (&*e.name, e.default))
    }

    /// The selection for a request's `collect[]` and `exclude[]` values, with
    /// node_exporter's rules and messages: both together, or an unknown or disabled name in
    /// `collect[]`, is refused; unknown names in `exclude[]` are ignored. Excluding every
    /// enabled collector runs none (node_exporter would then run all of them).
    pub fn select(&self, collect: &[String], exclude: &[String]) -> Result<Selection, FilterError> {
        match (collect.is_empty(), exclude.is_empty()) {
            (true, true) => Ok(Selection::All),
            (false, false) => Err(FilterError::Combined),
            (false, true) => {
                for name in collect {
                    match self.is_enabled(name) {
                        None => return Err(FilterError::Missing(name.clone())),
                        Some(false) => return Err(FilterError::Disabled(name.clone())),
                        Some(true) => {}
                    }
                }
                let mut names = collect.to_vec();
                names.sort();
                names.dedup();
                Ok(Selection::Only(names))
            }
            (true, false) => Ok(Selection::Except(exclude.to_vec())),
        }
    }

    /// Runs one scrape: the selected enabled collectors, concurrently, each under its time
    /// limit cut to the budget. Returns their families followed by the
    /// `<namespace>_scrape_collector_duration_seconds` and `_success` families, unless
    /// [`set_collector_report`](Self::set_collector_report) turned them off.
    pub async fn scrape(&self, options: ScrapeOptions) -> Vec<MetricFamily> {
        let selected = |name: &str| match &options.selection {
            Selection::All => true,
            Selection::Only(names) => names.iter().any(|n| n == name),
            Selection::Except(names) => !names.iter().any(|n| n == name),
        };
        let jobs: Vec<Job> = self
            .entries
            .iter()
            .filter(|e| e.enabled && selected(&e.name))
            .filter_map(|e| {
                let own = e.timeout.unwrap_or(self.timeout);
                Some(Job {
                    name: e.name.clone(),
                    runner: e.runner.clone()?,
                    limit: options.budget.map_or(own, |b| own.min(b)),
                })
            })
            .collect();
        let longest = jobs.iter().map(|j| j.limit).max().unwrap_or_default();
        let ctx = ScrapeContext::new(Instant::now() + longest).with_query(options.query);
        // Whether the scrape completes or its future is dropped (client gone), collectors
        // still running on the blocking pool see the cancellation.
        let _cancel_on_exit = CancelOnDrop(&ctx);
        let (mut families, outcomes) = run_all(jobs, &ctx).await;
        self.report(&outcomes, &mut families);
        families
    }

    fn report(&self, outcomes: &[Outcome], out: &mut Vec<MetricFamily>) {
        self.log(outcomes);
        if self.report {
            self.report_families(outcomes, out);
        }
    }

    /// Logs each outcome as node_exporter does: success and no data at debug, failure at
    /// error.
    fn log(&self, outcomes: &[Outcome]) {
        for o in outcomes {
            let secs = o.duration.as_secs_f64();
            match &o.result {
                Ok(()) => {
                    tracing::debug!(name = %o.name, duration_seconds = secs, "collector succeeded")
                }
                Err(CollectError::NoData) => {
                    tracing::debug!(name = %o.name, duration_seconds = secs, "collector returned no data")
                }
                Err(err) => {
                    tracing::error!(name = %o.name, duration_seconds = secs, err = %err, "collector failed")
                }
            }
        }
    }

    fn report_families(&self, outcomes: &[Outcome], out: &mut Vec<MetricFamily>) {
        if outcomes.is_empty() {
            // No collector ran: no metadata without samples either.
            return;
        }
        let ns = &self.namespace;
        let program = &self.program;
        let mut duration = MetricFamily::builder(
            MetricKind::Gauge,
            &format!("{ns}_scrape_collector_duration_seconds"),
            &format!("{program}: Duration of a collector scrape."),
        )
        .label_names(&["collector"])
        .build()
        .expect("namespace validated in new()");
        let mut success = MetricFamily::builder(
            MetricKind::Gauge,
            &format!("{ns}_scrape_collector_success"),
            &format!("{program}: Whether a collector succeeded."),
        )
        .label_names(&["collector"])
        .build()
        .expect("namespace validated in new()");
        for o in outcomes {
            let label = [&*o.name];
            duration
                .push_gauge(&label, o.duration.as_secs_f64())
                .expect("one label");
            success
                .push_gauge(&label, if o.result.is_ok() { 1.0 } else { 0.0 })
                .expect("one label");
        }
        out.push(duration);
        out.push(success);
    }
}

struct CancelOnDrop<'a>(&'a ScrapeContext);

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: &ScrapeContext, _: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        Ok(())
    }

    fn set() -> CollectorSet {
        let mut s = CollectorSet::new("node", "node_exporter").unwrap();
        s.register_blocking("cpu", DefaultState::Enabled, noop)
            .unwrap();
        s.register_blocking("meminfo", DefaultState::Enabled, noop)
            .unwrap();
        s.register_blocking("wifi", DefaultState::Disabled, noop)
            .unwrap();
        s
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn registration_rules() {
        let mut s = set();
        assert_eq!(
            s.register_blocking("cpu", DefaultState::Enabled, noop)
                .unwrap_err(),
            CollectorSetError::Duplicate("cpu".into())
        );
        for bad in ["", "CPU", "a-b", "a.b", "a b"] {
            assert!(matches!(
                s.register_blocking(bad, DefaultState::Enabled, noop),
                Err(CollectorSetError::InvalidName(_))
            ));
        }
        assert!(CollectorSet::new("bad name", "x").is_err());
        assert_eq!(s.names().collect::<Vec<_>>(), ["cpu", "meminfo", "wifi"]);
        assert_eq!(s.enabled().collect::<Vec<_>>(), ["cpu", "meminfo"]);
        assert!(s.set_enabled("nope", true).is_err());
    }

    #[test]
    fn node_filter_rules() {
        let s = set();
        assert_eq!(s.select(&[], &[]), Ok(Selection::All));
        assert_eq!(
            s.select(&strings(&["meminfo", "cpu", "cpu"]), &[]),
            Ok(Selection::Only(strings(&["cpu", "meminfo"])))
        );
        assert_eq!(
            s.select(&strings(&["cpu"]), &strings(&["meminfo"])),
            Err(FilterError::Combined)
        );
        let missing = s.select(&strings(&["nope"]), &[]).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "Couldn't create filtered metrics handler: couldn't create collector: missing collector: nope"
        );
        let disabled = s.select(&strings(&["wifi"]), &[]).unwrap_err();
        assert_eq!(
            disabled.to_string(),
            "Couldn't create filtered metrics handler: couldn't create collector: disabled collector: wifi"
        );
        assert_eq!(
            s.select(&[], &strings(&["nope"])),
            Ok(Selection::Except(strings(&["nope"])))
        );
    }

    #[tokio::test]
    async fn nothing_enabled_reports_nothing() {
        let mut s = CollectorSet::new("node", "node_exporter").unwrap();
        s.register_blocking("wifi", DefaultState::Disabled, noop)
            .unwrap();
        assert!(s.scrape(ScrapeOptions::default()).await.is_empty());
        s.set_enabled("wifi", true).unwrap();
        let names: Vec<String> = s
            .scrape(ScrapeOptions::default())
            .await
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "node_scrape_collector_duration_seconds",
                "node_scrape_collector_success"
            ]
        );
    }

    #[tokio::test]
    async fn a_flags_set_runs_nothing_and_hands_its_choices_over() {
        let mut flags = CollectorSet::for_flags(
            "node",
            "node_exporter",
            [
                ("cpu", DefaultState::Enabled),
                ("meminfo", DefaultState::Enabled),
                ("wifi", DefaultState::Disabled),
            ],
        )
        .unwrap();
        assert!(flags.scrape(ScrapeOptions::default()).await.is_empty());
        flags.set_enabled("cpu", false).unwrap();
        flags.set_enabled("wifi", true).unwrap();
        let mut real = set();
        real.register_blocking("time", DefaultState::Enabled, noop)
            .unwrap();
        real.enable_like(&flags);
        assert_eq!(
            real.enabled().collect::<Vec<_>>(),
            ["meminfo", "time", "wifi"]
        );
    }

    #[test]
    fn budget_from_header() {
        let off = Duration::from_millis(500);
        assert_eq!(
            scrape_budget(Some(" 15 "), off),
            Some(Duration::from_millis(14500))
        );
        assert_eq!(
            scrape_budget(Some("1"), off),
            Some(Duration::from_millis(500))
        );
        for bad in ["0", "-1", "NaN", "inf", ""] {
            assert_eq!(scrape_budget(Some(bad), off), None, "{bad}");
        }
    }
}
