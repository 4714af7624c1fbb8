//! client_golang's `promhttp_metric_handler_*` self-metrics, with its names, types and HELP.
//!
//! As with `promhttp.InstrumentMetricHandler`, only requests to the telemetry path count, the
//! status code is counted when the response is ready (so a scrape does not see itself in
//! `requests_total`), and the in-flight gauge includes the scrape being served.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS};
use parking_lot::Mutex;

/// `promhttp_metric_handler_requests_total`.
pub const REQUESTS_TOTAL: &str = "promhttp_metric_handler_requests_total";
/// `promhttp_metric_handler_requests_in_flight`.
pub const REQUESTS_IN_FLIGHT: &str = "promhttp_metric_handler_requests_in_flight";
/// `promhttp_metric_handler_errors_total`.
pub const ERRORS_TOTAL: &str = "promhttp_metric_handler_errors_total";

/// Why a scrape counted an internal error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorCause {
    /// Collection went wrong: series dropped as duplicates or clashes, or a panic.
    Gathering,
    /// Compressing the body failed.
    Encoding,
}

/// Counters behind the `promhttp_*` families.
#[derive(Debug)]
pub(crate) struct HandlerMetrics {
    by_code: Mutex<BTreeMap<u16, u64>>,
    in_flight: AtomicI64,
    gathering: AtomicU64,
    encoding: AtomicU64,
}

/// Decrements the in-flight gauge on drop.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a HandlerMetrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HandlerMetrics {
    pub(crate) fn new() -> HandlerMetrics {
        // client_golang initialises the most likely codes so they exist from the start.
        HandlerMetrics {
            by_code: Mutex::new(BTreeMap::from([(200, 0), (500, 0), (503, 0)])),
            in_flight: AtomicI64::new(0),
            gathering: AtomicU64::new(0),
            encoding: AtomicU64::new(0),
        }
    }

    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub(crate) fn count(&self, code: u16) {
        *self.by_code.lock().entry(code).or_insert(0) += 1;
    }

    pub(crate) fn error(&self, cause: ErrorCause) {
        match cause {
            ErrorCause::Gathering => &self.gathering,
            ErrorCause::Encoding => &self.encoding,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The three families, as they stand now.
    pub(crate) fn families(&self, out: &mut Vec<MetricFamily>) {
        let mut requests = family(
            MetricKind::Counter,
            REQUESTS_TOTAL,
            "Total number of scrapes by HTTP status code.",
            &["code"],
        );
        for (code, n) in self.by_code.lock().iter() {
            push_counter(&mut requests, &[code.to_string()], *n as f64);
        }
        out.push(requests);

        let mut in_flight = family(
            MetricKind::Gauge,
            REQUESTS_IN_FLIGHT,
            "Current number of scrapes being served.",
            &[],
        );
        in_flight
            .push_gauge(NO_LABELS, self.in_flight.load(Ordering::Relaxed) as f64)
            .expect("no labels");
        out.push(in_flight);

        let mut errors = family(
            MetricKind::Counter,
            ERRORS_TOTAL,
            "Total number of internal errors encountered by the promhttp metric handler.",
            &["cause"],
        );
        push_counter(
            &mut errors,
            &["encoding"],
            self.encoding.load(Ordering::Relaxed) as f64,
        );
        push_counter(
            &mut errors,
            &["gathering"],
            self.gathering.load(Ordering::Relaxed) as f64,
        );
        out.push(errors);
    }
}

fn family(kind: MetricKind, name: &str, help: &str, label_names: &[&str]) -> MetricFamily {
    MetricFamily::builder(kind, name, help)
        .label_names(label_names)
        .build()
        .expect("static self-metric description is valid")
}

fn push_counter<S: AsRef<str>>(f: &mut MetricFamily, values: &[S], v: f64) {
    f.push_counter(values, v).expect("label count matches");
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiplatform_metrics::{ExpositionFormat, Registry};

    #[test]
    fn exposition_matches_client_golang() {
        let m = HandlerMetrics::new();
        m.count(200);
        m.count(200);
        m.count(503);
        m.error(ErrorCause::Gathering);
        let _g = m.enter();
        let registry = Registry::builder().without_self_metrics().build().unwrap();
        let mut fams = Vec::new();
        m.families(&mut fams);
        let fams = std::sync::Mutex::new(Some(fams));
        registry.register_collector_without_namespace(move |out: &mut Vec<MetricFamily>| {
            out.extend(fams.lock().unwrap().take().unwrap_or_default())
        });
        let text = String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap();
        // Sorted by the name written (a counter's with _total), as client_golang sorts.
        assert_eq!(
            text,
            "# HELP promhttp_metric_handler_errors_total Total number of internal errors encountered by the promhttp metric handler.\n\
             # TYPE promhttp_metric_handler_errors_total counter\n\
             promhttp_metric_handler_errors_total{cause=\"encoding\"} 0\n\
             promhttp_metric_handler_errors_total{cause=\"gathering\"} 1\n\
             # HELP promhttp_metric_handler_requests_in_flight Current number of scrapes being served.\n\
             # TYPE promhttp_metric_handler_requests_in_flight gauge\n\
             promhttp_metric_handler_requests_in_flight 1\n\
             # HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.\n\
             # TYPE promhttp_metric_handler_requests_total counter\n\
             promhttp_metric_handler_requests_total{code=\"200\"} 2\n\
             promhttp_metric_handler_requests_total{code=\"500\"} 0\n\
             promhttp_metric_handler_requests_total{code=\"503\"} 1\n"
        );
    }
}
