//! Collected values looked up by name and labels, for unit tests that check what a
//! registry or a collector produced without encoding it.

use aiplatform_metrics::{MetricFamily, MetricKind, Sample, Snapshot, Value};

/// Finds a series by family name and label pairs in a [`Snapshot`] or in the families a
/// collector returned.
///
/// A counter is found by its family name or by its name with `_total`. Labels not named
/// may take any value, but at most one series may match: an ambiguous lookup panics.
///
/// ```
/// use aiplatform_metrics::Registry;
/// use aiplatform_testkit::SnapshotLookup;
///
/// let registry = Registry::new();
/// let requests = registry.counter_family("requests_total", "Requests.", &["method", "code"]).unwrap();
/// requests.with(&["GET", "200"]).inc_by(3);
/// requests.with(&["GET", "500"]).inc();
/// let snapshot = registry.collect();
/// assert_eq!(snapshot.value("requests_total", &[("code", "500")]), Some(1.0));
/// assert_eq!(snapshot.value("requests", &[("code", "200"), ("method", "GET")]), Some(3.0));
/// assert_eq!(snapshot.value("requests_total", &[("code", "404")]), None);
/// ```
pub trait SnapshotLookup {
    /// The families to search.
    fn lookup_families(&self) -> &[MetricFamily];

    /// The family called `name` (or `name` without `_total`, for a counter).
    fn family_named(&self, name: &str) -> Option<&MetricFamily> {
        self.lookup_families().iter().find(|f| {
            f.name() == name
                || (f.kind() == MetricKind::Counter
                    && name.strip_suffix("_total") == Some(f.name()))
        })
    }

    /// The one series of `name` whose labels include `labels`.
    fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<Sample<'_>> {
        let family = self.family_named(name)?;
        let names: Vec<&str> = family.label_names().collect();
        let mut wanted = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            wanted.push((names.iter().position(|n| n == k)?, *v));
        }
        let mut found = family
            .samples()
            .filter(|s| wanted.iter().all(|(i, v)| s.labels.value(*i) == *v));
        let first = found.next()?;
        assert!(
            found.next().is_none(),
            "{name}{labels:?} matches several series of {}",
            family.name()
        );
        Some(first)
    }

    /// The counter, gauge or untyped value of that series (`None` for a histogram or
    /// summary: see [`count`](Self::count) and [`sum`](Self::sum)).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.sample(name, labels)?.value {
            Value::Counter(c) => Some(c.as_f64()),
            Value::Gauge(v) | Value::Unknown(v) => Some(v),
            Value::Histogram(_) | Value::Summary(_) => None,
        }
    }

    /// The observation count of a histogram or summary series.
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        match self.sample(name, labels)?.value {
            Value::Histogram(h) => Some(h.count),
            Value::Summary(s) => Some(s.count),
            _ => None,
        }
    }

    /// The sum of a histogram or summary series.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.sample(name, labels)?.value {
            Value::Histogram(h) => Some(h.sum),
            Value::Summary(s) => Some(s.sum),
            _ => None,
        }
    }
}

impl SnapshotLookup for Snapshot {
    fn lookup_families(&self) -> &[MetricFamily] {
        self.families()
    }
}

impl SnapshotLookup for [MetricFamily] {
    fn lookup_families(&self) -> &[MetricFamily] {
        self
    }
}

impl SnapshotLookup for Vec<MetricFamily> {
    fn lookup_families(&self) -> &[MetricFamily] {
        self
    }
}
