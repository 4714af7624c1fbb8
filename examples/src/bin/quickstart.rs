//! Registers a few metrics, updates them from worker threads for a moment, and prints the
//! exposition in Prometheus text format (or OpenMetrics with `--openmetrics`).
//!
//! `cargo run -p aiplatform-examples --bin quickstart`

use std::time::{Duration, Instant};

use aiplatform_metrics::{Buckets, ExpositionFormat, LabelKey, Opts, Registry, Unit};

fn main() {
    let format = if std::env::args().any(|a| a == "--openmetrics") {
        ExpositionFormat::OpenMetrics
    } else {
        ExpositionFormat::Text
    };
    let registry = Registry::builder()
        .const_label("service", "aiplatform-api")
        .build()
        .expect("valid constant labels");

    let requests = registry
        .counter_family(
            "requests_total",
            "Requests handled, by endpoint and status.",
            &["endpoint", "status"],
        )
        .expect("valid family");
    let latency = registry
        .register(
            Opts::histogram(
                "request_duration",
                "Time to handle a request.",
                Buckets::default(),
            )
            .unit(Unit::SECONDS)
            .label_names(&["endpoint"]),
        )
        .expect("valid family");
    let in_flight = registry
        .gauge("requests_in_flight", "Requests being handled.")
        .expect("valid gauge");

    let started = Instant::now();
    std::thread::scope(|s| {
        for worker in 0..4u64 {
            let (requests, latency, in_flight) =
                (requests.clone(), latency.clone(), in_flight.clone());
            s.spawn(move || {
                // Hot paths keep handles (or prepared keys); lookups are for the rest.
                let ok = LabelKey::new(&["/predict", "200"]);
                let predict_latency = latency.with(&["/predict"]);
                let mut i = 0u64;
                while started.elapsed() < Duration::from_millis(300) {
                    in_flight.inc();
                    let t = predict_latency.start_timer();
                    if (i + worker).is_multiple_of(50) {
                        requests.with(&["/predict", "500"]).inc();
                    } else {
                        requests.apply(&ok, |c| c.inc());
                    }
                    drop(t);
                    in_flight.dec();
                    i += 1;
                }
            });
        }
    });

    let body = registry.encode(format);
    print!("{}", String::from_utf8(body).expect("exposition is UTF-8"));
    eprintln!("(Content-Type: {})", format.content_type());
}
