//! The plain data model every backend reads: families of samples, taken at one collection.
//!
//! A [`Snapshot`] holds no locks and no live cells. Families registered natively share their
//! (immutable) member list with the registry instead of copying label sets, and values sit in
//! flat vectors, so collecting into a reused snapshot allocates nothing per series.
//!
//! This module is the snapshot as backends read it; [`build`] is how collectors and the
//! registry fill it.

use std::sync::Arc;

use crate::desc::{Descriptor, MetricKind};
use crate::labels::LabelSet;
use crate::names::Unit;

mod build;

pub use build::FamilyBuilder;

/// Every family of a registry at one collection, sorted by name.
///
/// ```
/// use aiplatform_metrics::{Registry, Value};
///
/// let registry = Registry::new();
/// let jobs = registry.counter("jobs_total", "Jobs done.").unwrap();
/// jobs.inc_by(3);
/// let snapshot = registry.collect();
/// let family = snapshot.family("jobs").unwrap();
/// let sample = family.samples().next().unwrap();
/// assert!(matches!(sample.value, Value::Counter(c) if c.as_f64() == 3.0));
/// ```
#[derive(Debug, Default)]
pub struct Snapshot {
    pub(crate) families: Vec<MetricFamily>,
    pub(crate) const_labels: ConstLabels,
}

impl Snapshot {
    /// An empty snapshot, to pass to [`Registry::collect_into`](crate::Registry::collect_into).
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// The families, sorted by name; families without series are included.
    pub fn families(&self) -> &[MetricFamily] {
        &self.families
    }

    /// The family called `name` (the family name: counters without `_total`).
    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.families
            .binary_search_by(|f| (*f.desc.name).cmp(name))
            .ok()
            .map(|i| &self.families[i])
    }

    /// Labels the registry adds to every series, rendered once.
    pub fn const_labels(&self) -> &ConstLabels {
        &self.const_labels
    }
}

/// Labels added to every series of a registry (`service`, `env`, ...).
///
/// ```
/// use aiplatform_metrics::Registry;
///
/// let registry = Registry::builder().const_label("env", "prod").build().unwrap();
/// let snapshot = registry.collect();
/// assert_eq!(snapshot.const_labels().iter().collect::<Vec<_>>(), [("env", "prod")]);
/// assert_eq!(snapshot.const_labels().rendered(), r#"env="prod""#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConstLabels {
    pub(crate) names: Arc<[Box<str>]>,
    pub(crate) values: Option<Arc<LabelSet>>,
}

impl ConstLabels {
    pub(crate) fn new(pairs: &[(String, String)]) -> ConstLabels {
        if pairs.is_empty() {
            return ConstLabels::default();
        }
        let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
        let values: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
        ConstLabels {
            names: names.iter().map(|&n| Box::from(n)).collect(),
            values: Some(Arc::new(LabelSet::new(&names, &values))),
        }
    }

    /// `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.names
            .iter()
            .map(|n| &**n)
            .zip(self.values.iter().flat_map(|v| v.values()))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The escaped `name="value",...` text, empty when there are none.
    pub fn rendered(&self) -> &str {
        self.values.as_deref().map_or("", LabelSet::rendered)
    }
}

/// Where the label sets of a family's series come from.
#[derive(Clone)]
pub(crate) enum SeriesLabels {
    /// A registered family's member list, shared with the registry.
    Listed(Arc<dyn LabelList>),
    /// Built by a collector.
    Owned(Vec<LabelSet>),
}

impl std::fmt::Debug for SeriesLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeriesLabels::Listed(l) => write!(f, "Listed({})", l.len()),
            SeriesLabels::Owned(v) => f.debug_tuple("Owned").field(v).finish(),
        }
    }
}

/// A registered family's series, in exposition order.
pub(crate) trait LabelList: Send + Sync {
    fn len(&self) -> usize;
    fn labels(&self, i: usize) -> &LabelSet;
    /// The escaped label text of every series, back to back, and where each one ends: what
    /// encoders copy, read front to back without visiting the series.
    fn rendered_all(&self) -> (&[u8], &[u32]);
}

/// One series' value, packed; what the fields mean depends on the family's kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    /// Counter: integer part. Histogram and summary: count.
    pub(crate) a: u64,
    /// Counter: float part. Gauge/unknown: value. Histogram and summary: sum.
    pub(crate) b: f64,
    /// Histogram: offset of the bucket counts in `counts`.
    pub(crate) start: u32,
    /// Histogram: offset of the bounds in `floats` (`u32::MAX`: the family's shared bounds).
    /// Summary: offset of the (quantile, value) pairs in `floats`.
    pub(crate) fstart: u32,
    /// Histogram: number of buckets including `+Inf`. Summary: number of quantiles.
    pub(crate) len: u32,
    /// Milliseconds since the Unix epoch, or `i64::MIN` for none.
    pub(crate) ts: i64,
}

const NO_TS: i64 = i64::MIN;
const SHARED_BOUNDS: u32 = u32::MAX;

impl Point {
    pub(crate) fn scalar(a: u64, b: f64) -> Point {
        Point {
            a,
            b,
            start: 0,
            fstart: 0,
            len: 0,
            ts: NO_TS,
        }
    }
}

/// One family at one collection.
///
/// ```
/// use aiplatform_metrics::{MetricKind, Registry};
///
/// let registry = Registry::new();
/// registry.counter_family("jobs_total", "Jobs done.", &["queue"]).unwrap().with(&["mail"]).inc();
/// let snapshot = registry.collect();
/// let f = snapshot.family("jobs").unwrap();
/// assert_eq!((f.name(), f.help(), f.kind(), f.len()), ("jobs", "Jobs done.", MetricKind::Counter, 1));
/// assert_eq!(f.label_names().collect::<Vec<_>>(), ["queue"]);
/// ```
#[derive(Debug, Clone)]
pub struct MetricFamily {
    pub(crate) desc: Arc<Descriptor>,
    pub(crate) series: SeriesLabels,
    pub(crate) points: Vec<Point>,
    pub(crate) counts: Vec<u64>,
    pub(crate) floats: Vec<f64>,
    pub(crate) bounds: Option<Arc<[f64]>>,
}

/// The series of a registered family at one collection, held to recognise them at a later
/// one: a registry builds a new list whenever a series is added or removed, so a family whose
/// list is still this one has the same series in the same order. A push pipeline keeps what
/// it last sent per series by position instead of comparing label sets.
///
/// ```
/// use aiplatform_metrics::Registry;
///
/// let registry = Registry::new();
/// let jobs = registry.counter_family("jobs_total", "Jobs.", &["queue"]).unwrap();
/// jobs.with(&["mail"]).inc();
/// let first = registry.collect();
/// let list = first.family("jobs").unwrap().series_list().unwrap();
/// assert_eq!(list.labels(0).value(0), "mail");
///
/// jobs.with(&["mail"]).inc(); // a value changed: same series
/// assert!(registry.collect().family("jobs").unwrap().has_series_of(&list));
/// jobs.with(&["sms"]).inc(); // a series was added
/// assert!(!registry.collect().family("jobs").unwrap().has_series_of(&list));
/// ```
#[derive(Clone)]
pub struct SeriesList(Arc<dyn LabelList>);

impl SeriesList {
    /// Number of series.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no series.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// The labels of series `i`, in exposition order.
    ///
    /// # Panics
    ///
    /// If `i` is out of range.
    #[inline]
    pub fn labels(&self, i: usize) -> &LabelSet {
        self.0.labels(i)
    }
}

impl std::fmt::Debug for SeriesList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeriesList({})", self.0.len())
    }
}

/// One series of a family: its labels and value.
///
/// ```
/// use aiplatform_metrics::{Registry, Value};
///
/// let registry = Registry::new();
/// registry.gauge_family("temp_celsius", "T.", &["room"]).unwrap().with(&["lab"]).set(21.0);
/// let snapshot = registry.collect();
/// for sample in snapshot.family("temp_celsius").unwrap().samples() {
///     assert_eq!(sample.labels.value(0), "lab");
///     assert_eq!(sample.value, Value::Gauge(21.0));
///     assert_eq!(sample.timestamp_ms, None);
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// Label values, in the order of [`MetricFamily::label_names`].
    pub labels: &'a LabelSet,
    /// The value.
    pub value: Value<'a>,
    /// A timestamp carried from the source (milliseconds since the Unix epoch), if any.
    pub timestamp_ms: Option<i64>,
}

/// The value of one series.
///
/// ```
/// use aiplatform_metrics::{Buckets, Registry, Value};
///
/// let registry = Registry::new();
/// registry.histogram("op_seconds", "Op.", Buckets::new([1.0]).unwrap()).unwrap().observe(0.5);
/// let snapshot = registry.collect();
/// match snapshot.family("op_seconds").unwrap().samples().next().unwrap().value {
///     Value::Histogram(h) => assert_eq!((h.count, h.sum), (1, 0.5)),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A counter total.
    Counter(CounterValue),
    /// A gauge value.
    Gauge(f64),
    /// A value of unknown type.
    Unknown(f64),
    /// A classic histogram.
    Histogram(HistogramValue<'a>),
    /// A summary.
    Summary(SummaryValue<'a>),
}

/// A counter total: an exact integer part plus the sum of fractional increments.
///
/// ```
/// use aiplatform_metrics::{Registry, Value};
///
/// let registry = Registry::new();
/// let c = registry.counter("cpu_seconds_total", "CPU.").unwrap();
/// c.inc_by(2);
/// c.inc_by_f64(0.5);
/// let snapshot = registry.collect();
/// let Value::Counter(v) = snapshot.family("cpu_seconds").unwrap().samples().next().unwrap().value else { panic!() };
/// assert_eq!((v.as_f64(), v.as_u64()), (2.5, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CounterValue {
    pub(crate) int: u64,
    pub(crate) float: f64,
}

impl CounterValue {
    /// The total as a float.
    pub fn as_f64(&self) -> f64 {
        self.int as f64 + self.float
    }

    /// The total as an exact integer, when no fractional increment was ever made.
    pub fn as_u64(&self) -> Option<u64> {
        (self.float == 0.0).then_some(self.int)
    }
}

/// A classic histogram's count, sum and buckets.
///
/// ```
/// use aiplatform_metrics::{Buckets, Registry, Value};
///
/// let registry = Registry::new();
/// let h = registry.histogram("size_bytes", "Sizes.", Buckets::new([10.0, 100.0]).unwrap()).unwrap();
/// for v in [5.0, 50.0, 500.0] {
///     h.observe(v);
/// }
/// let snapshot = registry.collect();
/// let Value::Histogram(v) = snapshot.family("size_bytes").unwrap().samples().next().unwrap().value else { panic!() };
/// assert_eq!(v.buckets().collect::<Vec<_>>(), [(10.0, 1), (100.0, 1), (f64::INFINITY, 1)]);
/// assert_eq!(v.cumulative().map(|(_, c)| c).collect::<Vec<_>>(), [1, 2, 3]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramValue<'a> {
    /// Number of observations; always the sum of the bucket counts.
    pub count: u64,
    /// Sum of the observations.
    pub sum: f64,
    bounds: &'a [f64],
    counts: &'a [u64],
}

impl<'a> HistogramValue<'a> {
    /// `(upper bound, observations in this bucket only)`, ascending, ending with `+Inf`.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + 'a {
        let bounds = self.bounds;
        self.counts
            .iter()
            .enumerate()
            .map(move |(i, &c)| (bounds.get(i).copied().unwrap_or(f64::INFINITY), c))
    }

    /// `(upper bound, observations at or below it)`, as the exposition formats write them.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + 'a {
        let mut total = 0;
        self.buckets().map(move |(le, c)| {
            total += c;
            (le, total)
        })
    }

    /// The finite upper bounds.
    pub fn bounds(&self) -> &'a [f64] {
        self.bounds
    }
}

/// A summary's count, sum and quantiles (produced by collectors).
///
/// ```
/// use aiplatform_metrics::{MetricFamily, MetricKind, Value, NO_LABELS};
///
/// let mut f = MetricFamily::builder(MetricKind::Summary, "rpc_seconds", "RPC.").build().unwrap();
/// f.push_summary(NO_LABELS, &[(0.5, 0.1), (0.99, 0.9)], 10, 2.0).unwrap();
/// let Value::Summary(s) = f.samples().next().unwrap().value else { panic!() };
/// assert_eq!(s.quantiles().collect::<Vec<_>>(), [(0.5, 0.1), (0.99, 0.9)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryValue<'a> {
    /// Number of observations.
    pub count: u64,
    /// Sum of the observations.
    pub sum: f64,
    pairs: &'a [f64],
}

impl<'a> SummaryValue<'a> {
    /// `(quantile, value)` pairs.
    pub fn quantiles(&self) -> impl Iterator<Item = (f64, f64)> + 'a {
        self.pairs.chunks_exact(2).map(|p| (p[0], p[1]))
    }
}

impl MetricFamily {
    pub(crate) fn listed(
        desc: Arc<Descriptor>,
        list: Arc<dyn LabelList>,
        bounds: Option<Arc<[f64]>>,
    ) -> Self {
        MetricFamily {
            desc,
            series: SeriesLabels::Listed(list),
            points: Vec::new(),
            counts: Vec::new(),
            floats: Vec::new(),
            bounds,
        }
    }

    /// The family name (OpenMetrics' name: counters without `_total`).
    pub fn name(&self) -> &str {
        &self.desc.name
    }

    /// What text 0.0.4 appends to the family name in sample names: `_total` for counters
    /// (unless described with `text_name_as_given`), nothing otherwise. Push protocols that
    /// carry Prometheus names (remote write, the Pushgateway) use it so their series match a
    /// scrape's.
    ///
    /// ```
    /// use aiplatform_metrics::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.counter("jobs_total", "Jobs.").unwrap();
    /// registry.gauge("queue_depth", "Depth.").unwrap();
    /// let snapshot = registry.collect();
    /// assert_eq!(snapshot.family("jobs").unwrap().text_suffix(), "_total");
    /// assert_eq!(snapshot.family("queue_depth").unwrap().text_suffix(), "");
    /// ```
    pub fn text_suffix(&self) -> &'static str {
        match self.desc.counter_suffix(false) {
            b"" => "",
            _ => "_total",
        }
    }

    /// The help text, unescaped.
    pub fn help(&self) -> &str {
        &self.desc.help
    }

    /// The unit, if declared.
    pub fn unit(&self) -> Option<&Unit> {
        self.desc.unit.as_ref()
    }

    /// The metric type.
    pub fn kind(&self) -> MetricKind {
        self.desc.kind
    }

    /// Label names, in the order every [`LabelSet`] of the family follows.
    pub fn label_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.desc.label_names.iter().map(|n| &**n)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the family has no series.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The list of its series, for a family registered in a registry (those built by a
    /// collector have none): see [`SeriesList`].
    pub fn series_list(&self) -> Option<SeriesList> {
        match &self.series {
            SeriesLabels::Listed(l) => Some(SeriesList(l.clone())),
            SeriesLabels::Owned(_) => None,
        }
    }

    /// Whether its series are those of `list`, in the same order (series `i` here is series
    /// `i` there).
    #[inline]
    pub fn has_series_of(&self, list: &SeriesList) -> bool {
        match &self.series {
            SeriesLabels::Listed(l) => {
                std::ptr::addr_eq(Arc::as_ptr(l), Arc::as_ptr(&list.0))
                    && self.points.len() == l.len()
            }
            SeriesLabels::Owned(_) => false,
        }
    }

    /// Hints that the labels of series `i` and those after it are about to be read, one
    /// series after the other (an encoder's loop calls it for each series it writes): label
    /// sets are scattered on the heap, so the label set a few series ahead and the text and
    /// values of a closer one start loading now. Purely a performance hint; any `i` is fine.
    #[inline]
    pub fn prefetch_labels(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            const FAR: usize = 16;
            const NEAR: usize = 8;
            let n = self.points.len();
            if i + FAR < n {
                let set: *const LabelSet = self.labels_at(i + FAR);
                // SAFETY: prefetching has no architectural effect and never faults.
                unsafe { _mm_prefetch(set.cast::<i8>(), _MM_HINT_T0) };
            }
            if i + NEAR < n {
                self.labels_at(i + NEAR).prefetch();
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// Each series' escaped label text (`name="value",...`, as [`LabelSet::rendered`]), in
    /// order: for a registered family, slices of one buffer read front to back, where reading
    /// every series' [`LabelSet`] visits a heap allocation per series. Parse values out of it
    /// with [`rendered_values`](crate::rendered_values).
    ///
    /// ```
    /// use aiplatform_metrics::Registry;
    ///
    /// let registry = Registry::new();
    /// let jobs = registry.counter_family("jobs_total", "Jobs.", &["queue"]).unwrap();
    /// jobs.with(&["mail"]).inc();
    /// jobs.with(&["sms"]).inc();
    /// let snapshot = registry.collect();
    /// let texts: Vec<&str> = snapshot.family("jobs").unwrap().rendered_labels().collect();
    /// assert_eq!(texts, [r#"queue="mail""#, r#"queue="sms""#]);
    /// ```
    pub fn rendered_labels(&self) -> RenderedLabels<'_> {
        match &self.series {
            SeriesLabels::Listed(l) => {
                let (text, ends) = l.rendered_all();
                let ends = &ends[..ends.len().min(self.points.len())];
                RenderedLabels(Rendered::Listed {
                    text,
                    ends: ends.iter(),
                    start: 0,
                })
            }
            SeriesLabels::Owned(v) => {
                RenderedLabels(Rendered::Owned(v[..self.points.len()].iter()))
            }
        }
    }

    #[inline]
    pub(crate) fn labels_at(&self, i: usize) -> &LabelSet {
        match &self.series {
            SeriesLabels::Listed(l) => l.labels(i),
            SeriesLabels::Owned(v) => &v[i],
        }
    }

    /// Calls `f` with each series' escaped label text and point, in order.
    #[inline]
    pub(crate) fn for_each_rendered(&self, mut f: impl FnMut(&[u8], &Point)) {
        match &self.series {
            SeriesLabels::Listed(l) => {
                let (text, ends) = l.rendered_all();
                assert_eq!(ends.len(), self.points.len(), "one point per listed series");
                let mut start = 0usize;
                for (p, &end) in self.points.iter().zip(ends) {
                    let end = end as usize;
                    // SAFETY: `ends` is ascending and its last entry is `text.len()`: every
                    // `start..end` lies within `text` (the member list builds both together).
                    f(unsafe { text.get_unchecked(start..end) }, p);
                    start = end;
                }
            }
            SeriesLabels::Owned(v) => {
                for (set, p) in v.iter().zip(&self.points) {
                    f(set.rendered().as_bytes(), p);
                }
            }
        }
    }

    #[inline]
    pub(crate) fn value_at(&self, p: &Point) -> Value<'_> {
        match self.desc.kind {
            MetricKind::Counter => Value::Counter(CounterValue {
                int: p.a,
                float: p.b,
            }),
            MetricKind::Gauge => Value::Gauge(p.b),
            MetricKind::Unknown => Value::Unknown(p.b),
            MetricKind::Histogram => {
                let counts = &self.counts[p.start as usize..(p.start + p.len) as usize];
                let bounds = if p.fstart == SHARED_BOUNDS {
                    self.bounds.as_deref().unwrap_or(&[])
                } else {
                    &self.floats[p.fstart as usize..(p.fstart + p.len - 1) as usize]
                };
                Value::Histogram(HistogramValue {
                    count: p.a,
                    sum: p.b,
                    bounds,
                    counts,
                })
            }
            MetricKind::Summary => {
                let pairs = &self.floats[p.fstart as usize..(p.fstart + 2 * p.len) as usize];
                Value::Summary(SummaryValue {
                    count: p.a,
                    sum: p.b,
                    pairs,
                })
            }
        }
    }

    /// The series, in exposition order (sorted by label values).
    pub fn samples(&self) -> impl ExactSizeIterator<Item = Sample<'_>> + '_ {
        self.points.iter().enumerate().map(|(i, p)| Sample {
            labels: self.labels_at(i),
            value: self.value_at(p),
            timestamp_ms: (p.ts != NO_TS).then_some(p.ts),
        })
    }

    /// The series' values, in exposition order, without their labels: for a reader that
    /// matched the series already (by [`MetricFamily::has_series_of`]) and so reads no label.
    pub fn values(&self) -> impl ExactSizeIterator<Item = Value<'_>> + '_ {
        self.points.iter().map(|p| self.value_at(p))
    }

    /// The series with these label values, if present.
    pub fn get<V: AsRef<str>>(&self, values: &[V]) -> Option<Sample<'_>> {
        self.samples().find(|s| s.labels.matches_values(values))
    }
}

/// Iterator of [`MetricFamily::rendered_labels`].
#[derive(Debug, Clone)]
pub struct RenderedLabels<'a>(Rendered<'a>);

#[derive(Debug, Clone)]
enum Rendered<'a> {
    Listed {
        text: &'a [u8],
        ends: std::slice::Iter<'a, u32>,
        start: usize,
    },
    Owned(std::slice::Iter<'a, LabelSet>),
}

impl<'a> Iterator for RenderedLabels<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            Rendered::Listed { text, ends, start } => {
                let end = *ends.next()? as usize;
                // SAFETY: `ends` is ascending, its last entry is `text.len()`, and every entry
                // ends a whole series' text (the member list builds both together from `str`s):
                // `start..end` lies within `text` at character boundaries.
                let s = unsafe { std::str::from_utf8_unchecked(text.get_unchecked(*start..end)) };
                *start = end;
                Some(s)
            }
            Rendered::Owned(sets) => sets.next().map(LabelSet::rendered),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            Rendered::Listed { ends, .. } => ends.len(),
            Rendered::Owned(sets) => sets.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for RenderedLabels<'_> {}
