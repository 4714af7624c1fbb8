//! The `metrics` facade: `counter!` through our recorder beside metrics-exporter-prometheus.
//!
//! `cargo bench -p aiplatform-benches --bench facade -- --warm-up-time 1 --measurement-time 2`
//!
//! Each recorder is installed thread-locally (`with_local_recorder`) around the measured loop,
//! so both pay the same dispatch. The dynamic-label case clones a `String` label value per call
//! (what the macro needs for a runtime value), on both.

use std::hint::black_box;

use aiplatform_benches::two_threads;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn ours() -> (&'static str, Box<dyn metrics::Recorder + Sync>) {
    let registry = aiplatform_metrics::Registry::new();
    (
        "aiplatform",
        Box::new(aiplatform_metrics::facade::RegistryRecorder::builder(registry).build()),
    )
}

fn theirs() -> (&'static str, Box<dyn metrics::Recorder + Sync>) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    ("metrics_exporter_prometheus", Box::new(recorder))
}

/// The macro's own cost, with a recorder that does nothing: the floor under any recorder.
fn noop() -> (&'static str, Box<dyn metrics::Recorder + Sync>) {
    ("noop_recorder_floor", Box::new(metrics::NoopRecorder))
}

fn static_labels() {
    metrics::counter!("requests_total", "method" => "GET", "status" => "200").increment(1);
}

fn dynamic_label(status: &str) {
    metrics::counter!("requests_total", "method" => "GET", "status" => status.to_owned())
        .increment(1);
}

fn facade(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_counter_macro");
    let status = String::from("200");
    for make in [ours, theirs, noop] {
        let (name, recorder) = make();
        let recorder: &(dyn metrics::Recorder + Sync) = &*recorder;
        metrics::with_local_recorder(recorder, || {
            static_labels();
            g.bench_function(BenchmarkId::new("static_labels/1_thread", name), |b| {
                b.iter(static_labels)
            });
            g.bench_function(BenchmarkId::new("dynamic_label/1_thread", name), |b| {
                b.iter(|| dynamic_label(black_box(&status)))
            });
        });
        g.bench_function(BenchmarkId::new("static_labels/2_threads", name), |b| {
            b.iter_custom(|n| {
                two_threads(n, &|_| {
                    metrics::with_local_recorder(recorder, static_labels)
                })
            })
        });
        g.bench_function(BenchmarkId::new("dynamic_label/2_threads", name), |b| {
            b.iter_custom(|n| {
                two_threads(n, &|_| {
                    metrics::with_local_recorder(recorder, || dynamic_label(&status))
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, facade);
criterion_main!(benches);
