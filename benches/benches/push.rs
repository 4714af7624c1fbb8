//! The push pipeline: one push cycle (collect + points + encode + compress) per backend
//! encoder at 10k and 100k series, and what recording costs while a pipeline runs.
//!
//! `cargo bench -p aiplatform-benches --bench push -- --warm-up-time 1 --measurement-time 5`
//!
//! `push_cycle/<encoder>/<series>` times one warm cycle; the OpenTelemetry SDK exporting the
//! same series (`otel_sdk_*`: its meter provider with a periodic reader, an in-memory exporter
//! that does what `opentelemetry-otlp`'s HTTP exporter does with each export:
//! `opentelemetry-proto`'s conversion, `encode_to_vec`, gzip at flate2's default level into a
//! fresh vector; the same flate2 backend as ours, as one binary has one) is in the same group, timed
//! from `force_flush` to the compressed body. `record_while_pushing/<op>/<idle|pushing>` times hot-path
//! operations with no pipeline, with the registry scraped every 50 ms (a thread encoding it),
//! and with a pipeline pushing its 10k series every 50 ms on its own thread.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use aiplatform_metrics::{Buckets, Opts, Registry};
use aiplatform_push::{
    Batch, Compression, Cycle, Encoder, Outcome, Pipeline, Temporality, Transport,
};
use aiplatform_pushgateway::MetricFamilyEncoder;
use aiplatform_remote_write::RemoteWrite;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// `n` series: nine in ten counters with two labels (route, status), one in ten histograms
/// with the 11 default buckets and one label; every series has a value.
fn series_registry(n: usize) -> Registry {
    let r = Registry::builder()
        .const_label("env", "bench")
        .without_self_metrics()
        .build()
        .unwrap();
    let c = r
        .register(
            Opts::counter("requests_total", "Requests.")
                .label_names(&["route", "status"])
                .max_series(n),
        )
        .unwrap();
    let h = r
        .register(
            Opts::histogram("latency_seconds", "Latency.", Buckets::default())
                .label_names(&["route"])
                .max_series(n),
        )
        .unwrap();
    for i in 0..n {
        if i % 10 == 0 {
            h.with(&[format!("/r{i}")]).observe((i % 100) as f64 / 50.0);
        } else {
            c.with(&[format!("/r{i}"), "200".to_owned()])
                .inc_by(i as u64);
        }
    }
    r
}

fn run_cycles<E: Encoder>(
    c: &mut Criterion,
    name: &str,
    encoder: impl Fn() -> E,
    temporality: Temporality,
    compression: Compression,
) {
    let mut group = c.benchmark_group("push_cycle");
    group.sample_size(10);
    for n in [10_000usize, 100_000] {
        let r = series_registry(n);
        let mut cycle = Cycle::new(&r, encoder(), temporality, SystemTime::now())
            .compression(compression)
            .limits(1 << 20, 2000);
        let mut batches: Vec<Batch> = Vec::with_capacity(1024);
        // Warm: the tracker knows every series, buffers have their size.
        for _ in 0..2 {
            cycle.run(&mut |b| batches.push(b));
            batches.clear();
        }
        cycle.run(&mut |b| batches.push(b));
        let series: u64 = batches.iter().map(Batch::series).sum();
        assert_eq!(series, n as u64, "every series encoded once");
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter(|| {
                batches.clear();
                cycle.run(&mut |batch| batches.push(batch));
                black_box(batches.len())
            })
        });
    }
    group.finish();
}

fn otlp_encoder() -> aiplatform_otlp::MetricsEncoder {
    aiplatform_otlp::Otlp::from_vars([("OTEL_SERVICE_NAME", "bench")])
        .encoder()
        .unwrap()
}

/// The OpenTelemetry SDK's side of the OTLP push cycle.
mod otel_sdk {
    use std::io::Write as _;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use opentelemetry::KeyValue;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::metrics::data::ResourceMetrics;
    use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
    use opentelemetry_sdk::metrics::{
        Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
    };
    use prost::Message as _;

    /// The last export as `opentelemetry-otlp` sends it (`process_body` of its HTTP exporter):
    /// converted to the OTLP protobuf types, encoded into a fresh vector, gzip-compressed with
    /// `flate2::Compression::default()` into another; plus its data points.
    #[derive(Default)]
    pub struct Last {
        pub body: Vec<u8>,
        pub compressed: Vec<u8>,
        pub points: usize,
    }

    #[derive(Clone, Default)]
    pub struct Encoding {
        pub last: Arc<Mutex<Last>>,
        pub gzip: bool,
    }

    impl PushMetricExporter for Encoding {
        async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
            let request = ExportMetricsServiceRequest::from(metrics);
            let points = request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| {
                    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
                    match &m.data {
                        Some(Data::Sum(s)) => s.data_points.len(),
                        Some(Data::Histogram(h)) => h.data_points.len(),
                        Some(Data::Gauge(g)) => g.data_points.len(),
                        _ => 0,
                    }
                })
                .sum();
            let body = request.encode_to_vec();
            let compressed = if self.gzip {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(&body).unwrap();
                enc.finish().unwrap()
            } else {
                Vec::new()
            };
            *self.last.lock().unwrap() = Last {
                body,
                compressed,
                points,
            };
            Ok(())
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }

        fn temporality(&self) -> Temporality {
            Temporality::Cumulative
        }
    }

    /// The bench registry's series in the SDK: the same names, labels, values and buckets.
    pub fn provider(n: usize, exporter: Encoding) -> SdkMeterProvider {
        let reader = PeriodicReader::builder(exporter)
            .with_interval(Duration::from_secs(3600))
            .build();
        let provider = SdkMeterProvider::builder()
            .with_resource(
                Resource::builder()
                    .with_service_name("bench")
                    .with_attribute(KeyValue::new("env", "bench"))
                    .build(),
            )
            .with_reader(reader)
            .with_view(move |_: &Instrument| {
                Stream::builder().with_cardinality_limit(n + 1).build().ok()
            })
            .build();
        let meter = provider.meter("bench");
        let requests = meter
            .u64_counter("requests")
            .with_description("Requests.")
            .build();
        let latency = meter
            .f64_histogram("latency_seconds")
            .with_description("Latency.")
            .with_unit("s")
            .with_boundaries(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .build();
        for i in 0..n {
            if i % 10 == 0 {
                latency.record(
                    (i % 100) as f64 / 50.0,
                    &[KeyValue::new("route", format!("/r{i}"))],
                );
            } else {
                requests.add(
                    i as u64,
                    &[
                        KeyValue::new("route", format!("/r{i}")),
                        KeyValue::new("status", "200"),
                    ],
                );
            }
        }
        provider
    }
}

fn otel_sdk_cycles(c: &mut Criterion, name: &str, gzip: bool) {
    let mut group = c.benchmark_group("push_cycle");
    group.sample_size(10);
    for n in [10_000usize, 100_000] {
        let exporter = otel_sdk::Encoding {
            gzip,
            ..Default::default()
        };
        let provider = otel_sdk::provider(n, exporter.clone());
        for _ in 0..2 {
            provider.force_flush().unwrap();
        }
        assert_eq!(
            exporter.last.lock().unwrap().points,
            n,
            "every series exported once"
        );
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter(|| {
                provider.force_flush().unwrap();
                let last = exporter.last.lock().unwrap();
                black_box(last.body.len() + last.compressed.len())
            })
        });
        provider.shutdown().unwrap();
    }
    group.finish();
}

/// Median of `v`.
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Ours and the SDK's OTLP cycle timed in alternation, `rounds` times each, printed as medians
/// and their ratio: on a shared machine the load drifts over the seconds between two criterion
/// benches, while alternating cycles see the same load.
fn interleaved(gzip: bool) {
    for (n, rounds) in [(10_000usize, 31), (100_000, 9)] {
        let r = series_registry(n);
        let compression = if gzip {
            Compression::Gzip
        } else {
            Compression::None
        };
        let mut cycle = Cycle::new(
            &r,
            otlp_encoder(),
            Temporality::Cumulative,
            SystemTime::now(),
        )
        .compression(compression)
        .limits(1 << 20, 2000);
        let exporter = otel_sdk::Encoding {
            gzip,
            ..Default::default()
        };
        let provider = otel_sdk::provider(n, exporter.clone());
        let mut batches: Vec<Batch> = Vec::with_capacity(1024);
        let (mut ours, mut sdk) = (Vec::new(), Vec::new());
        for round in 0..rounds + 2 {
            batches.clear();
            let t = Instant::now();
            cycle.run(&mut |b| batches.push(b));
            let a = t.elapsed();
            let t = Instant::now();
            provider.force_flush().unwrap();
            let b = t.elapsed();
            // Two warm-up rounds.
            if round >= 2 {
                ours.push(a);
                sdk.push(b);
            }
        }
        let bytes: usize = batches.iter().map(|b| b.body().len()).sum();
        let sdk_bytes = {
            let last = exporter.last.lock().unwrap();
            if gzip {
                last.compressed.len()
            } else {
                last.body.len()
            }
        };
        let (ours, sdk) = (median(ours), median(sdk));
        println!(
            "otlp cycle, {n} series, {}, alternating {rounds} rounds: ours {ours:.2?} ({bytes} bytes), opentelemetry_sdk {sdk:.2?} ({sdk_bytes} bytes): {:.1}x",
            if gzip { "gzip" } else { "uncompressed" },
            sdk.as_secs_f64() / ours.as_secs_f64()
        );
        provider.shutdown().unwrap();
    }
}

fn push_cycle(c: &mut Criterion) {
    interleaved(true);
    interleaved(false);
    run_cycles(
        c,
        "otlp_gzip",
        otlp_encoder,
        Temporality::Cumulative,
        Compression::Gzip,
    );
    otel_sdk_cycles(c, "otel_sdk_gzip", true);
    run_cycles(
        c,
        "otlp_uncompressed",
        otlp_encoder,
        Temporality::Cumulative,
        Compression::None,
    );
    otel_sdk_cycles(c, "otel_sdk_uncompressed", false);
    let rw = || RemoteWrite::new("http://127.0.0.1:1/").encoder();
    run_cycles(
        c,
        "remote_write_snappy",
        rw,
        Temporality::Cumulative,
        Compression::Snappy,
    );
    run_cycles(
        c,
        "remote_write_snappy_delta",
        rw,
        Temporality::Delta,
        Compression::Snappy,
    );
    run_cycles(
        c,
        "pushgateway_protobuf",
        || MetricFamilyEncoder::new(vec!["job".into()]),
        Temporality::Cumulative,
        Compression::None,
    );
}

/// Takes every batch and answers at once: the pipeline's own cost, no network.
struct Discard;

impl Transport for Discard {
    async fn send(&mut self, batch: &Batch) -> Outcome {
        black_box(batch.body().len());
        Outcome::Delivered
    }
}

fn record_while_pushing(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_while_pushing");
    let r = series_registry(10_000);
    let counter = r.counter("hot_total", "Hot path.").unwrap();
    let family = r
        .counter_family(
            "hot_labeled_total",
            "Hot path, labeled.",
            &["method", "route", "status"],
        )
        .unwrap();
    let hist = r
        .histogram("hot_seconds", "Hot path.", Buckets::default())
        .unwrap();
    let labels = ["GET", "/api/v1/predict", "200"];
    family.with(&labels).inc();
    let cases = |group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
                 state: &str| {
        group.bench_function(BenchmarkId::new("counter_inc", state), |b| {
            b.iter(|| counter.inc())
        });
        group.bench_function(BenchmarkId::new("labeled_lookup_inc", state), |b| {
            b.iter(|| family.apply(black_box(&labels), |c| c.inc()))
        });
        group.bench_function(BenchmarkId::new("histogram_observe", state), |b| {
            b.iter(|| hist.observe(black_box(0.042)))
        });
    };
    cases(&mut group, "idle");
    {
        // What a scrape every 50 ms costs the hot path, for comparison: encoding the same
        // registry on another thread.
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut out = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    out.clear();
                    r.encode_into(aiplatform_metrics::ExpositionFormat::Text, &mut out);
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            cases(&mut group, "scraped");
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    {
        // A remote-write pipeline every 50 ms (a cycle of 10k series takes a few ms), on its
        // own thread, sending to a transport that takes everything at once.
        let rw = RemoteWrite::new("http://127.0.0.1:1/").encoder();
        let _pushing = Pipeline::builder(&r, "bench_rw", rw, Discard)
            .interval(Duration::from_millis(50))
            .jitter(false)
            .compression(Compression::Snappy)
            .build()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        cases(&mut group, "pushing");
    }
    group.finish();
}

criterion_group!(benches, push_cycle, record_while_pushing);
criterion_main!(benches);
