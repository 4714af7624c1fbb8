//! Encoding a registry together with families produced for one scrape (collector results,
//! `process_*`, `promhttp_*`), off the async runtime.
//!
//! The core's [`Registry`] collects natively registered families and its
//! [`Collector`](aiplatform_metrics::collect::Collector)s, sorts everything, merges families that
//! agree, and drops duplicate series and clashing families (counting them) so that a scrape
//! never fails. Families computed per scrape get the same treatment through
//! [`Registry::collect_into_with`]: only the collection made for this scrape sees them
//! (another thread collecting the same registry, a push exporter say, does not), and the
//! registry's namespace does not prefix them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aiplatform_metrics::{Encoder, ExpositionFormat, MetricFamily, Registry, Snapshot, negotiate};
use http::HeaderMap;
use http::header::{ACCEPT, ACCEPT_ENCODING};
use parking_lot::Mutex;

use crate::response::{self, Response, accepts_gzip, header_str};

/// Snapshots and encoders kept for reuse; more concurrent scrapes still work, they allocate.
const POOLED: usize = 4;

/// A scrape whose body was larger than this does not return its snapshot and encoder to the
/// pool: a pooled snapshot keeps the scrape's families (a 6 MB textfile's series) until it is
/// reused, which left four scrapes' worth resident for as long as the process ran after a
/// burst of large scrapes. Usual scrapes (tens of KiB) still reuse theirs.
const POOLED_BODY_LIMIT: usize = 1 << 20;

/// A registry prepared to be encoded with per-scrape families, with pooled buffers. Cheap to
/// clone.
///
/// ```
/// use aiplatform_metrics::{ExpositionFormat, MetricFamily, MetricKind, Registry, NO_LABELS};
/// use aiplatform_prometheus::Exposition;
///
/// let registry = Registry::new();
/// registry.counter("jobs_total", "Jobs done.").unwrap().inc();
/// let exposition = Exposition::new(registry);
///
/// let mut up = MetricFamily::builder(MetricKind::Gauge, "pg_up", "Whether the server is up.").build().unwrap();
/// up.push_gauge(NO_LABELS, 1.0).unwrap();
/// let mut body = Vec::new();
/// exposition.encode_into(ExpositionFormat::Text, vec![up], &mut body);
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.contains("jobs_total 1\n") && text.contains("pg_up 1\n"));
/// ```
#[derive(Clone, Debug)]
pub struct Exposition {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    /// Whether OpenMetrics is offered when `Accept` prefers it (else always text 0.0.4).
    openmetrics: bool,
    pool: Mutex<Vec<(Snapshot, Encoder)>>,
    /// Size of the last body, to allocate the next one at once.
    last_len: AtomicUsize,
    /// Set by a scrape larger than [`POOLED_BODY_LIMIT`], taken by the server's memory trim.
    large_since_trim: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// What one encode noticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeReport {
    /// Series this collection dropped (repeated label sets, clashing families).
    pub dropped_series: u64,
}

impl Exposition {
    /// Wraps `registry`; scrapes get Prometheus text 0.0.4 whatever they accept, as from the
    /// Go exporters (client_golang's `promhttp` without `EnableOpenMetrics`).
    ///
    /// That is what keeps series names the same in Prometheus: OpenMetrics requires a
    /// counter's samples to end in `_total`, so a counter named without it
    /// (`pg_stat_database_xact_commit`) would be stored as `..._total` by a Prometheus that
    /// negotiated OpenMetrics (all of them prefer it), and every dashboard and alert written
    /// for the Go exporter would find nothing.
    pub fn new(registry: Registry) -> Exposition {
        Self::build(registry, false)
    }

    /// Wraps `registry`, answering OpenMetrics 1.0 when `Accept` prefers it (what Prometheus
    /// sends) and text 0.0.4 otherwise. For registries whose counters all end in `_total`.
    pub fn with_openmetrics(registry: Registry) -> Exposition {
        Self::build(registry, true)
    }

    fn build(registry: Registry, openmetrics: bool) -> Exposition {
        Exposition {
            inner: Arc::new(Inner {
                registry,
                openmetrics,
                pool: Mutex::new(Vec::new()),
                last_len: AtomicUsize::new(16 * 1024),
                large_since_trim: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Whether a scrape larger than 1 MiB was encoded since the last call (which clears it):
    /// the server then hands the C allocator's free memory back ([`crate::release_free_memory`]).
    pub(crate) fn take_large_scrape(&self) -> bool {
        self.inner.large_since_trim.swap(false, Ordering::Relaxed)
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Collects the registry with `extra` families and appends the exposition to `out`
    /// (blocking: call it off the async runtime, or use [`render`](Self::render)).
    pub fn encode_into(
        &self,
        format: ExpositionFormat,
        extra: Vec<MetricFamily>,
        out: &mut Vec<u8>,
    ) -> EncodeReport {
        let inner = &*self.inner;
        let pooled = inner.pool.lock().pop();
        let (mut snapshot, mut encoder) = pooled.unwrap_or_default();
        let stats = inner.registry.collect_into_with(&mut snapshot, extra);
        let start = out.len();
        encoder.encode(&snapshot, format, out);
        if out.len() - start <= POOLED_BODY_LIMIT {
            let mut pool = inner.pool.lock();
            if pool.len() < POOLED {
                pool.push((snapshot, encoder));
            }
        } else {
            inner.large_since_trim.store(true, Ordering::Relaxed);
        }
        EncodeReport {
            dropped_series: stats.dropped(),
        }
    }

    /// Answers a scrape: format from `Accept` (with OpenMetrics offered), gzip if `Accept-Encoding` allows it, the exact
    /// `Content-Type`; collection and encoding run on the blocking pool. A panic while
    /// collecting (a registry collector's) gives a 500.
    pub async fn render(&self, headers: &HeaderMap, extra: Vec<MetricFamily>) -> Response {
        self.render_with(headers, move |out| out.extend(extra))
            .await
            .0
    }

    /// [`render`](Self::render) with the extra families computed on the blocking thread.
    pub(crate) async fn render_with(
        &self,
        headers: &HeaderMap,
        extra: impl FnOnce(&mut Vec<MetricFamily>) + Send + 'static,
    ) -> (Response, RenderReport) {
        let format = if self.inner.openmetrics {
            negotiate(header_str(headers, ACCEPT))
        } else {
            ExpositionFormat::Text
        };
        let gzip = accepts_gzip(header_str(headers, ACCEPT_ENCODING));
        let this = self.clone();
        let job = tokio::task::spawn_blocking(move || {
            let mut families = Vec::new();
            extra(&mut families);
            let expected = this.inner.last_len.load(Ordering::Relaxed);
            let mut body = Vec::with_capacity(expected + expected / 8);
            let encoded = this.encode_into(format, families, &mut body);
            this.inner.last_len.store(body.len(), Ordering::Relaxed);
            let mut gzip_failed = false;
            let gzipped = gzip
                && match response::gzip(&body) {
                    Ok(z) => {
                        body = z;
                        true
                    }
                    Err(e) => {
                        tracing::error!(err = %e, "error compressing metrics; sending them uncompressed");
                        gzip_failed = true;
                        false
                    }
                };
            (body, gzipped, encoded, gzip_failed)
        });
        match job.await {
            Ok((body, gzipped, encoded, gzip_failed)) => (
                response::exposition(format.content_type(), body, gzipped),
                RenderReport {
                    dropped_series: encoded.dropped_series,
                    gzip_failed,
                    panicked: false,
                },
            ),
            Err(e) => {
                tracing::error!(err = %e, "error gathering metrics");
                (
                    response::text(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        format!("An error has occurred while serving metrics:\n\n{e}\n"),
                    ),
                    RenderReport {
                        panicked: true,
                        ..RenderReport::default()
                    },
                )
            }
        }
    }
}

/// What one rendered scrape noticed, for `promhttp_metric_handler_errors_total`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RenderReport {
    pub(crate) dropped_series: u64,
    pub(crate) gzip_failed: bool,
    pub(crate) panicked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiplatform_metrics::MetricKind;

    fn gauge(name: &str, labels: &[&str], values: &[(&[&str], f64)]) -> MetricFamily {
        let mut f = MetricFamily::builder(MetricKind::Gauge, name, "help.")
            .label_names(labels)
            .build()
            .unwrap();
        for (l, v) in values {
            f.push_gauge(l, *v).unwrap();
        }
        f
    }

    #[test]
    fn extra_families_only_reach_their_own_encode() {
        let registry = Registry::new();
        let a = Exposition::new(registry.clone());
        let b = Exposition::new(registry.clone());
        let mut out = Vec::new();
        a.encode_into(
            ExpositionFormat::Text,
            vec![gauge("only_a", &[], &[(&[], 1.0)])],
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("only_a 1\n"));
        // Neither b nor a plain collection sees a's families.
        let mut out = Vec::new();
        b.encode_into(ExpositionFormat::Text, Vec::new(), &mut out);
        assert!(!String::from_utf8(out).unwrap().contains("only_a"));
        assert!(registry.collect().family("only_a").is_none());
    }

    #[test]
    fn duplicates_are_dropped_and_reported() {
        let registry = Registry::new();
        let e = Exposition::new(registry);
        let dup = || gauge("dup", &["x"], &[(&["1"], 1.0), (&["1"], 2.0)]);
        let mut out = Vec::new();
        let r = e.encode_into(ExpositionFormat::Text, vec![dup()], &mut out);
        assert_eq!(r.dropped_series, 1);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("dup{x=\"1\"} 1\n") && !text.contains("dup{x=\"1\"} 2\n"));
        let r = e.encode_into(ExpositionFormat::Text, Vec::new(), &mut Vec::new());
        assert_eq!(r.dropped_series, 0);
    }

    #[test]
    fn bridge_is_removed_with_the_last_clone() {
        let registry = Registry::new();
        let e = Exposition::new(registry.clone());
        let e2 = e.clone();
        drop(e);
        let mut out = Vec::new();
        e2.encode_into(
            ExpositionFormat::Text,
            vec![gauge("still", &[], &[(&[], 1.0)])],
            &mut out,
        );
        assert!(String::from_utf8(out).unwrap().contains("still 1\n"));
        drop(e2);
        assert!(
            format!("{registry:?}").contains("collectors: 0"),
            "{registry:?}"
        );
    }
}
