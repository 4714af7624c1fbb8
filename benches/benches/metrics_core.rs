//! Hot paths of aiplatform-metrics beside the peer libraries, in one run.
//!
//! `cargo bench -p aiplatform-benches --bench metrics_core -- --warm-up-time 1 --measurement-time 2`
//!
//! Fairness rules (see `benches/README.md`): the same 11 buckets for every histogram; peers use
//! their fastest documented API (prebuilt keys for `metrics`, label structs built once for
//! `prometheus-client`/`fastmetrics`); every encoder's output is checked to hold exactly N
//! series before it is timed; each `metrics` case has its own recorder.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aiplatform_benches::{OBS, registry_written_by, two_threads};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use crossbeam_utils::CachePadded;

const BUCKETS: [f64; 11] = aiplatform_metrics::DEFAULT_BUCKETS;
const METHOD: &str = "GET";
const ROUTE: &str = "/api/v1/predict";
const STATUS: &str = "200";

// ---------------------------------------------------------------- peers' label types

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PcLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PcKind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct FmLabels {
    method: String,
    route: String,
    status: String,
}

impl fastmetrics::raw::LabelSetSchema for FmLabels {
    fn names() -> Option<&'static [&'static str]> {
        Some(&["method", "route", "status"])
    }
}

impl fastmetrics::encoder::EncodeLabelSet for FmLabels {
    fn encode(
        &self,
        enc: &mut dyn fastmetrics::encoder::LabelSetEncoder,
    ) -> fastmetrics::error::Result<()> {
        enc.encode(&("method", self.method.as_str()))?;
        enc.encode(&("route", self.route.as_str()))?;
        enc.encode(&("status", self.status.as_str()))?;
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct FmKind {
    kind: String,
}

impl fastmetrics::raw::LabelSetSchema for FmKind {
    fn names() -> Option<&'static [&'static str]> {
        Some(&["kind"])
    }
}

impl fastmetrics::encoder::EncodeLabelSet for FmKind {
    fn encode(
        &self,
        enc: &mut dyn fastmetrics::encoder::LabelSetEncoder,
    ) -> fastmetrics::error::Result<()> {
        enc.encode(&("kind", self.kind.as_str()))
    }
}

#[derive(Clone, Copy, PartialEq, Debug, measured::LabelGroup)]
#[label(set = MeasuredRequestSet)]
struct MeasuredRequest<'a> {
    #[label(dynamic_with = paracord::ParaCord)]
    method: &'a str,
    #[label(dynamic_with = paracord::ParaCord)]
    route: &'a str,
    #[label(dynamic_with = paracord::ParaCord)]
    status: &'a str,
}

#[derive(Clone, Copy, PartialEq, Debug, measured::LabelGroup)]
#[label(set = MeasuredKindSet)]
struct MeasuredKind<'a> {
    #[label(dynamic_with = paracord::ParaCord)]
    kind: &'a str,
}

#[derive(measured::MetricGroup)]
struct MeasuredEncodeGroup {
    /// help text
    counters: measured::CounterVec<MeasuredKindSet>,
}

fn metrics_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .expect("valid buckets")
        .build_recorder()
}

static META: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);

// ---------------------------------------------------------------- single-thread handle ops

fn counter_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc");
    let bare = CachePadded::new(AtomicU64::new(0));
    g.bench_function("bare_atomic_fetch_add", |b| {
        b.iter(|| black_box(&bare).fetch_add(1, Ordering::Relaxed))
    });

    let registry = aiplatform_metrics::Registry::new();
    let ours = registry.counter("c_total", "help").unwrap();
    g.bench_function("aiplatform", |b| b.iter(|| black_box(&ours).inc()));

    let recorder = metrics_recorder();
    let key = metrics::Key::from_name("c_total");
    let m = metrics::Recorder::register_counter(&recorder, &key, &META);
    g.bench_function("metrics", |b| b.iter(|| black_box(&m).increment(1)));

    let p = prometheus::IntCounter::new("c_total", "help").unwrap();
    g.bench_function("prometheus", |b| b.iter(|| black_box(&p).inc()));

    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    g.bench_function("prometheus_client", |b| b.iter(|| black_box(&pc).inc()));

    let fm = fastmetrics::metrics::counter::Counter::<u64>::default();
    g.bench_function("fastmetrics", |b| b.iter(|| black_box(&fm).inc()));

    let me = measured::Counter::new();
    g.bench_function("measured", |b| b.iter(|| black_box(&me).inc()));
    g.finish();
}

fn gauge_set(c: &mut Criterion) {
    let mut g = c.benchmark_group("gauge_set");
    let registry = aiplatform_metrics::Registry::new();
    let ours = registry.gauge("g", "help").unwrap();
    g.bench_function("aiplatform", |b| {
        b.iter(|| black_box(&ours).set(black_box(42.5)))
    });

    let recorder = metrics_recorder();
    let m = metrics::Recorder::register_gauge(&recorder, &metrics::Key::from_name("g"), &META);
    g.bench_function("metrics", |b| b.iter(|| black_box(&m).set(black_box(42.5))));

    let p = prometheus::Gauge::new("g", "help").unwrap();
    g.bench_function("prometheus", |b| {
        b.iter(|| black_box(&p).set(black_box(42.5)))
    });

    let pc =
        prometheus_client::metrics::gauge::Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    g.bench_function("prometheus_client", |b| {
        b.iter(|| black_box(&pc).set(black_box(42.5)))
    });

    let fm = fastmetrics::metrics::gauge::Gauge::<f64>::default();
    g.bench_function("fastmetrics", |b| {
        b.iter(|| black_box(&fm).set(black_box(42.5)))
    });

    let me = measured::FloatGauge::new();
    g.bench_function("measured", |b| {
        b.iter(|| black_box(&me).set(black_box(42.5)))
    });
    g.finish();
}

fn histogram_observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_observe");
    let registry = aiplatform_metrics::Registry::new();
    let ours = registry
        .histogram("h_seconds", "help", aiplatform_metrics::Buckets::default())
        .unwrap();
    let mut i = 0usize;
    g.bench_function("aiplatform", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&ours).observe(OBS[i & 7])
        })
    });

    // metrics-exporter-prometheus appends raw samples and aggregates them at render time, so
    // this measures a different operation; rendered every batch to keep memory bounded.
    let recorder = metrics_recorder();
    let handle = recorder.handle();
    let m = metrics::Recorder::register_histogram(
        &recorder,
        &metrics::Key::from_name("h_seconds"),
        &META,
    );
    g.bench_function("metrics", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                black_box(&m).record(OBS[i as usize & 7]);
            }
            let t = start.elapsed();
            black_box(handle.render());
            t
        })
    });

    let p = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("h_seconds", "help").buckets(BUCKETS.to_vec()),
    )
    .unwrap();
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&p).observe(OBS[i & 7])
        })
    });

    let pc = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&pc).observe(OBS[i & 7])
        })
    });

    let fm = fastmetrics::metrics::histogram::Histogram::new(BUCKETS);
    g.bench_function("fastmetrics", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&fm).observe(OBS[i & 7])
        })
    });

    let me = measured::Histogram::<11>::with_metadata(
        measured::metric::histogram::Thresholds::with_buckets(BUCKETS),
    );
    g.bench_function("measured", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&me).observe(OBS[i & 7])
        })
    });
    g.finish();
}

// ---------------------------------------------------------------- labeled lookup + inc

const METHODS: [&str; 3] = ["GET", "POST", "PUT"];
const STATUSES: [&str; 3] = ["200", "404", "500"];

fn routes() -> Vec<String> {
    (0..30)
        .map(|i| format!("/api/v1/route{i}"))
        .chain([ROUTE.to_owned()])
        .collect()
}

/// Fills a 3-label family with 3 × 31 × 3 series so the lookup probes a realistic table.
fn populate(mut f: impl FnMut(&str, &str, &str)) {
    for m in METHODS {
        for r in routes() {
            for s in STATUSES {
                f(m, &r, s);
            }
        }
    }
}

fn labeled_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("labeled_lookup_inc");

    // --- ours
    let registry = aiplatform_metrics::Registry::new();
    let ours = registry
        .counter_family("requests_total", "help", &["method", "route", "status"])
        .unwrap();
    populate(|m, r, s| ours.with(&[m, r, s]).inc());
    let values = [METHOD.to_owned(), ROUTE.to_owned(), STATUS.to_owned()];
    let prebuilt: [&str; 3] = [&values[0], &values[1], &values[2]];
    // Prepared once, as metrics' `Key` is: hashed and condensed up front.
    let key = aiplatform_metrics::LabelKey::new(&prebuilt);
    g.bench_function(BenchmarkId::new("prebuilt", "aiplatform"), |b| {
        b.iter(|| ours.apply(black_box(&key), |c| c.inc()))
    });
    // The same values as plain string slices, hashed on every call.
    g.bench_function(BenchmarkId::new("prebuilt", "aiplatform_str_values"), |b| {
        b.iter(|| ours.apply(black_box(&prebuilt), |c| c.inc()))
    });
    g.bench_function(
        BenchmarkId::new("prebuilt", "aiplatform_with_handle_clone"),
        |b| b.iter(|| ours.with(black_box(&key)).inc()),
    );

    // --- metrics: a retained key built once
    let recorder = metrics_recorder();
    let key = metrics::Key::from_parts(
        "requests_total",
        vec![
            metrics::Label::new("method", METHOD),
            metrics::Label::new("route", ROUTE),
            metrics::Label::new("status", STATUS),
        ],
    );
    populate(|m, r, s| {
        let k = metrics::Key::from_parts(
            "requests_total",
            vec![
                metrics::Label::new("method", m.to_owned()),
                metrics::Label::new("route", r.to_owned()),
                metrics::Label::new("status", s.to_owned()),
            ],
        );
        metrics::Recorder::register_counter(&recorder, &k, &META).increment(1);
    });
    g.bench_function(BenchmarkId::new("prebuilt", "metrics"), |b| {
        b.iter(|| {
            metrics::Recorder::register_counter(&recorder, black_box(&key), &META).increment(1)
        })
    });

    // --- prometheus
    let p = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "help"),
        &["method", "route", "status"],
    )
    .unwrap();
    populate(|m, r, s| p.with_label_values(&[m, r, s]).inc());
    g.bench_function(BenchmarkId::new("prebuilt", "prometheus"), |b| {
        b.iter(|| p.with_label_values(black_box(&prebuilt)).inc())
    });

    // --- prometheus-client: label struct built once
    let pc = prometheus_client::metrics::family::Family::<
        PcLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    populate(|m, r, s| {
        pc.get_or_create(&PcLabels {
            method: m.into(),
            route: r.into(),
            status: s.into(),
        })
        .inc();
    });
    let pc_labels = PcLabels {
        method: METHOD.into(),
        route: ROUTE.into(),
        status: STATUS.into(),
    };
    g.bench_function(BenchmarkId::new("prebuilt", "prometheus_client"), |b| {
        b.iter(|| pc.get_or_create(black_box(&pc_labels)).inc())
    });

    // --- fastmetrics: label struct built once
    let fm = fastmetrics::metrics::family::Family::<
        FmLabels,
        fastmetrics::metrics::counter::Counter<u64>,
    >::default();
    populate(|m, r, s| {
        fm.with_or_new(
            &FmLabels {
                method: m.into(),
                route: r.into(),
                status: s.into(),
            },
            |c| c.inc(),
        );
    });
    let fm_labels = FmLabels {
        method: METHOD.into(),
        route: ROUTE.into(),
        status: STATUS.into(),
    };
    g.bench_function(BenchmarkId::new("prebuilt", "fastmetrics"), |b| {
        b.iter(|| fm.with_or_new(black_box(&fm_labels), |c| c.inc()))
    });

    // --- measured: dynamic label set (interned strings)
    let me = measured::CounterVec::with_label_set(MeasuredRequestSet {
        method: paracord::ParaCord::default(),
        route: paracord::ParaCord::default(),
        status: paracord::ParaCord::default(),
    });
    populate(|m, r, s| {
        me.inc(MeasuredRequest {
            method: m,
            route: r,
            status: s,
        })
    });
    g.bench_function(BenchmarkId::new("prebuilt", "measured"), |b| {
        b.iter(|| {
            me.inc(black_box(MeasuredRequest {
                method: prebuilt[0],
                route: prebuilt[1],
                status: prebuilt[2],
            }))
        })
    });

    // --- dynamic: the status value is computed per call (as from a response code); each library
    // then builds what its API needs from it.
    let code = 200u16;
    g.bench_function(BenchmarkId::new("dynamic_string", "aiplatform"), |b| {
        b.iter(|| {
            let mut buf = itoa::Buffer::new();
            let status = buf.format(black_box(code));
            ours.apply(&[METHOD, ROUTE, status], |c| c.inc())
        })
    });
    g.bench_function(BenchmarkId::new("dynamic_string", "metrics"), |b| {
        b.iter(|| {
            let status = black_box(code).to_string();
            let key = metrics::Key::from_parts(
                "requests_total",
                vec![
                    metrics::Label::new("method", METHOD),
                    metrics::Label::new("route", ROUTE),
                    metrics::Label::new("status", status),
                ],
            );
            metrics::Recorder::register_counter(&recorder, &key, &META).increment(1)
        })
    });
    g.bench_function(BenchmarkId::new("dynamic_string", "prometheus"), |b| {
        b.iter(|| {
            let mut buf = itoa::Buffer::new();
            let status = buf.format(black_box(code));
            p.with_label_values(&[METHOD, ROUTE, status]).inc()
        })
    });
    g.bench_function(
        BenchmarkId::new("dynamic_string", "prometheus_client"),
        |b| {
            b.iter(|| {
                let labels = PcLabels {
                    method: METHOD.into(),
                    route: ROUTE.into(),
                    status: black_box(code).to_string(),
                };
                pc.get_or_create(&labels).inc()
            })
        },
    );
    g.bench_function(BenchmarkId::new("dynamic_string", "fastmetrics"), |b| {
        b.iter(|| {
            let labels = FmLabels {
                method: METHOD.into(),
                route: ROUTE.into(),
                status: black_box(code).to_string(),
            };
            fm.with_or_new(&labels, |c| c.inc())
        })
    });
    g.bench_function(BenchmarkId::new("dynamic_string", "measured"), |b| {
        b.iter(|| {
            let mut buf = itoa::Buffer::new();
            let status = buf.format(black_box(code));
            me.inc(MeasuredRequest {
                method: METHOD,
                route: ROUTE,
                status,
            })
        })
    });
    g.finish();
}

// ---------------------------------------------------------------- encoding

fn series_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count()
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.sample_size(20);
    for n in [10_000usize, 100_000] {
        let kinds: Vec<String> = (0..n).map(|i| i.to_string()).collect();

        let registry = aiplatform_metrics::Registry::new();
        let ours = registry
            .register(
                aiplatform_metrics::Opts::counter("counters_total", "help text")
                    .label_names(&["kind"])
                    .max_series(n),
            )
            .unwrap();
        for k in &kinds {
            ours.with(&[k]).inc();
        }
        let mut buf = Vec::new();
        for (format, label) in [
            (aiplatform_metrics::ExpositionFormat::Text, "aiplatform"),
            (
                aiplatform_metrics::ExpositionFormat::OpenMetrics,
                "aiplatform_openmetrics",
            ),
        ] {
            buf.clear();
            registry.encode_into(format, &mut buf);
            assert_eq!(series_lines(std::str::from_utf8(&buf).unwrap()), n);
            g.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
                b.iter(|| {
                    buf.clear();
                    registry.encode_into(format, &mut buf);
                    black_box(buf.len())
                })
            });
        }

        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("counters_total", "help text");
            for k in &kinds {
                metrics::counter!("counters_total", "kind" => k.clone()).increment(1);
            }
        });
        let handle = recorder.handle();
        assert_eq!(series_lines(&handle.render()), n);
        g.bench_with_input(BenchmarkId::new("metrics", n), &n, |b, _| {
            b.iter(|| black_box(handle.render()))
        });

        let preg = prometheus::Registry::new();
        let p = prometheus::IntCounterVec::new(
            prometheus::Opts::new("counters_total", "help text"),
            &["kind"],
        )
        .unwrap();
        preg.register(Box::new(p.clone())).unwrap();
        for k in &kinds {
            p.with_label_values(&[k]).inc();
        }
        let mut s = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&preg.gather(), &mut s)
            .unwrap();
        assert_eq!(series_lines(&s), n);
        g.bench_with_input(BenchmarkId::new("prometheus", n), &n, |b, _| {
            b.iter(|| {
                s.clear();
                prometheus::TextEncoder::new()
                    .encode_utf8(&preg.gather(), &mut s)
                    .unwrap();
                black_box(s.len())
            })
        });

        let mut pcreg = prometheus_client::registry::Registry::default();
        let pc = prometheus_client::metrics::family::Family::<
            PcKind,
            prometheus_client::metrics::counter::Counter,
        >::default();
        pcreg.register("counters", "help text", pc.clone());
        for k in &kinds {
            pc.get_or_create(&PcKind { kind: k.clone() }).inc();
        }
        s.clear();
        prometheus_client::encoding::text::encode(&mut s, &pcreg).unwrap();
        assert_eq!(series_lines(&s), n);
        g.bench_with_input(
            BenchmarkId::new("prometheus_client_openmetrics", n),
            &n,
            |b, _| {
                b.iter(|| {
                    s.clear();
                    prometheus_client::encoding::text::encode(&mut s, &pcreg).unwrap();
                    black_box(s.len())
                })
            },
        );

        let mut fmreg = fastmetrics::registry::Registry::default();
        let fm = fastmetrics::metrics::family::Family::<
            FmKind,
            fastmetrics::metrics::counter::Counter<u64>,
        >::default();
        fmreg.register("counters", "help text", fm.clone()).unwrap();
        for k in &kinds {
            fm.with_or_new(&FmKind { kind: k.clone() }, |c| c.inc());
        }
        for (profile, label) in [
            (
                fastmetrics::format::text::TextProfile::PrometheusV0_0_4,
                "fastmetrics",
            ),
            (
                fastmetrics::format::text::TextProfile::OpenMetricsV0_0_1,
                "fastmetrics_openmetrics",
            ),
        ] {
            s.clear();
            fastmetrics::format::text::encode(&mut s, &fmreg, profile).unwrap();
            assert_eq!(series_lines(&s), n, "{label}");
            g.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
                b.iter(|| {
                    s.clear();
                    fastmetrics::format::text::encode(&mut s, &fmreg, profile).unwrap();
                    black_box(s.len())
                })
            });
        }

        let me = MeasuredEncodeGroup {
            counters: measured::CounterVec::with_label_set(MeasuredKindSet {
                kind: paracord::ParaCord::default(),
            }),
        };
        for k in &kinds {
            me.counters.inc(MeasuredKind { kind: k });
        }
        let mut enc = measured::text::BufferedTextEncoder::new();
        measured::MetricGroup::collect_group_into(&me, &mut enc).unwrap();
        assert_eq!(series_lines(std::str::from_utf8(&enc.finish()).unwrap()), n);
        g.bench_with_input(BenchmarkId::new("measured", n), &n, |b, _| {
            b.iter(|| {
                measured::MetricGroup::collect_group_into(&me, &mut enc).unwrap();
                black_box(enc.finish().len())
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------- encode by writer threads

/// Encoding 10k series that each of T threads has written once (the workers of a pool each
/// serving every route eventually): how collection cost grows with the threads that touched a
/// series. Ours only; a peer's series is one set of atomics whoever wrote it.
fn encode_by_writers(c: &mut Criterion) {
    const SERIES: usize = 10_000;
    let mut g = c.benchmark_group("encode_by_writers");
    g.sample_size(20);
    for kind in ["counter", "histogram"] {
        for writers in [1usize, 4, 16, 64] {
            let registry = registry_written_by(kind == "histogram", SERIES, writers);
            let mut buf = Vec::new();
            registry.encode_into(aiplatform_metrics::ExpositionFormat::Text, &mut buf);
            let per_series = if kind == "counter" {
                1
            } else {
                BUCKETS.len() + 3
            };
            assert_eq!(
                series_lines(std::str::from_utf8(&buf).unwrap()),
                SERIES * per_series
            );
            g.bench_with_input(
                BenchmarkId::new(format!("{kind}_aiplatform"), writers),
                &writers,
                |b, _| {
                    b.iter(|| {
                        buf.clear();
                        registry.encode_into(aiplatform_metrics::ExpositionFormat::Text, &mut buf);
                        black_box(buf.len())
                    })
                },
            );
        }
    }
    g.finish();
}

// ---------------------------------------------------------------- two threads, one series

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads_one_series");
    let bare = CachePadded::new(AtomicU64::new(0));
    g.bench_function("counter/bare_atomic_fetch_add", |b| {
        b.iter_custom(|n| {
            two_threads(n, &|_| {
                bare.fetch_add(1, Ordering::Relaxed);
            })
        })
    });
    let registry = aiplatform_metrics::Registry::new();
    let ours = registry.counter("c_total", "help").unwrap();
    g.bench_function("counter/aiplatform", |b| {
        b.iter_custom(|n| two_threads(n, &|_| black_box(&ours).inc()))
    });
    let recorder = metrics_recorder();
    let m =
        metrics::Recorder::register_counter(&recorder, &metrics::Key::from_name("c_total"), &META);
    g.bench_function("counter/metrics", |b| {
        b.iter_custom(|n| two_threads(n, &|_| black_box(&m).increment(1)))
    });
    let p = prometheus::IntCounter::new("c_total", "help").unwrap();
    g.bench_function("counter/prometheus", |b| {
        b.iter_custom(|n| two_threads(n, &|_| black_box(&p).inc()))
    });
    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    g.bench_function("counter/prometheus_client", |b| {
        b.iter_custom(|n| {
            two_threads(n, &|_| {
                black_box(&pc).inc();
            })
        })
    });
    let fm = fastmetrics::metrics::counter::Counter::<u64>::default();
    g.bench_function("counter/fastmetrics", |b| {
        b.iter_custom(|n| two_threads(n, &|_| black_box(&fm).inc()))
    });
    let me = measured::Counter::new();
    g.bench_function("counter/measured", |b| {
        b.iter_custom(|n| two_threads(n, &|_| black_box(&me).inc()))
    });

    let h = registry
        .histogram("h_seconds", "help", aiplatform_metrics::Buckets::default())
        .unwrap();
    g.bench_function("histogram/aiplatform", |b| {
        b.iter_custom(|n| two_threads(n, &|i| black_box(&h).observe(OBS[i as usize & 7])))
    });
    let ph = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("h", "help").buckets(BUCKETS.to_vec()),
    )
    .unwrap();
    g.bench_function("histogram/prometheus", |b| {
        b.iter_custom(|n| two_threads(n, &|i| black_box(&ph).observe(OBS[i as usize & 7])))
    });
    let pch = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
    g.bench_function("histogram/prometheus_client", |b| {
        b.iter_custom(|n| two_threads(n, &|i| black_box(&pch).observe(OBS[i as usize & 7])))
    });
    let fmh = fastmetrics::metrics::histogram::Histogram::new(BUCKETS);
    g.bench_function("histogram/fastmetrics", |b| {
        b.iter_custom(|n| two_threads(n, &|i| black_box(&fmh).observe(OBS[i as usize & 7])))
    });
    let meh = measured::Histogram::<11>::with_metadata(
        measured::metric::histogram::Thresholds::with_buckets(BUCKETS),
    );
    g.bench_function("histogram/measured", |b| {
        b.iter_custom(|n| two_threads(n, &|i| black_box(&meh).observe(OBS[i as usize & 7])))
    });
    g.finish();
}

criterion_group!(
    benches,
    counter_inc,
    gauge_set,
    histogram_observe,
    labeled_lookup,
    encode,
    encode_by_writers,
    contention
);
criterion_main!(benches);
