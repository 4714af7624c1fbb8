//! Temporality in one place: what each series' value means when it is pushed.
//!
//! A registry holds cumulative totals. Some receivers want exactly that (Prometheus remote
//! write, the Pushgateway, OTLP with cumulative temporality); others want what changed since
//! the previous push (DogStatsD counts, Datadog and New Relic counts, OTLP delta). The
//! [`Tracker`] turns successive snapshots into either, and gives every series a start time:
//!
//! - **cumulative**: the registry's value; the start is when the series was first seen (or
//!   when it was last reset);
//! - **delta**: the value minus the one pushed before; the start is the previous collection.
//!
//! It keeps one entry per series (its last value and start time) in the order of the snapshot.
//! A family whose series list is the one seen at the previous collection (a registry keeps the
//! list until a series is added or removed: the usual case) is matched by position, without
//! reading a label. Otherwise the entries are matched to the snapshot by a merge of two sorted
//! lists: snapshots list families by name and series by label values, so matching costs one
//! comparison per series and no hashing; the labels compared are those of the previous series
//! list, or for a family built by a collector, the tracker's copies. A series that is
//! new, or that reappears after it vanished (removed or expired, then recreated from zero),
//! starts afresh: its first delta is its whole value. A counter whose total went down, or a
//! histogram whose count or any bucket went down, was reset (a restarted collector source):
//! its delta is its new total and its start moves to the previous collection. A histogram whose
//! bucket layout changed is treated as a new series.

use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use aiplatform_metrics::{
    LabelSet, MetricFamily, MetricKind, Sample, SeriesList, Snapshot, SummaryValue, Value,
};

/// Whether pushed values are totals or changes since the previous push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Temporality {
    /// Totals since the series started, as the registry holds them.
    #[default]
    Cumulative,
    /// Changes since the previous collection (gauges keep their value).
    Delta,
}

impl std::str::FromStr for Temporality {
    type Err = String;

    /// `cumulative` or `delta`, in any case (the values of
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cumulative" => Ok(Temporality::Cumulative),
            "delta" => Ok(Temporality::Delta),
            other => Err(format!(
                "unknown temporality {other:?} (expected cumulative or delta)"
            )),
        }
    }
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

const NEW: u8 = 1;
const RESET: u8 = 2;
const CHANGED: u8 = 4;

/// One series as the tracker last saw it (its labels are kept beside, per family).
#[derive(Debug, Clone, Copy)]
struct SeriesState {
    start_ns: u64,
    /// Counter: integer part; histogram and summary: count.
    int: u64,
    /// Counter: fractional increments; gauge: value; histogram and summary: sum.
    float: f64,
    /// Histogram: where its bucket counts sit in the family's `counts`, how many there are,
    /// and a fingerprint of its bounds.
    counts_at: u32,
    counts_len: u32,
    bounds_sig: u64,
}

/// One family as the tracker last saw it; the `spare_*` vectors are the previous round's,
/// kept for their capacity.
#[derive(Debug)]
struct FamilyState {
    name: Box<str>,
    kind: MetricKind,
    label_names: Vec<Box<str>>,
    series: Vec<SeriesState>,
    counts: Vec<u64>,
    /// A registered family's series list at the previous collection: the labels of `series`.
    list: Option<SeriesList>,
    /// A collector's family: copies of the labels of `series`.
    labels: Vec<LabelSet>,
    spare_series: Vec<SeriesState>,
    spare_counts: Vec<u64>,
    spare_labels: Vec<LabelSet>,
}

impl FamilyState {
    fn new(family: &MetricFamily) -> FamilyState {
        FamilyState {
            name: family.name().into(),
            kind: family.kind(),
            label_names: family.label_names().map(Box::from).collect(),
            series: Vec::new(),
            counts: Vec::new(),
            list: None,
            labels: Vec::new(),
            spare_series: Vec::new(),
            spare_counts: Vec::new(),
            spare_labels: Vec::new(),
        }
    }

    /// The labels of series `i` of the previous collection.
    #[inline]
    fn labels_of(&self, i: usize) -> &LabelSet {
        match &self.list {
            Some(list) => list.labels(i),
            None => &self.labels[i],
        }
    }

    fn describes(&self, family: &MetricFamily) -> bool {
        self.kind == family.kind()
            && self.label_names.len() == family.label_names().len()
            && self
                .label_names
                .iter()
                .zip(family.label_names())
                .all(|(a, b)| &**a == b)
    }
}

/// What the tracker computed for one series of the current collection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View {
    start_ns: u64,
    int: u64,
    float: f64,
    counts_at: u32,
    flags: u8,
}

/// Turns successive snapshots into cumulative or delta points with start times.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use aiplatform_metrics::Registry;
/// use aiplatform_push::{PointValue, Temporality, Tracker};
///
/// let registry = Registry::builder().without_self_metrics().build().unwrap();
/// let jobs = registry.counter("jobs_total", "Jobs.").unwrap();
/// let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
/// let mut tracker = Tracker::new(Temporality::Delta, t0);
///
/// jobs.inc_by(5);
/// let snapshot = registry.collect();
/// let first = tracker.update(&snapshot, t0 + Duration::from_secs(10));
/// let point = first.families().next().unwrap().points().next().unwrap();
/// assert!(matches!(point.value, PointValue::Counter(c) if c.as_f64() == 5.0));
///
/// jobs.inc_by(2);
/// let snapshot = registry.collect();
/// let second = tracker.update(&snapshot, t0 + Duration::from_secs(20));
/// let point = second.families().next().unwrap().points().next().unwrap();
/// assert!(matches!(point.value, PointValue::Counter(c) if c.as_f64() == 2.0));
/// assert_eq!(point.start_unix_nano, 1_010_000_000_000);
/// ```
#[derive(Debug)]
pub struct Tracker {
    temporality: Temporality,
    start_ns: u64,
    prev_ns: Option<u64>,
    families: Vec<FamilyState>,
    spare_families: Vec<FamilyState>,
    views: Vec<View>,
    counts: Vec<u64>,
}

impl Tracker {
    /// A tracker whose series that exist at the first collection are taken to have started at
    /// `start` (the process or pipeline start).
    pub fn new(temporality: Temporality, start: SystemTime) -> Tracker {
        Tracker {
            temporality,
            start_ns: unix_nanos(start),
            prev_ns: None,
            families: Vec::new(),
            spare_families: Vec::new(),
            views: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// The temporality it produces.
    pub fn temporality(&self) -> Temporality {
        self.temporality
    }

    /// Number of series it remembers.
    pub fn len(&self) -> usize {
        self.families.iter().map(|f| f.series.len()).sum()
    }

    /// Whether it remembers no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every series: the next collection starts them all afresh (after a restart of
    /// the receiver that lost its state, say).
    pub fn reset(&mut self) {
        self.families.clear();
        self.prev_ns = None;
    }

    /// Takes in the collection `snapshot`, made at `now`, and returns its points.
    pub fn update<'a>(&'a mut self, snapshot: &'a Snapshot, now: SystemTime) -> Collection<'a> {
        let now_ns = unix_nanos(now);
        self.views.clear();
        self.counts.clear();
        let mut old = std::mem::take(&mut self.families);
        let mut next = std::mem::take(&mut self.spare_families);
        let mut old_iter = old.drain(..).peekable();
        for family in snapshot.families() {
            while old_iter
                .peek()
                .is_some_and(|o| (*o.name).cmp(family.name()) == Ordering::Less)
            {
                old_iter.next();
            }
            let mut state = match old_iter.peek() {
                Some(o) if *o.name == *family.name() => {
                    let mut s = old_iter.next().expect("peeked");
                    if !s.describes(family) {
                        // Same name, different meaning: every series starts afresh.
                        s = FamilyState::new(family);
                    }
                    s
                }
                _ => FamilyState::new(family),
            };
            self.track_family(&mut state, family);
            next.push(state);
        }
        drop(old_iter);
        self.families = next;
        self.spare_families = old;
        self.prev_ns = Some(now_ns);
        Collection {
            snapshot,
            views: &self.views,
            counts: &self.counts,
            time_ns: now_ns,
            temporality: self.temporality,
        }
    }

    fn track_family(&mut self, state: &mut FamilyState, family: &MetricFamily) {
        let old_counts = std::mem::take(&mut state.counts);
        let mut counts = std::mem::take(&mut state.spare_counts);
        counts.clear();
        let delta = self.temporality == Temporality::Delta;
        // Series first seen now began after the previous collection (or at the start).
        let fresh_start = self.prev_ns.unwrap_or(self.start_ns);
        let same = state.list.as_ref().is_some_and(|l| family.has_series_of(l));
        if same && matches!(family.kind(), MetricKind::Gauge | MetricKind::Unknown) {
            // The same gauges in the same order: what `track_series` does for them, without
            // the branches of the other kinds (the most common family, and the largest).
            self.views.reserve(state.series.len());
            for (value, slot) in family.values().zip(state.series.iter_mut()) {
                let (Value::Gauge(v) | Value::Unknown(v)) = value else {
                    unreachable!("a gauge family holds gauge values")
                };
                let flags = if slot.float.to_bits() != v.to_bits() {
                    CHANGED
                } else {
                    0
                };
                slot.float = v;
                self.views.push(View {
                    start_ns: if delta { fresh_start } else { slot.start_ns },
                    int: 0,
                    float: v,
                    counts_at: 0,
                    flags,
                });
            }
        } else if same {
            // The same series in the same order: entry `i` is sample `i`, updated in place.
            for (value, slot) in family.values().zip(state.series.iter_mut()) {
                let (view, next) = self.track_series(
                    value,
                    Some(&*slot),
                    &old_counts,
                    &mut counts,
                    fresh_start,
                    delta,
                );
                self.views.push(view);
                *slot = next;
            }
        } else {
            let mut series = std::mem::take(&mut state.spare_series);
            let mut labels = std::mem::take(&mut state.spare_labels);
            series.clear();
            labels.clear();
            let list = family.series_list();
            let mut oi = 0;
            for sample in family.samples() {
                let mut prev = None;
                while oi < state.series.len() {
                    match state.labels_of(oi).cmp(sample.labels) {
                        // Vanished since the previous collection.
                        Ordering::Less => oi += 1,
                        Ordering::Greater => break,
                        Ordering::Equal => {
                            prev = Some(oi);
                            oi += 1;
                            break;
                        }
                    }
                }
                let (view, next) = self.track_series(
                    sample.value,
                    prev.map(|i| &state.series[i]),
                    &old_counts,
                    &mut counts,
                    fresh_start,
                    delta,
                );
                self.views.push(view);
                series.push(next);
                if list.is_none() {
                    labels.push(match prev {
                        Some(i) if state.list.is_none() => {
                            std::mem::replace(&mut state.labels[i], LabelSet::empty())
                        }
                        _ => sample.labels.clone(),
                    });
                }
            }
            state.spare_series = std::mem::replace(&mut state.series, series);
            state.spare_labels = std::mem::replace(&mut state.labels, labels);
            state.spare_labels.clear();
            state.list = list;
        }
        state.counts = counts;
        state.spare_counts = old_counts;
    }

    #[allow(clippy::too_many_arguments)]
    // Inlined: returned through memory, the view and state stall the loop on store forwarding.
    #[inline(always)]
    fn track_series(
        &mut self,
        value: Value<'_>,
        prev: Option<&SeriesState>,
        old_counts: &[u64],
        counts: &mut Vec<u64>,
        fresh_start: u64,
        delta: bool,
    ) -> (View, SeriesState) {
        let mut next = SeriesState {
            start_ns: prev.map_or(fresh_start, |p| p.start_ns),
            int: 0,
            float: 0.0,
            counts_at: 0,
            counts_len: 0,
            bounds_sig: 0,
        };
        let mut flags = if prev.is_none() { NEW | CHANGED } else { 0 };
        let mut view = View {
            start_ns: 0,
            int: 0,
            float: 0.0,
            counts_at: 0,
            flags: 0,
        };
        match value {
            Value::Counter(c) => {
                let exact = c.as_u64();
                let total = c.as_f64();
                next.int = exact.unwrap_or(0);
                next.float = if exact.is_some() { 0.0 } else { total };
                (view.int, view.float) = (next.int, next.float);
                if let Some(p) = prev {
                    let before = p.int as f64 + p.float;
                    if total < before {
                        flags |= RESET | CHANGED;
                    } else {
                        if total != before {
                            flags |= CHANGED;
                        }
                        if delta {
                            (view.int, view.float) = match exact {
                                Some(i) if p.float == 0.0 => (i - p.int, 0.0),
                                _ => (0, total - before),
                            };
                        }
                    }
                }
            }
            Value::Gauge(v) | Value::Unknown(v) => {
                next.float = v;
                view.float = v;
                if prev.is_some_and(|p| p.float.to_bits() != v.to_bits()) {
                    flags |= CHANGED;
                }
            }
            Value::Histogram(h) => {
                let sig = bounds_signature(h.bounds());
                let n = h.bounds().len() + 1;
                next.int = h.count;
                next.float = h.sum;
                next.counts_at = counts.len() as u32;
                next.counts_len = n as u32;
                next.bounds_sig = sig;
                counts.extend(h.buckets().map(|(_, c)| c));
                let now = &counts[next.counts_at as usize..];
                let before = prev.filter(|p| p.counts_len as usize == n && p.bounds_sig == sig);
                if prev.is_some() && before.is_none() {
                    // A new bucket layout is a new series.
                    flags |= NEW | CHANGED;
                    next.start_ns = fresh_start;
                }
                view.counts_at = self.counts.len() as u32;
                (view.int, view.float) = (h.count, h.sum);
                match before {
                    Some(p) => {
                        let was = &old_counts
                            [p.counts_at as usize..(p.counts_at + p.counts_len) as usize];
                        if h.count < p.int || now.iter().zip(was).any(|(a, b)| a < b) {
                            flags |= RESET | CHANGED;
                            self.counts.extend_from_slice(now);
                        } else {
                            if h.count != p.int || h.sum.to_bits() != p.float.to_bits() {
                                flags |= CHANGED;
                            }
                            if delta {
                                self.counts.extend(now.iter().zip(was).map(|(a, b)| a - b));
                                (view.int, view.float) = (h.count - p.int, h.sum - p.float);
                            } else {
                                self.counts.extend_from_slice(now);
                            }
                        }
                    }
                    None => self.counts.extend_from_slice(now),
                }
            }
            Value::Summary(s) => {
                next.int = s.count;
                next.float = s.sum;
                (view.int, view.float) = (s.count, s.sum);
                if let Some(p) = prev {
                    if s.count < p.int {
                        flags |= RESET | CHANGED;
                    } else {
                        if s.count != p.int || s.sum.to_bits() != p.float.to_bits() {
                            flags |= CHANGED;
                        }
                        if delta {
                            (view.int, view.float) = (s.count - p.int, s.sum - p.float);
                        }
                    }
                }
            }
        }
        if flags & RESET != 0 {
            // The reset happened after the previous collection.
            next.start_ns = fresh_start;
        }
        view.start_ns = if delta { fresh_start } else { next.start_ns };
        view.flags = flags;
        (view, next)
    }
}

/// A fingerprint of a histogram's bounds, to notice a changed layout without storing it.
fn bounds_signature(bounds: &[f64]) -> u64 {
    bounds.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ b.to_bits())
            .wrapping_mul(0x0100_0000_01b3)
            .rotate_left(17)
    })
}

/// The points of one collection, as a [`Tracker`] computed them.
#[derive(Debug, Clone, Copy)]
pub struct Collection<'a> {
    snapshot: &'a Snapshot,
    views: &'a [View],
    counts: &'a [u64],
    time_ns: u64,
    temporality: Temporality,
}

impl<'a> Collection<'a> {
    /// The snapshot the points come from (families, constant labels).
    pub fn snapshot(&self) -> &'a Snapshot {
        self.snapshot
    }

    /// When the collection was made, in nanoseconds since the Unix epoch.
    pub fn time_unix_nano(&self) -> u64 {
        self.time_ns
    }

    /// When the collection was made, in milliseconds since the Unix epoch.
    pub fn time_unix_ms(&self) -> i64 {
        (self.time_ns / 1_000_000) as i64
    }

    /// What the values mean.
    pub fn temporality(&self) -> Temporality {
        self.temporality
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.views.len()
    }

    /// Whether there are no series.
    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    /// The families, sorted by name, with their points.
    pub fn families(&self) -> impl ExactSizeIterator<Item = FamilyPoints<'a>> + 'a {
        let views = self.views;
        let counts = self.counts;
        let time_ns = self.time_ns;
        let mut at = 0usize;
        self.snapshot.families().iter().map(move |family| {
            let n = family.len();
            let fp = FamilyPoints {
                family,
                views: &views[at..at + n],
                counts,
                time_ns,
            };
            at += n;
            fp
        })
    }
}

/// One family's points.
#[derive(Debug, Clone, Copy)]
pub struct FamilyPoints<'a> {
    family: &'a MetricFamily,
    views: &'a [View],
    counts: &'a [u64],
    time_ns: u64,
}

impl<'a> FamilyPoints<'a> {
    /// The family: name, help, unit, kind, label names.
    pub fn family(&self) -> &'a MetricFamily {
        self.family
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.views.len()
    }

    /// Whether the family has no points.
    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    /// The points, in the snapshot's order (sorted by label values).
    pub fn points(&self) -> impl ExactSizeIterator<Item = Point<'a>> + 'a {
        let counts = self.counts;
        let time_ns = self.time_ns;
        let family = self.family;
        family
            .samples()
            .zip(self.views.iter())
            .enumerate()
            .map(move |(i, (sample, view))| {
                // Encoders read every point's labels: start loading those a few points ahead.
                family.prefetch_labels(i);
                point(sample, view, counts, time_ns)
            })
    }
}

impl<'a> FamilyPoints<'a> {
    /// The points, as [`FamilyPoints::points`] gives them but without loading their labels
    /// ahead: for an encoder that does not read them (it kept what it needs of them from an
    /// earlier collection with the same series list), to which those loads are pure cost.
    pub fn points_labels_unread(&self) -> impl ExactSizeIterator<Item = Point<'a>> + 'a {
        let counts = self.counts;
        let time_ns = self.time_ns;
        self.family
            .samples()
            .zip(self.views.iter())
            .map(move |(sample, view)| point(sample, view, counts, time_ns))
    }

    /// The points with each series' escaped label text (see
    /// [`MetricFamily::rendered_labels`]), for encoders that take label values from the text
    /// ([`aiplatform_metrics::rendered_values`]): the text of a registered family is one
    /// buffer read front to back, so nothing is prefetched and no label set is visited unless
    /// the encoder reads [`Point::labels`].
    pub fn points_with_text(&self) -> impl ExactSizeIterator<Item = (Point<'a>, &'a str)> + 'a {
        let counts = self.counts;
        let time_ns = self.time_ns;
        self.family
            .samples()
            .zip(self.views.iter())
            .zip(self.family.rendered_labels())
            .map(move |((sample, view), text)| (point(sample, view, counts, time_ns), text))
    }
}

#[inline]
fn point<'a>(sample: Sample<'a>, view: &View, counts: &'a [u64], time_ns: u64) -> Point<'a> {
    let value = match sample.value {
        Value::Counter(_) => PointValue::Counter(CounterPoint {
            int: view.int,
            float: view.float,
        }),
        Value::Gauge(v) => PointValue::Gauge(v),
        Value::Unknown(v) => PointValue::Unknown(v),
        Value::Histogram(h) => {
            let n = h.bounds().len() + 1;
            let at = view.counts_at as usize;
            PointValue::Histogram(HistogramPoint {
                count: view.int,
                sum: view.float,
                bounds: h.bounds(),
                counts: &counts[at..at + n],
            })
        }
        Value::Summary(s) => PointValue::Summary(SummaryPoint {
            count: view.int,
            sum: view.float,
            value: s,
        }),
    };
    Point {
        labels: sample.labels,
        value,
        start_unix_nano: view.start_ns,
        time_unix_nano: time_ns,
        source_timestamp_ms: sample.timestamp_ms,
        flags: view.flags,
    }
}

/// One series at one collection: cumulative or delta, as the tracker was set up.
#[derive(Debug, Clone, Copy)]
pub struct Point<'a> {
    /// Label values, in the order of the family's label names.
    pub labels: &'a LabelSet,
    /// The value.
    pub value: PointValue<'a>,
    /// Start of the interval the value covers (nanoseconds since the Unix epoch).
    pub start_unix_nano: u64,
    /// End of the interval: the collection time.
    pub time_unix_nano: u64,
    /// A timestamp the source attached to the sample (milliseconds since the Unix epoch).
    pub source_timestamp_ms: Option<i64>,
    flags: u8,
}

impl Point<'_> {
    /// Whether the series was not there at the previous collection (or reappeared).
    pub fn is_new(&self) -> bool {
        self.flags & NEW != 0
    }

    /// Whether a reset was detected (a total went down since the previous collection).
    pub fn is_reset(&self) -> bool {
        self.flags & RESET != 0
    }

    /// Whether anything changed since the previous collection (always true for new series).
    /// A delta encoder can skip unchanged series.
    pub fn changed(&self) -> bool {
        self.flags & CHANGED != 0
    }

    /// The timestamp to send in milliseconds: the source's, or the collection time.
    pub fn timestamp_ms(&self) -> i64 {
        self.source_timestamp_ms
            .unwrap_or((self.time_unix_nano / 1_000_000) as i64)
    }
}

/// A point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue<'a> {
    /// A counter total, or its increase.
    Counter(CounterPoint),
    /// A gauge value (never a delta).
    Gauge(f64),
    /// A value of unknown type (never a delta).
    Unknown(f64),
    /// A histogram's counts, or their increases.
    Histogram(HistogramPoint<'a>),
    /// A summary's count and sum (or their increases) and its quantiles as collected.
    Summary(SummaryPoint<'a>),
}

/// A counter total or increase, exact while only whole increments were made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CounterPoint {
    int: u64,
    float: f64,
}

impl CounterPoint {
    /// The value as a float.
    pub fn as_f64(&self) -> f64 {
        self.int as f64 + self.float
    }

    /// The value as an exact integer, when it is one.
    pub fn as_u64(&self) -> Option<u64> {
        (self.float == 0.0).then_some(self.int)
    }
}

/// A histogram's count, sum and per-bucket (not cumulative) counts, ending with `+Inf`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramPoint<'a> {
    /// Number of observations.
    pub count: u64,
    /// Sum of the observations.
    pub sum: f64,
    /// The finite upper bounds.
    pub bounds: &'a [f64],
    /// Observations per bucket; one more entry than `bounds`, for `+Inf`.
    pub counts: &'a [u64],
}

impl<'a> HistogramPoint<'a> {
    /// `(upper bound, observations at or below it)`, as Prometheus' `_bucket` series count.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + 'a {
        let bounds = self.bounds;
        let mut total = 0;
        self.counts.iter().enumerate().map(move |(i, &c)| {
            total += c;
            (bounds.get(i).copied().unwrap_or(f64::INFINITY), total)
        })
    }
}

/// A summary's count and sum (or their increases), and its quantiles as collected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryPoint<'a> {
    /// Number of observations.
    pub count: u64,
    /// Sum of the observations.
    pub sum: f64,
    value: SummaryValue<'a>,
}

impl<'a> SummaryPoint<'a> {
    /// `(quantile, value)` pairs.
    pub fn quantiles(&self) -> impl Iterator<Item = (f64, f64)> + 'a {
        self.value.quantiles()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
    use std::time::Duration;

    use aiplatform_metrics::{Buckets, MetricFamily, MetricKind, NO_LABELS, Registry};
    use proptest::prelude::*;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn registry() -> Registry {
        Registry::builder().without_self_metrics().build().unwrap()
    }

    /// `(family, label values, value, start secs, flags)` for every counter/gauge point.
    fn scalars(c: &Collection<'_>) -> Vec<(String, Vec<String>, f64, u64, u8)> {
        let mut out = Vec::new();
        for f in c.families() {
            for p in f.points() {
                let v = match p.value {
                    PointValue::Counter(c) => c.as_f64(),
                    PointValue::Gauge(v) | PointValue::Unknown(v) => v,
                    PointValue::Histogram(h) => h.count as f64,
                    PointValue::Summary(s) => s.count as f64,
                };
                out.push((
                    f.family().name().to_owned(),
                    p.labels.values().map(str::to_owned).collect(),
                    v,
                    p.start_unix_nano / 1_000_000_000,
                    p.flags,
                ));
            }
        }
        out
    }

    #[test]
    fn cumulative_keeps_totals_and_first_seen_start() {
        let r = registry();
        let c = r.counter_family("jobs_total", "J.", &["q"]).unwrap();
        let mut t = Tracker::new(Temporality::Cumulative, at(100));
        c.with(&["a"]).inc_by(3);
        let s = r.collect();
        assert_eq!(
            scalars(&t.update(&s, at(110))),
            [("jobs".into(), vec!["a".into()], 3.0, 100, NEW | CHANGED)]
        );
        c.with(&["a"]).inc_by(2);
        c.with(&["b"]).inc();
        let s = r.collect();
        assert_eq!(
            scalars(&t.update(&s, at(120))),
            [
                ("jobs".into(), vec!["a".into()], 5.0, 100, CHANGED),
                ("jobs".into(), vec!["b".into()], 1.0, 110, NEW | CHANGED),
            ]
        );
        let s = r.collect();
        assert_eq!(scalars(&t.update(&s, at(130)))[0].4, 0, "unchanged");
    }

    #[test]
    fn delta_of_a_series_that_vanishes_and_comes_back() {
        let r = registry();
        let c = r.counter_family("jobs_total", "J.", &["q"]).unwrap();
        let mut t = Tracker::new(Temporality::Delta, at(100));
        c.with(&["a"]).inc_by(3);
        c.with(&["b"]).inc_by(4);
        let s = r.collect();
        t.update(&s, at(110));
        assert!(c.remove(&["a"]));
        c.with(&["b"]).inc();
        let s = r.collect();
        assert_eq!(
            scalars(&t.update(&s, at(120))),
            [("jobs".into(), vec!["b".into()], 1.0, 110, CHANGED)]
        );
        c.with(&["a"]).inc_by(2);
        let s = r.collect();
        let got = scalars(&t.update(&s, at(130)));
        assert_eq!(
            got[0],
            ("jobs".into(), vec!["a".into()], 2.0, 120, NEW | CHANGED),
            "starts afresh"
        );
        assert_eq!(got[1], ("jobs".into(), vec!["b".into()], 0.0, 120, 0));
    }

    /// A collector whose counter goes down: a restarted source.
    #[test]
    fn counter_reset_is_detected() {
        let r = registry();
        let value = Arc::new(AtomicU64::new(10));
        let v = value.clone();
        r.register_collector(move |out: &mut Vec<MetricFamily>| {
            let mut f = MetricFamily::builder(MetricKind::Counter, "src_total", "S.")
                .build()
                .unwrap();
            f.push_counter(NO_LABELS, v.load(AtomicOrdering::Relaxed) as f64)
                .unwrap();
            out.push(f);
        });
        for temporality in [Temporality::Delta, Temporality::Cumulative] {
            value.store(10, AtomicOrdering::Relaxed);
            let mut t = Tracker::new(temporality, at(100));
            let s = r.collect();
            t.update(&s, at(110));
            value.store(4, AtomicOrdering::Relaxed);
            let s = r.collect();
            let c = t.update(&s, at(120));
            let p = c.families().next().unwrap().points().next().unwrap();
            assert!(p.is_reset() && p.changed());
            assert!(matches!(p.value, PointValue::Counter(c) if c.as_f64() == 4.0));
            assert_eq!(p.start_unix_nano, 110_000_000_000, "{temporality:?}");
            value.store(6, AtomicOrdering::Relaxed);
            let s = r.collect();
            let c = t.update(&s, at(130));
            let p = c.families().next().unwrap().points().next().unwrap();
            let want = if temporality == Temporality::Delta {
                2.0
            } else {
                6.0
            };
            assert!(matches!(p.value, PointValue::Counter(c) if c.as_f64() == want));
            assert!(!p.is_reset());
        }
    }

    /// A collector's family has no series list: its series are matched by the tracker's own
    /// copies of their labels, also when some come and go between collections.
    #[test]
    fn a_collector_family_is_matched_by_labels() {
        let r = registry();
        let members = Arc::new(std::sync::Mutex::new(vec![("a", 5u64), ("b", 7)]));
        let m = members.clone();
        r.register_collector(move |out: &mut Vec<MetricFamily>| {
            let mut f = MetricFamily::builder(MetricKind::Counter, "src_total", "S.")
                .label_names(&["k"])
                .build()
                .unwrap();
            for (k, v) in m.lock().unwrap().iter() {
                f.push_counter(&[*k], *v as f64).unwrap();
            }
            out.push(f);
        });
        let mut t = Tracker::new(Temporality::Delta, at(100));
        let s = r.collect();
        t.update(&s, at(110));
        *members.lock().unwrap() = vec![("a", 6), ("c", 1)];
        let s = r.collect();
        assert_eq!(
            scalars(&t.update(&s, at(120))),
            [
                ("src".into(), vec!["a".into()], 1.0, 110, CHANGED),
                ("src".into(), vec!["c".into()], 1.0, 110, NEW | CHANGED),
            ]
        );
        *members.lock().unwrap() = vec![("a", 6), ("b", 2), ("c", 4)];
        let s = r.collect();
        assert_eq!(
            scalars(&t.update(&s, at(130))),
            [
                ("src".into(), vec!["a".into()], 0.0, 120, 0),
                ("src".into(), vec!["b".into()], 2.0, 120, NEW | CHANGED),
                ("src".into(), vec!["c".into()], 3.0, 120, CHANGED),
            ]
        );
    }

    #[test]
    fn histogram_deltas_per_bucket_and_reset() {
        let r = registry();
        let h = r
            .histogram("lat_seconds", "L.", Buckets::new([0.1, 1.0]).unwrap())
            .unwrap();
        let mut t = Tracker::new(Temporality::Delta, at(0));
        h.observe(0.05);
        h.observe(5.0);
        let s = r.collect();
        t.update(&s, at(10));
        h.observe(0.5);
        h.observe(0.5);
        h.observe(0.01);
        let s = r.collect();
        let c = t.update(&s, at(20));
        let p = c.families().next().unwrap().points().next().unwrap();
        let PointValue::Histogram(hp) = p.value else {
            panic!()
        };
        assert_eq!(hp.count, 3);
        assert!((hp.sum - 1.01).abs() < 1e-9);
        assert_eq!(hp.counts, [1, 2, 0]);
        assert_eq!(
            hp.cumulative().collect::<Vec<_>>(),
            [(0.1, 1), (1.0, 3), (f64::INFINITY, 3)]
        );
        assert_eq!(p.start_unix_nano, 10_000_000_000);
    }

    #[test]
    fn a_redefined_family_starts_afresh() {
        let r = registry();
        let c = r.counter_family("jobs_total", "J.", &["q"]).unwrap();
        c.with(&["a"]).inc_by(5);
        let mut t = Tracker::new(Temporality::Delta, at(0));
        let s = r.collect();
        t.update(&s, at(10));
        assert!(r.unregister("jobs"));
        let g = r.gauge_family("jobs", "now a gauge", &["q"]).unwrap();
        g.with(&["a"]).set(2.0);
        let s = r.collect();
        let got = scalars(&t.update(&s, at(20)));
        assert_eq!(
            got,
            [("jobs".into(), vec!["a".into()], 2.0, 10, NEW | CHANGED)]
        );
    }

    #[test]
    fn float_counters_and_gauges() {
        let r = registry();
        let c = r.counter("cpu_seconds_total", "C.").unwrap();
        let g = r.gauge("temp", "T.").unwrap();
        let mut t = Tracker::new(Temporality::Delta, at(0));
        c.inc_by_f64(1.25);
        g.set(3.0);
        let s = r.collect();
        t.update(&s, at(1));
        c.inc_by_f64(0.5);
        c.inc_by(1);
        let s = r.collect();
        let got = scalars(&t.update(&s, at(2)));
        assert_eq!(got[0].2, 1.5);
        assert_eq!(
            (got[1].2, got[1].4),
            (3.0, 0),
            "gauges keep their value; unchanged"
        );
    }

    #[test]
    fn gauges_of_an_unchanged_series_list_flag_changes_and_keep_their_start() {
        let r = registry();
        let g = r.gauge_family("temp", "T.", &["room"]).unwrap();
        let u = r.gauge("level", "L.").unwrap();
        g.with(&["a"]).set(1.0);
        g.with(&["b"]).set(2.0);
        u.set(-0.0);
        for (temporality, start_b) in [(Temporality::Cumulative, 5), (Temporality::Delta, 6)] {
            let mut t = Tracker::new(temporality, at(5));
            let s = r.collect();
            assert!(
                scalars(&t.update(&s, at(6)))
                    .iter()
                    .all(|p| p.4 == NEW | CHANGED)
            );
            g.with(&["b"]).set(2.5);
            u.set(0.0); // Another bit pattern: a change.
            let s = r.collect();
            assert_eq!(
                scalars(&t.update(&s, at(7))),
                [
                    ("level".into(), vec![], 0.0, start_b, CHANGED),
                    ("temp".into(), vec!["a".into()], 1.0, start_b, 0),
                    ("temp".into(), vec!["b".into()], 2.5, start_b, CHANGED),
                ],
                "{temporality:?}"
            );
            g.with(&["b"]).set(2.0);
            u.set(-0.0);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Inc(u8, u32),
        Remove(u8),
        Collect,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..6, 0u32..1000).prop_map(|(s, n)| Op::Inc(s, n)),
            1 => (0u8..6).prop_map(Op::Remove),
            2 => Just(Op::Collect),
        ]
    }

    proptest! {
        /// Whatever happens between collections, the deltas pushed for a series since it was
        /// last (re)created add up to the total the registry holds for it.
        #[test]
        fn deltas_add_up_to_the_totals(ops in proptest::collection::vec(op(), 1..80)) {
            let r = registry();
            let c = r.counter_family("ops_total", "O.", &["s"]).unwrap();
            let h = r.histogram_family("size", "S.", &["s"], Buckets::new([10.0, 100.0]).unwrap()).unwrap();
            let mut t = Tracker::new(Temporality::Delta, at(0));
            let mut sums: std::collections::HashMap<String, (f64, u64, Vec<u64>)> = Default::default();
            let mut clock = 0;
            let mut check = |t: &mut Tracker, sums: &mut std::collections::HashMap<String, (f64, u64, Vec<u64>)>| {
                clock += 10;
                let s = r.collect();
                let col = t.update(&s, at(clock));
                for f in col.families() {
                    for p in f.points() {
                        let key = p.labels.value(0).to_owned();
                        let e = sums
                            .entry(format!("{}/{key}", f.family().name()))
                            .or_insert((0.0, 0, vec![0; 3]));
                        // A new or reset series' delta is its whole value: start summing again.
                        if p.is_new() || p.is_reset() {
                            *e = (0.0, 0, vec![0; 3]);
                        }
                        match p.value {
                            PointValue::Counter(v) => {
                                e.0 += v.as_f64();
                                assert_eq!(e.0, c.with(&[&key]).get());
                            }
                            PointValue::Histogram(hp) => {
                                e.1 += hp.count;
                                for (a, b) in e.2.iter_mut().zip(hp.counts) {
                                    *a += b;
                                }
                                assert_eq!(e.1, h.with(&[&key]).count());
                                assert_eq!(e.2.iter().sum::<u64>(), e.1);
                            }
                            _ => unreachable!(),
                        }
                    }
                }
            };
            for op in ops {
                match op {
                    Op::Inc(s, n) => {
                        c.with(&[format!("s{s}")]).inc_by(u64::from(n));
                        h.with(&[format!("s{s}")]).observe(f64::from(n) / 3.0);
                    }
                    Op::Remove(s) => {
                        c.remove(&[format!("s{s}")]);
                        h.remove(&[format!("s{s}")]);
                    }
                    Op::Collect => check(&mut t, &mut sums),
                }
            }
            check(&mut t, &mut sums);
        }
    }
}
