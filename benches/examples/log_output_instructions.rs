//! Instructions the application thread spends on one log event, per set of outputs, counted
//! by callgrind (a figure that does not move with the load of a shared machine).
//!
//! ```sh
//! cargo build --release -p aiplatform-benches --example log_output_instructions
//! target/release/examples/log_output_instructions            # needs valgrind
//! ```
//!
//! Every case writes ECS JSON lines to a sink through a queue and a writer thread, as an
//! application logging to stdout does ("no backend"); the others add one more output: a
//! second local sink, or a vendor log output pointed at a closed local port (unreachable; its
//! queue does not fill within the run, except in `datadog_full`, where it holds 64 events and
//! is full while the output waits to retry); `datadog_reachable` sends to a local intake
//! answering 202. Each case runs twice under callgrind, with N and 2N
//! events, counting the main thread only (`--separate-threads=yes`); the difference divided
//! by N is one event on the application thread, without the setup. `--case NAME --ops N`
//! runs one case once (what the driver runs under valgrind).

use std::hint::black_box;

use aiplatform_benches::callgrind::{Args, Threads, per_op};
use aiplatform_benches::net::{accepting_intake, closed_port};
use aiplatform_logging::{Format, Output};
use tracing_subscriber::prelude::*;

/// `(name, what the outputs are)`.
const CASES: &[(&str, &str)] = &[
    ("no_backend", "JSON lines to a sink"),
    ("second_sink", "JSON lines to two sinks"),
    ("datadog", "sink + Datadog logs intake (unreachable)"),
    (
        "datadog_reachable",
        "sink + Datadog logs intake (a local one answering 202)",
    ),
    (
        "datadog_full",
        "sink + Datadog logs intake (unreachable), its queue full",
    ),
    ("newrelic", "sink + New Relic Log API (unreachable)"),
    ("otlp", "sink + OTLP/HTTP logs (unreachable)"),
];

const EVENTS: u64 = 20_000;

fn main() {
    let args = Args::parse();
    if let Some(name) = &args.case {
        return run(name, args.ops);
    }
    println!("| case | instructions / event (application thread) | outputs |\n|---|---:|---|");
    for &(name, what) in CASES {
        if args.selects(name) {
            let per_op = per_op(name, EVENTS, Threads::Main);
            println!("| {name} | {per_op:.0} | {what} |");
        }
    }
}

fn sink() -> Output {
    Output::writer(std::io::sink(), Format::Json).queue_capacity(1 << 18)
}

fn run(case: &str, ops: u64) {
    let port = closed_port();
    let second = match case {
        "no_backend" => None,
        "second_sink" => Some(sink()),
        "datadog" | "datadog_full" | "datadog_reachable" => Some(
            aiplatform_datadog::Datadog::new()
                .api_key(aiplatform_push::SecretSource::value("bench"))
                .logs_url(format!(
                    "http://127.0.0.1:{}",
                    if case == "datadog_reachable" {
                        accepting_intake()
                    } else {
                        port
                    }
                ))
                .logs_output()
                .unwrap(),
        ),
        "newrelic" => Some(
            aiplatform_newrelic::NewRelic::license_key(aiplatform_push::SecretSource::value(
                "0123456789abcdef0123456789abcdef0123NRAL",
            ))
            .log_url(format!("http://127.0.0.1:{port}/log/v1"))
            .log_output()
            .unwrap(),
        ),
        "otlp" => aiplatform_otlp::Otlp::from_vars([
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ])
        .logs()
        .unwrap(),
        other => panic!("unknown case {other:?}"),
    };
    let mut b = aiplatform_logging::builder()
        .service_name("bench")
        .host_name("bench-host")
        .output(sink());
    if let Some(o) = second {
        // 64 places fill while the output waits to retry the intake.
        let capacity = if case.ends_with("_full") { 64 } else { 1 << 18 };
        b = b.output(o.queue_capacity(capacity));
    }
    let (layer, guard) = b.build().unwrap();
    let d = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&d, || {
        for i in 0..ops {
            tracing::info!(
                user.id = black_box(i),
                http.response.status_code = 200u64,
                latency_ms = 12.5,
                model = "gpt-4o-mini",
                "request completed"
            );
        }
    });
    // Leave the backends unreached: dropping the guard would wait for its deadline.
    std::mem::forget(guard);
}
