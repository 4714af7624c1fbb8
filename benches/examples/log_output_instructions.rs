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
//! queue does not fill within the run). Each case runs twice under callgrind, with N and 2N
//! events, counting the main thread only (`--separate-threads=yes`); the difference divided
//! by N is one event on the application thread, without the setup. `--case NAME --ops N`
//! runs one case once (what the driver runs under valgrind).

use std::hint::black_box;
use std::process::Command;

use aiplatform_logging::{Format, Output};
use tracing_subscriber::prelude::*;

/// `(name, what the outputs are)`.
const CASES: &[(&str, &str)] = &[
    ("no_backend", "JSON lines to a sink"),
    ("second_sink", "JSON lines to two sinks"),
    ("datadog", "sink + Datadog logs intake (unreachable)"),
    ("newrelic", "sink + New Relic Log API (unreachable)"),
    ("otlp", "sink + OTLP/HTTP logs (unreachable)"),
];

const EVENTS: u64 = 20_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut case = None;
    let mut ops = 0u64;
    let mut only: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--case" => case = args.next(),
            "--ops" => ops = args.next().and_then(|n| n.parse().ok()).expect("--ops N"),
            "--bench" => {}
            name => only.push(name.to_owned()),
        }
    }
    match case {
        Some(name) => run(&name, ops),
        None => drive(&only),
    }
}

fn drive(only: &[String]) {
    let exe = std::env::current_exe().expect("own path");
    println!("| case | instructions / event (application thread) | outputs |\n|---|---:|---|");
    for &(name, what) in CASES {
        if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
            continue;
        }
        let a = instructions(&exe, name, EVENTS);
        let b = instructions(&exe, name, 2 * EVENTS);
        let per_op = (b as f64 - a as f64) / EVENTS as f64;
        println!("| {name} | {per_op:.0} | {what} |");
    }
}

/// Instructions callgrind counts on the main thread for one run of `case` with `ops` events.
fn instructions(exe: &std::path::Path, case: &str, ops: u64) -> u64 {
    let dir = std::env::temp_dir().join(format!("log-output-cg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cg.out");
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--separate-threads=yes",
            "--fair-sched=yes",
        ])
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(exe)
        .args(["--case", case, "--ops", &ops.to_string()])
        .output()
        .unwrap_or_else(|e| {
            panic!("valgrind is needed for this program (apt-get install valgrind): {e}")
        });
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{case} failed under valgrind:\n{log}");
    // Thread 1 is the main thread.
    let main = std::fs::read_to_string(dir.join("cg.out-01")).expect("callgrind's main thread");
    let _ = std::fs::remove_dir_all(&dir);
    main.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no instruction count in callgrind's output for {case}"))
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sink() -> Output {
    Output::writer(std::io::sink(), Format::Json).queue_capacity(1 << 18)
}

fn run(case: &str, ops: u64) {
    let port = closed_port();
    let second = match case {
        "no_backend" => None,
        "second_sink" => Some(sink()),
        "datadog" => Some(
            aiplatform_datadog::Datadog::new()
                .api_key(aiplatform_push::SecretSource::value("bench"))
                .logs_url(format!("http://127.0.0.1:{port}"))
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
        b = b.output(o.queue_capacity(1 << 18));
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
