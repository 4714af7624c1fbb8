//! Small helpers to build the families a collector returns.

use std::cell::RefCell;

use aiplatform_metrics::{FamilyCache, MetricFamily, MetricKind, RegistrationError};

thread_local! {
    /// The descriptions collectors built on this thread: a scrape builds some 200 families,
    /// the same ones every time, and a cached one costs a lookup instead of a validation.
    static FAMILIES: RefCell<FamilyCache> = RefCell::new(FamilyCache::new());
}

fn build(
    kind: MetricKind,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<MetricFamily, RegistrationError> {
    FAMILIES.with(|cache| cache.borrow_mut().family(kind, name, help, labels))
}

/// A family with a fixed, valid name (a name from this crate's source).
///
/// # Panics
///
/// If the name or a label name is invalid: a bug in this crate, caught by its tests.
pub(crate) fn family(kind: MetricKind, name: &str, help: &str, labels: &[&str]) -> MetricFamily {
    build(kind, name, help, labels)
        .unwrap_or_else(|e| panic!("metric {name:?} is defined wrong: {e}"))
}

/// A family whose name comes from the data (a `/proc/meminfo` key, a vmstat field); `None`
/// when the data makes an invalid metric name.
pub(crate) fn dynamic_family(
    kind: MetricKind,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Option<MetricFamily> {
    match build(kind, name, help, labels) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::debug!(metric = name, err = %e, "skipping a field that makes no valid metric name");
            None
        }
    }
}

/// Adds one series; the label count is fixed by the caller's family definition.
pub(crate) fn push(f: &mut MetricFamily, labels: &[&str], value: f64) {
    let r = if f.kind() == MetricKind::Counter {
        f.push_counter(labels, value)
    } else {
        f.push_gauge(labels, value)
    };
    if let Err(e) = r {
        panic!("series of {:?} pushed with the wrong labels: {e}", f.name());
    }
}

/// A family with one unlabelled series.
pub(crate) fn scalar(kind: MetricKind, name: &str, help: &str, value: f64) -> MetricFamily {
    let mut f = family(kind, name, help, &[]);
    push(&mut f, &[], value);
    f
}
