//! Building families into a snapshot: what a collector fills ([`MetricFamily::builder`] and
//! the `push_*` methods), and how the registry sorts, deduplicates and merges collected
//! families before they join a [`Snapshot`](super::Snapshot).

use std::sync::Arc;

use super::{MetricFamily, NO_TS, Point, SeriesLabels, Value};
use crate::desc::{Descriptor, MetricKind};
use crate::error::{LabelCountError, RegistrationError};
use crate::labels::LabelSet;
use crate::names::Unit;

impl MetricFamily {
    /// Starts a family for a [`Collector`](crate::collect::Collector) to fill.
    ///
    /// ```
    /// use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS};
    ///
    /// let mut f = MetricFamily::builder(MetricKind::Gauge, "node_load1", "1m load average.")
    ///     .build()
    ///     .unwrap();
    /// f.push_gauge(NO_LABELS, 0.42).unwrap();
    /// assert_eq!(f.len(), 1);
    /// ```
    pub fn builder(kind: MetricKind, name: &str, help: &str) -> FamilyBuilder {
        FamilyBuilder {
            kind,
            name: name.into(),
            help: help.into(),
            unit: None,
            labels: Vec::new(),
            text_name_as_given: false,
        }
    }

    fn push(&mut self, values: &[impl AsRef<str>], point: Point) -> Result<(), LabelCountError> {
        let expected = self.desc.label_names.len();
        if values.len() != expected {
            return Err(LabelCountError {
                metric: self.desc.name.to_string(),
                expected,
                got: values.len(),
            });
        }
        let set = LabelSet::new(&self.desc.label_names, values);
        match &mut self.series {
            SeriesLabels::Owned(v) => v.push(set),
            SeriesLabels::Listed(_) => unreachable!("collector families own their labels"),
        }
        self.points.push(point);
        Ok(())
    }

    /// Adds a counter series. `value` must be a non-negative total.
    pub fn push_counter<V: AsRef<str>>(
        &mut self,
        values: &[V],
        value: f64,
    ) -> Result<(), LabelCountError> {
        // An integral total keeps the exact integer form on the wire.
        let point = if value >= 0.0 && value < 2f64.powi(63) && value.fract() == 0.0 {
            Point::scalar(value as u64, 0.0)
        } else {
            Point::scalar(0, value)
        };
        self.push(values, point)
    }

    /// Adds a gauge series (or a series of an unknown-type family).
    pub fn push_gauge<V: AsRef<str>>(
        &mut self,
        values: &[V],
        value: f64,
    ) -> Result<(), LabelCountError> {
        self.push(values, Point::scalar(0, value))
    }

    /// Adds a histogram series from per-bucket (not cumulative) counts; `counts` has one more
    /// entry than `bounds`, for `+Inf`. The count is the sum of `counts`.
    ///
    /// # Panics
    ///
    /// If `counts.len() != bounds.len() + 1`.
    pub fn push_histogram<V: AsRef<str>>(
        &mut self,
        values: &[V],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) -> Result<(), LabelCountError> {
        assert_eq!(
            counts.len(),
            bounds.len() + 1,
            "one count per bound plus +Inf"
        );
        let point = Point {
            a: counts.iter().sum(),
            b: sum,
            start: self.counts.len() as u32,
            fstart: self.floats.len() as u32,
            len: counts.len() as u32,
            ts: NO_TS,
        };
        self.push(values, point)?;
        self.counts.extend_from_slice(counts);
        self.floats.extend_from_slice(bounds);
        Ok(())
    }

    /// Adds a summary series from `(quantile, value)` pairs.
    pub fn push_summary<V: AsRef<str>>(
        &mut self,
        values: &[V],
        quantiles: &[(f64, f64)],
        count: u64,
        sum: f64,
    ) -> Result<(), LabelCountError> {
        let point = Point {
            a: count,
            b: sum,
            start: 0,
            fstart: self.floats.len() as u32,
            len: quantiles.len() as u32,
            ts: NO_TS,
        };
        self.push(values, point)?;
        self.floats
            .extend(quantiles.iter().flat_map(|&(q, v)| [q, v]));
        Ok(())
    }

    /// Sets the timestamp of the series added last (milliseconds since the Unix epoch).
    pub fn set_last_timestamp_ms(&mut self, ts: i64) {
        if let Some(p) = self.points.last_mut() {
            p.ts = ts;
        }
    }
}

/// Describes a family a collector is about to fill; see [`MetricFamily::builder`].
///
/// ```
/// use aiplatform_metrics::{MetricFamily, MetricKind, Unit};
///
/// let f = MetricFamily::builder(MetricKind::Gauge, "disk_free", "Free space.")
///     .label_names(&["device"])
///     .unit(Unit::BYTES)
///     .build()
///     .unwrap();
/// assert_eq!(f.name(), "disk_free_bytes");
/// ```
#[derive(Debug, Clone)]
pub struct FamilyBuilder {
    kind: MetricKind,
    name: String,
    help: String,
    unit: Option<Unit>,
    labels: Vec<String>,
    text_name_as_given: bool,
}

impl FamilyBuilder {
    /// Declares the label names, in the order values will be given.
    pub fn label_names<S: AsRef<str>>(mut self, names: &[S]) -> Self {
        self.labels = names.iter().map(|n| n.as_ref().to_owned()).collect();
        self
    }

    /// Declares the unit (appended to the name unless it already ends with it).
    pub fn unit(mut self, unit: Unit) -> Self {
        self.unit = Some(unit);
        self
    }

    /// For a counter, writes text 0.0.4 samples under the name exactly as given, as
    /// client_golang does; see [`Opts::text_name_as_given`](crate::Opts::text_name_as_given).
    ///
    /// ```
    /// use aiplatform_metrics::{ExpositionFormat, MetricFamily, MetricKind, Registry, Snapshot, encode, NO_LABELS};
    ///
    /// let mut f = MetricFamily::builder(MetricKind::Counter, "xact_commit", "Commits.")
    ///     .text_name_as_given()
    ///     .build()
    ///     .unwrap();
    /// f.push_counter(NO_LABELS, 7.0).unwrap();
    /// let mut snapshot = Snapshot::new();
    /// Registry::new().collect_into_with(&mut snapshot, vec![f]);
    /// let text = String::from_utf8(encode(&snapshot, ExpositionFormat::Text)).unwrap();
    /// assert!(text.contains("# TYPE xact_commit counter\nxact_commit 7\n"));
    /// ```
    pub fn text_name_as_given(mut self) -> Self {
        self.text_name_as_given = true;
        self
    }

    /// Validates the description and returns an empty family.
    pub fn build(self) -> Result<MetricFamily, RegistrationError> {
        let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        let desc = Descriptor::new(
            self.kind,
            &self.name,
            &self.help,
            self.unit,
            &labels,
            None,
            &[],
        )?;
        let desc = if self.text_name_as_given {
            desc.text_name_as_given(&self.name)
        } else {
            desc
        };
        Ok(MetricFamily {
            desc: Arc::new(desc),
            series: SeriesLabels::Owned(Vec::new()),
            points: Vec::new(),
            counts: Vec::new(),
            floats: Vec::new(),
            bounds: None,
        })
    }
}

impl MetricFamily {
    /// Sorts a collector's series by label values and drops repeated label sets, keeping the
    /// first; returns how many were dropped.
    pub(crate) fn sort_and_dedup(&mut self) -> usize {
        let SeriesLabels::Owned(labels) = &mut self.series else {
            return 0;
        };
        if labels.windows(2).all(|w| w[0] < w[1]) {
            return 0;
        }
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by(|&x, &y| labels[x].cmp(&labels[y]).then(x.cmp(&y)));
        order.dedup_by(|later, first| labels[*later] == labels[*first]);
        let dropped = labels.len() - order.len();
        let new_labels = order.iter().map(|&i| labels[i].clone()).collect();
        let new_points = order.iter().map(|&i| self.points[i]).collect();
        *labels = new_labels;
        self.points = new_points;
        dropped
    }

    /// Moves `other`'s series into `self` (same name, kind and label names); the result owns
    /// its label sets and values.
    pub(crate) fn absorb(&mut self, other: MetricFamily) {
        let mut merged = MetricFamily {
            desc: self.desc.clone(),
            series: SeriesLabels::Owned(Vec::with_capacity(self.len() + other.len())),
            points: Vec::with_capacity(self.len() + other.len()),
            counts: Vec::new(),
            floats: Vec::new(),
            bounds: None,
        };
        for family in [&*self, &other] {
            for (i, p) in family.points.iter().enumerate() {
                merged.push_value(family.labels_at(i).clone(), family.value_at(p), p.ts);
            }
        }
        *self = merged;
    }

    fn push_value(&mut self, labels: LabelSet, value: Value<'_>, ts: i64) {
        let mut point = match value {
            Value::Counter(c) => Point::scalar(c.int, c.float),
            Value::Gauge(v) | Value::Unknown(v) => Point::scalar(0, v),
            Value::Histogram(h) => {
                let p = Point {
                    a: h.count,
                    b: h.sum,
                    start: self.counts.len() as u32,
                    fstart: self.floats.len() as u32,
                    len: h.counts.len() as u32,
                    ts: NO_TS,
                };
                self.counts.extend_from_slice(h.counts);
                self.floats.extend_from_slice(h.bounds);
                p
            }
            Value::Summary(s) => {
                let p = Point {
                    a: s.count,
                    b: s.sum,
                    start: 0,
                    fstart: self.floats.len() as u32,
                    len: (s.pairs.len() / 2) as u32,
                    ts: NO_TS,
                };
                self.floats.extend_from_slice(s.pairs);
                p
            }
        };
        point.ts = ts;
        if let SeriesLabels::Owned(v) = &mut self.series {
            v.push(labels);
        }
        self.points.push(point);
    }
}
