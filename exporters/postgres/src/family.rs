//! Building the families collectors return, named and typed as postgres_exporter does.

use std::cell::RefCell;

use aiplatform_metrics::{FamilyCache, MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;

/// The type postgres_exporter declares for a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `gauge`.
    Gauge,
    /// `counter`.
    Counter,
    /// `untyped`.
    Untyped,
}

/// The kind a family is built with.
pub fn metric_kind(kind: Kind) -> MetricKind {
    match kind {
        Kind::Gauge => MetricKind::Gauge,
        Kind::Counter => MetricKind::Counter,
        Kind::Untyped => MetricKind::Unknown,
    }
}

thread_local! {
    /// The descriptions built on this thread. A scrape builds the same few hundred families
    /// (~350 `pg_settings_*` alone); a cached one costs a lookup instead of a validation.
    ///
    /// postgres_exporter has many counters whose names do not end in `_total`
    /// (`pg_stat_database_xact_commit`); client_golang writes them under that exact name, and
    /// dashboards query it. So counters keep the name as given in text 0.0.4; OpenMetrics,
    /// which requires the suffix, still gets `_total` samples.
    static FAMILIES: RefCell<FamilyCache> = RefCell::new(FamilyCache::new().text_name_as_given());
}

/// An empty family the way postgres_exporter's would be written; fails only on an invalid
/// name or label (a bug, or a bad queries file).
pub fn build<S: AsRef<str>>(
    kind: MetricKind,
    name: &str,
    help: &str,
    labels: &[S],
) -> Result<MetricFamily, CollectError> {
    FAMILIES
        .with(|cache| cache.borrow_mut().family(kind, name, help, labels))
        .map_err(CollectError::new)
}

/// [`build`] with postgres_exporter's kind.
pub fn family(
    kind: Kind,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<MetricFamily, CollectError> {
    build(metric_kind(kind), name, help, labels)
}

/// Adds one series.
pub fn push<V: AsRef<str>>(
    f: &mut MetricFamily,
    values: &[V],
    value: f64,
) -> Result<(), CollectError> {
    let r = if f.kind() == MetricKind::Counter {
        f.push_counter(values, value)
    } else {
        f.push_gauge(values, value)
    };
    r.map_err(CollectError::new)
}

/// Families under construction, looked up by the name they were created with, in
/// first-use order.
#[derive(Debug, Default)]
pub struct Families {
    list: Vec<MetricFamily>,
    index: std::collections::HashMap<String, usize>,
}

impl Families {
    /// Empty.
    pub fn new() -> Families {
        Families::default()
    }

    /// The family called `name`, created on first use.
    pub fn get(
        &mut self,
        kind: Kind,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<&mut MetricFamily, CollectError> {
        let at = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.list.push(family(kind, name, help, labels)?);
                self.index.insert(name.to_owned(), self.list.len() - 1);
                self.list.len() - 1
            }
        };
        Ok(&mut self.list[at])
    }

    /// Adds one series to the family called `name` (created on first use).
    pub fn add<V: AsRef<str>>(
        &mut self,
        kind: Kind,
        name: &str,
        help: &str,
        labels: &[&str],
        values: &[V],
        value: f64,
    ) -> Result<(), CollectError> {
        let f = self.get(kind, name, help, labels)?;
        push(f, values, value)
    }

    /// Moves the non-empty families into `out`.
    pub fn finish(self, out: &mut Vec<MetricFamily>) {
        out.extend(self.list.into_iter().filter(|f| !f.is_empty()));
    }
}

/// Label names with `server` added last when `server` is given.
pub fn with_server<'a>(labels: &[&'a str], server: Option<&'a str>) -> Vec<&'a str> {
    let mut v = labels.to_vec();
    if server.is_some() {
        v.push("server");
    }
    v
}

/// Label values with the server's value appended when given.
pub fn values_with_server(values: &[&str], server: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
    if let Some(s) = server {
        v.push(s.to_owned());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_keep_their_exact_name() {
        let mut f = family(Kind::Counter, "pg_stat_database_xact_commit", "h", &[]).unwrap();
        assert_eq!(f.kind(), MetricKind::Counter);
        push(&mut f, &[] as &[&str], 3.0).unwrap();
        let mut snapshot = aiplatform_metrics::Snapshot::new();
        aiplatform_metrics::Registry::new().collect_into_with(&mut snapshot, vec![f]);
        let text = aiplatform_metrics::encode(&snapshot, aiplatform_metrics::Format::Text);
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("counter\npg_stat_database_xact_commit 3\n"),
            "{text}"
        );
        let mut fams = Families::new();
        fams.add(Kind::Counter, "a_total", "h", &["l"], &["v"], 1.0)
            .unwrap();
        fams.add(Kind::Counter, "a_total", "h", &["l"], &["w"], 2.0)
            .unwrap();
        let mut out = Vec::new();
        fams.finish(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 2);
    }
}
