//! Datadog: a DogStatsD flush of 10k series beside `metrics-exporter-dogstatsd` holding the
//! same series, and the application thread's cost while the agent or intake is unreachable.
//!
//! `cargo bench -p aiplatform-benches --bench datadog -- --warm-up-time 1 --measurement-time 3 --noplot`
//!
//! - `dogstatsd_flush/<lib>/10000`: one flush of 10 000 gauges (10 families, two labels,
//!   namespace `app`), encoded, packed into datagrams of at most 1432 bytes and sent to a UDP
//!   socket on loopback; the time runs until the receiving thread has read every line. Ours:
//!   `Pipeline::flush`. The peer has no flush call: its forwarder runs with a 1 ns interval
//!   (flushing back to back) and an iteration is the time for 10 000 more lines to arrive.
//!   Datagrams per flush of each are printed first.
//! - Printed before the criterion output: p50/p99 on the application thread of 64 counter
//!   increments with no backend, then with DogStatsD to a port nobody listens on and agentless
//!   metrics to an intake nobody listens on (pipelines flushing every 10 ms meanwhile); and of
//!   one log event with no backend, a second local output, the Datadog logs output to a local
//!   intake, and to an intake nobody listens on while its queue fills and once it is full
//!   (the log cases timed in alternating rounds).

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aiplatform_benches::net::{accepting_intake, closed_port};
use aiplatform_datadog::Datadog;
use aiplatform_logging::{Format, Output};
use aiplatform_metrics::{Opts, Registry};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tracing_subscriber::prelude::*;

const SERIES: usize = 10_000;

/// A UDP receiver on loopback counting lines and datagrams on a thread of its own.
struct Agent {
    addr: std::net::SocketAddr,
    lines: Arc<AtomicU64>,
    datagrams: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Agent {
    fn start() -> Agent {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // As an agent with `dogstatsd_so_rcvbuf` raised: a flush arrives as one burst.
        let bytes: libc::c_int = 4 << 20;
        // SAFETY: a valid socket and an int option of the right size.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&rx),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const bytes).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let agent = Agent {
            addr: rx.local_addr().unwrap(),
            lines: Arc::default(),
            datagrams: Arc::default(),
            bytes: Arc::default(),
        };
        let (lines, datagrams) = (agent.lines.clone(), agent.datagrams.clone());
        let bytes = agent.bytes.clone();
        std::thread::Builder::new()
            .name("bench-agent".into())
            .spawn(move || {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = rx.recv(&mut buf) {
                    // Non-empty lines, as the agent reads them: whether or not a datagram
                    // ends in a newline (the peer's do), or in padding (ours, segmented).
                    lines.fetch_add(nonempty_lines(&buf[..n]), Ordering::Relaxed);
                    datagrams.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
            .unwrap();
        agent
    }

    fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    /// Waits until `target` lines arrived (or a second passed: a lost datagram).
    fn wait_lines(&self, target: u64) {
        let start = Instant::now();
        while self.lines() < target && start.elapsed() < Duration::from_secs(10) {
            std::thread::yield_now();
        }
    }
}

/// CPU time so far of this process's threads whose name starts with `prefix` (Linux
/// `schedstat`; thread names are cut to 15 bytes).
fn thread_cpu(prefix: &str) -> Duration {
    let mut ns = 0u64;
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(prefix)
            && let Ok(s) = std::fs::read_to_string(e.path().join("schedstat"))
        {
            ns += s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    Duration::from_nanos(ns)
}

/// Lines with something in them, as the agent counts them (it skips empty ones): a line ends
/// where a byte other than `\n` is followed by `\n` or by the end. Counted 64 pairs at a
/// time over fixed-size windows, which the compiler vectorizes, so the receiver keeps up.
fn nonempty_lines(b: &[u8]) -> u64 {
    let Some(&last) = b.last() else { return 0 };
    let mut ends = 0u64;
    let mut i = 0;
    while i + 65 <= b.len() {
        let w: &[u8; 65] = b[i..i + 65].try_into().unwrap();
        let mut n = 0u8;
        for k in 0..64 {
            n += u8::from(w[k] != b'\n') & u8::from(w[k + 1] == b'\n');
        }
        ends += u64::from(n);
        i += 64;
    }
    for k in i..b.len() - 1 {
        ends += u64::from(b[k] != b'\n' && b[k + 1] == b'\n');
    }
    ends + u64::from(last != b'\n')
}

fn label_values(i: usize) -> (&'static str, String) {
    (["GET", "POST"][i % 2], format!("/api/v1/item{}", i / 10))
}

/// Ours: 10 gauge families of 1000 series each.
fn our_registry() -> Registry {
    let r = Registry::builder().without_self_metrics().build().unwrap();
    let fams: Vec<_> = (0..10)
        .map(|k| {
            r.register(
                Opts::gauge(&format!("requests_g{k}"), "G.")
                    .label_names(&["method", "path"])
                    .max_series(SERIES),
            )
            .unwrap()
        })
        .collect();
    for i in 0..SERIES {
        let (m, p) = label_values(i);
        fams[i % 10].with(&[m.to_owned(), p]).set(i as f64 * 1.5);
    }
    r
}

/// The peer, holding the same series; its forwarder flushes back to back.
fn peer(
    agent: &Agent,
) -> (
    metrics_exporter_dogstatsd::DogStatsDRecorder,
    Vec<metrics::Gauge>,
) {
    use metrics::Recorder;
    let recorder = metrics_exporter_dogstatsd::DogStatsDBuilder::default()
        .with_remote_address(agent.addr.to_string())
        .unwrap()
        .with_flush_interval(Duration::from_nanos(1))
        .with_telemetry(false)
        .build()
        .unwrap();
    let md = metrics::Metadata::new("bench", metrics::Level::INFO, None);
    let gauges = (0..SERIES)
        .map(|i| {
            let (m, p) = label_values(i);
            let key = metrics::Key::from_parts(
                format!("app.requests_g{}", i % 10),
                vec![
                    metrics::Label::new("method", m),
                    metrics::Label::new("path", p),
                ],
            );
            let g = recorder.register_gauge(&key, &md);
            g.set(i as f64 * 1.5);
            g
        })
        .collect();
    (recorder, gauges)
}

fn dogstatsd_flush(c: &mut Criterion) {
    let ours_agent = Agent::start();
    let registry = our_registry();
    let pipeline = Datadog::new()
        .namespace("app")
        .client_telemetry(false)
        .agent(&format!("udp://{}", ours_agent.addr))
        .unwrap()
        .dogstatsd_pipeline(&registry)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    let flush = |agent: &Agent| {
        let target = agent.lines() + SERIES as u64;
        pipeline.flush(Duration::from_secs(5)).unwrap();
        agent.wait_lines(target);
    };
    // Warm, then count datagrams per flush.
    flush(&ours_agent);
    let (l0, d0) = (
        ours_agent.lines(),
        ours_agent.datagrams.load(Ordering::Relaxed),
    );
    let b0 = ours_agent.bytes.load(Ordering::Relaxed);
    for _ in 0..20 {
        flush(&ours_agent);
    }
    let ours_lines = (ours_agent.lines() - l0) as f64 / 20.0;
    let ours_dgrams = (ours_agent.datagrams.load(Ordering::Relaxed) - d0) as f64 / 20.0;
    let ours_bytes = (ours_agent.bytes.load(Ordering::Relaxed) - b0) as f64 / 20.0;

    // Ours first, with no peer running: the peer's forwarder flushes back to back and would
    // take a core from whatever runs beside it.
    // Wall time: until the receiver has every line (shared machines make this noisy).
    // CPU time: of the exporter's own thread, which does the encoding, packing and sending.
    const OURS: &str = "push-datadog_do";
    const PEER: &str = "metrics-exporte";
    let mut g = c.benchmark_group("dogstatsd_flush");
    g.bench_function(BenchmarkId::new("wall/aiplatform", SERIES), |b| {
        b.iter(|| flush(&ours_agent))
    });
    g.bench_function(BenchmarkId::new("cpu/aiplatform", SERIES), |b| {
        b.iter_custom(|iters| {
            let c0 = thread_cpu(OURS);
            for _ in 0..iters {
                flush(&ours_agent);
            }
            thread_cpu(OURS) - c0
        })
    });
    drop(pipeline);

    let peer_agent = Agent::start();
    let (recorder, gauges) = peer(&peer_agent);
    peer_agent.wait_lines(3 * SERIES as u64);
    let (l0, d0) = (
        peer_agent.lines(),
        peer_agent.datagrams.load(Ordering::Relaxed),
    );
    let b0 = peer_agent.bytes.load(Ordering::Relaxed);
    peer_agent.wait_lines(l0 + 20 * SERIES as u64);
    let peer_bytes = peer_agent.bytes.load(Ordering::Relaxed) - b0;
    let peer_lines = peer_agent.lines() - l0;
    let peer_dgrams = peer_agent.datagrams.load(Ordering::Relaxed) - d0;
    let peer_flushes = peer_lines as f64 / SERIES as f64;
    println!(
        "dogstatsd flush of {SERIES} series: aiplatform {ours_lines:.0} lines, {ours_bytes:.0} bytes in {ours_dgrams:.1} datagrams per flush; metrics-exporter-dogstatsd {:.0} bytes in {:.1} datagrams per flush ({peer_flushes:.1} flushes seen)",
        peer_bytes as f64 / peer_flushes,
        peer_dgrams as f64 / peer_flushes
    );
    g.bench_function(
        BenchmarkId::new("wall/metrics_exporter_dogstatsd", SERIES),
        |b| {
            b.iter_custom(|iters| {
                let start_lines = peer_agent.lines();
                let t = Instant::now();
                peer_agent.wait_lines(start_lines + iters * SERIES as u64);
                t.elapsed()
            })
        },
    );
    g.bench_function(
        BenchmarkId::new("cpu/metrics_exporter_dogstatsd", SERIES),
        |b| {
            b.iter_custom(|iters| {
                let start_lines = peer_agent.lines();
                let c0 = thread_cpu(PEER);
                peer_agent.wait_lines(start_lines + iters * SERIES as u64);
                let flushes = (peer_agent.lines() - start_lines) as f64 / SERIES as f64;
                (thread_cpu(PEER) - c0).mul_f64(iters as f64 / flushes.max(1.0))
            })
        },
    );
    // The forwarder thread lives on; keep the recorder's series to the end of the run.
    std::mem::forget((recorder, gauges));
    g.finish();
}

fn percentiles(label: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let p = |q: f64| ns[((ns.len() as f64 - 1.0) * q) as usize];
    println!(
        "{label}: n={} p50={}ns p99={}ns p99.9={}ns",
        ns.len(),
        p(0.50),
        p(0.99),
        p(0.999)
    );
}

/// p50/p99 of 64 increments of a counter, `samples` times.
fn counter_times(registry: &Registry, samples: usize) -> Vec<u64> {
    let c = registry.counter("bench_ops_total", "Ops.").unwrap();
    (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..64 {
                c.inc();
            }
            t.elapsed().as_nanos() as u64
        })
        .collect()
}

/// A layer writing to `outputs`, as a dispatcher to log through.
fn log_dispatch(outputs: Vec<Output>) -> tracing::Dispatch {
    let mut b = aiplatform_logging::builder().service_name("bench");
    for o in outputs {
        b = b.output(o);
    }
    let (layer, guard) = b.build().unwrap();
    // Unreachable backends would hold a dropped guard to its deadline; the run ends first.
    std::mem::forget(guard);
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// Times `samples` log events through `d`, appending to `ns`.
fn log_times(d: &tracing::Dispatch, samples: usize, ns: &mut Vec<u64>) {
    tracing::dispatcher::with_default(d, || {
        for i in 0..samples as u64 {
            let t = Instant::now();
            tracing::info!(
                i,
                route = "/api/v1/predict",
                status = 200u64,
                "request done"
            );
            ns.push(t.elapsed().as_nanos() as u64);
        }
    })
}

/// p50/p99 of one log event per set of outputs, timed in alternating rounds of `per_round`
/// events (on a shared machine the load drifts between two back-to-back runs; alternating
/// rounds see the same load), each set first given `warm` untimed events.
fn log_percentiles(cases: Vec<(&str, Vec<Output>, usize)>, rounds: usize, per_round: usize) {
    let cases: Vec<_> = cases
        .into_iter()
        .map(|(label, outputs, warm)| {
            let d = log_dispatch(outputs);
            log_times(&d, warm, &mut Vec::new());
            (label, d, Vec::with_capacity(rounds * per_round))
        })
        .collect();
    let mut cases = cases;
    for _ in 0..rounds {
        for (_, d, ns) in &mut cases {
            log_times(d, per_round, ns);
        }
    }
    for (label, _, ns) in cases {
        percentiles(label, ns);
    }
}

fn unreachable_backends(_: &mut Criterion) {
    const N: usize = 200_000;
    // A registry of 10k series, so a flush has real work to do while the thread records.
    let base = our_registry;
    let sink = || Output::writer(std::io::sink(), Format::Json).queue_capacity(1 << 18);

    let r = base();
    percentiles("counter inc x64, no backend", counter_times(&r, N));
    let r = base();
    let p = Datadog::new()
        .agent(&format!("udp://127.0.0.1:{}", closed_port()))
        .unwrap()
        .dogstatsd_pipeline(&r)
        .unwrap()
        .interval(Duration::from_millis(10))
        .build()
        .unwrap();
    percentiles(
        "counter inc x64, DogStatsD agent unreachable",
        counter_times(&r, N),
    );
    drop(p);
    let r = base();
    let dd = Datadog::new()
        .api_key(aiplatform_push::SecretSource::value("bench"))
        .metrics_url(format!("http://127.0.0.1:{}", closed_port()))
        .logs_url(format!("http://127.0.0.1:{}", closed_port()));
    let p = dd
        .series_pipeline(&r)
        .unwrap()
        .interval(Duration::from_millis(10))
        .build()
        .unwrap();
    percentiles(
        "counter inc x64, agentless intake unreachable",
        counter_times(&r, N),
    );
    drop(p);

    let reachable = Datadog::new()
        .api_key(aiplatform_push::SecretSource::value("bench"))
        .logs_url(format!("http://127.0.0.1:{}", accepting_intake()));
    let unreachable = || dd.logs_output().unwrap();
    // Queues hold 64k events: 70k warm events fill the unreachable one; 50k timed events
    // (20 rounds of 2500) stay within a fresh one's room.
    log_percentiles(
        vec![
            ("log event, no backend", vec![sink()], 1000),
            (
                "log event, a second local output",
                vec![sink(), sink()],
                1000,
            ),
            (
                "log event, Datadog logs intake reachable",
                vec![sink(), reachable.logs_output().unwrap()],
                1000,
            ),
            (
                "log event, Datadog logs intake unreachable, queue filling",
                vec![sink(), unreachable()],
                0,
            ),
            (
                "log event, Datadog logs intake unreachable, queue full",
                vec![sink(), unreachable()],
                70_000,
            ),
        ],
        20,
        2500,
    );
}

criterion_group!(benches, unreachable_backends, dogstatsd_flush);
criterion_main!(benches);
