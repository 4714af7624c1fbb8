//! Resident memory per series and encode time as the number of writer threads grows, for
//! aiplatform-metrics beside `prometheus` and `prometheus-client`, in one run.
//!
//! One family with one label and `--series` series (10 000 by default). Each of T threads
//! writes every series `--writes` times (1 by default: every thread touches every series once,
//! as the workers of a thread-per-core server eventually do), starting at a different offset
//! so that the threads create the series between them. With `--pattern burst` a thread makes
//! its writes to a series in a row before moving to the next (every thread keeps writing every
//! series: the worst case for per-thread cells); with `--pattern sweep` (the default) it makes
//! `--writes` passes over all the series, one write each. The figure is the
//! growth of the process' resident set (`VmRSS`) from just before the first write to just after
//! the last, divided by the series count; every case runs in a process of its own so that no
//! allocator state carries over. Then the family is encoded to text a number of times on the
//! main thread and the median time is reported.
//!
//! ```sh
//! cargo run --release -p aiplatform-benches --example series_memory
//! cargo run --release -p aiplatform-benches --example series_memory -- --writes 32 --pattern burst
//! ```
//!
//! The aiplatform rows are run a second time with `AIPLATFORM_METRICS_MAX_THREAD_CELLS=128`,
//! the per-series thread-cell limit of a 32-core host, to model one on a small machine.

use std::hint::black_box;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use aiplatform_benches::OBS;

const BUCKETS: [f64; 11] = aiplatform_metrics::DEFAULT_BUCKETS;
const LIMIT_ENV: &str = "AIPLATFORM_METRICS_MAX_THREAD_CELLS";
const ENCODE_RUNS: usize = 15;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    Ours,
    Prometheus,
    PrometheusClient,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Counter,
    Histogram,
}

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::Ours => "ours",
            Lib::Prometheus => "prometheus",
            Lib::PrometheusClient => "prometheus-client",
        }
    }

    fn parse(s: &str) -> Lib {
        match s {
            "ours" => Lib::Ours,
            "prometheus" => Lib::Prometheus,
            "prometheus-client" => Lib::PrometheusClient,
            other => panic!("unknown library {other:?}"),
        }
    }
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "counter" => Kind::Counter,
            "histogram" => Kind::Histogram,
            other => panic!("unknown kind {other:?}"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pattern {
    /// `writes` passes over all the series, one write each.
    Sweep,
    /// `writes` writes to a series in a row, then the next series.
    Burst,
}

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Pattern::Sweep => "sweep",
            Pattern::Burst => "burst",
        }
    }

    fn parse(s: &str) -> Pattern {
        match s {
            "sweep" => Pattern::Sweep,
            "burst" => Pattern::Burst,
            other => panic!("unknown pattern {other:?} (sweep or burst)"),
        }
    }
}

struct Args {
    series: usize,
    writes: u64,
    pattern: Pattern,
    threads: Vec<usize>,
    limits: Vec<Option<u32>>,
    /// Set in a child process: the one case to run.
    case: Option<(Lib, Kind)>,
}

fn parse_args() -> Args {
    let mut args = Args {
        series: 10_000,
        writes: 1,
        pattern: Pattern::Sweep,
        threads: vec![1, 4, 16, 64],
        limits: vec![None, Some(128)],
        case: None,
    };
    let mut it = std::env::args().skip(1);
    let mut lib = None;
    let mut kind = None;
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--series" => args.series = value().parse().expect("--series N"),
            "--writes" => args.writes = value().parse().expect("--writes N"),
            "--pattern" => args.pattern = Pattern::parse(&value()),
            "--threads" => {
                args.threads = value()
                    .split(',')
                    .map(|t| t.parse().expect("--threads 1,4,16"))
                    .collect()
            }
            "--limits" => {
                args.limits = value()
                    .split(',')
                    .map(|l| match l {
                        "auto" => None,
                        n => Some(n.parse().expect("--limits auto,128")),
                    })
                    .collect()
            }
            "--lib" => lib = Some(Lib::parse(&value())),
            "--kind" => kind = Some(Kind::parse(&value())),
            "--bench" => {} // passed by `cargo bench`-style runners; nothing to do
            other => panic!("unknown argument {other:?}"),
        }
    }
    if let (Some(lib), Some(kind)) = (lib, kind) {
        args.case = Some((lib, kind));
    }
    args
}

fn main() {
    let args = parse_args();
    match args.case {
        Some((lib, kind)) => {
            let threads = args.threads[0];
            let r = run_case(lib, kind, threads, args.series, args.writes, args.pattern);
            println!(
                "RESULT {} {} {}",
                r.rss_growth,
                r.encode.as_nanos(),
                r.bytes
            );
        }
        None => drive(&args),
    }
}

/// The parent: runs every case in a child process and prints the tables.
fn drive(args: &Args) {
    let exe = std::env::current_exe().expect("own path");
    let how = match args.pattern {
        Pattern::Sweep => format!("in {} pass(es) over all the series", args.writes),
        Pattern::Burst => "in a row".to_owned(),
    };
    println!(
        "# {} series, one label; each of T threads writes every series {} time(s) {how}",
        args.series, args.writes
    );
    println!(
        "# host: {} CPUs; RSS growth per series (VmRSS delta / series); encode: median of {ENCODE_RUNS} text encodes",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for kind in [Kind::Counter, Kind::Histogram] {
        println!("\n## {}\n", kind.name());
        let mut header = String::from("| T |");
        let mut rule = String::from("|---:|");
        for limit in &args.limits {
            header += &format!(" ours ({}) | encode |", limit_name(*limit));
            rule += "---:|---:|";
        }
        header += " prometheus | encode | prometheus-client | encode |";
        rule += "---:|---:|---:|---:|";
        println!("{header}\n{rule}");
        for &t in &args.threads {
            let mut row = format!("| {t} |");
            for &limit in &args.limits {
                let r = child(&exe, Lib::Ours, kind, t, args, limit);
                row += &format!(" {} | {} |", bytes(r.0), millis(r.1));
            }
            for lib in [Lib::Prometheus, Lib::PrometheusClient] {
                let r = child(&exe, lib, kind, t, args, None);
                row += &format!(" {} | {} |", bytes(r.0), millis(r.1));
            }
            println!("{row}");
        }
    }
}

fn limit_name(limit: Option<u32>) -> String {
    match limit {
        None => "auto limit".into(),
        Some(n) => format!("limit {n}"),
    }
}

fn bytes(per_series: f64) -> String {
    if per_series >= 1024.0 {
        format!("{:.2} KiB", per_series / 1024.0)
    } else {
        format!("{per_series:.0} B")
    }
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn child(
    exe: &std::path::Path,
    lib: Lib,
    kind: Kind,
    threads: usize,
    args: &Args,
    limit: Option<u32>,
) -> (f64, Duration) {
    let mut cmd = Command::new(exe);
    cmd.args(["--lib", lib.name(), "--kind", kind.name()])
        .args(["--threads", &threads.to_string()])
        .args(["--series", &args.series.to_string()])
        .args(["--writes", &args.writes.to_string()])
        .args(["--pattern", args.pattern.name()]);
    match limit {
        Some(n) => cmd.env(LIMIT_ENV, n.to_string()),
        None => cmd.env_remove(LIMIT_ENV),
    };
    let out = cmd.output().expect("run a case");
    assert!(
        out.status.success(),
        "{lib:?} {kind:?} T={threads} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no result from {lib:?} {kind:?}: {text}"));
    let mut f = line.split(' ');
    let rss: f64 = f.next().unwrap().parse().unwrap();
    let encode: u64 = f.next().unwrap().parse().unwrap();
    (rss / args.series as f64, Duration::from_nanos(encode))
}

/// The process' resident set in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

struct CaseResult {
    rss_growth: usize,
    encode: Duration,
    /// Size of one encoding, to check every library wrote the same series.
    bytes: usize,
}

/// One library's family of `series` series, written by `threads` threads.
trait Subject: Sync {
    /// Thread `t`'s writes to series `i`.
    fn write(&self, i: usize, t: usize, writes: u64);
    /// Encodes the family into `buf`.
    fn encode(&self, buf: &mut Vec<u8>);
    /// The total count (counter sum or histogram observation count) over all series.
    fn total(&self) -> u64;
}

fn run_case(
    lib: Lib,
    kind: Kind,
    threads: usize,
    series: usize,
    writes: u64,
    pattern: Pattern,
) -> CaseResult {
    let values: Vec<String> = (0..series).map(|i| format!("series-{i:05}")).collect();
    let subject: Box<dyn Subject> = match (lib, kind) {
        (Lib::Ours, _) => Box::new(Ours::new(kind, values)),
        (Lib::Prometheus, _) => Box::new(Prom::new(kind, values)),
        (Lib::PrometheusClient, _) => Box::new(PromClient::new(kind, values)),
    };
    let subject = &*subject;
    let start = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    let mut growth = 0;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (start, done) = (&start, &done);
            s.spawn(move || {
                start.wait();
                let offset = t * series / threads;
                match pattern {
                    Pattern::Sweep => {
                        for _ in 0..writes {
                            for k in 0..series {
                                subject.write((offset + k) % series, t, 1);
                            }
                        }
                    }
                    Pattern::Burst => {
                        for k in 0..series {
                            subject.write((offset + k) % series, t, writes);
                        }
                    }
                }
                done.wait();
                // Stay alive until the parent has measured: an exiting thread frees memory
                // (its stack cache, allocator caches) that would blur the figure.
                done.wait();
            });
        }
        // Every thread exists (stack mapped, thread-locals of the runtime set up) before the
        // baseline; none has written yet.
        std::thread::sleep(Duration::from_millis(50));
        let before = rss();
        start.wait();
        done.wait();
        growth = rss().saturating_sub(before);
        done.wait();
    });
    let expected = threads as u64 * series as u64 * writes;
    assert_eq!(subject.total(), expected, "{lib:?} {kind:?} lost writes");

    let mut buf = Vec::new();
    subject.encode(&mut buf);
    let bytes = buf.len();
    let lines = std::str::from_utf8(&buf)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let per_series = match kind {
        Kind::Counter => 1,
        Kind::Histogram => BUCKETS.len() + 3,
    };
    // prometheus-client adds a `_created` line to nothing here, and OpenMetrics' `# EOF` is
    // a comment; every library writes the same sample lines.
    assert_eq!(lines, series * per_series, "{lib:?} {kind:?} series count");
    let mut times = Vec::with_capacity(ENCODE_RUNS);
    for run in 0..ENCODE_RUNS + 3 {
        buf.clear();
        let t0 = Instant::now();
        subject.encode(&mut buf);
        let took = t0.elapsed();
        black_box(buf.len());
        if run >= 3 {
            times.push(took);
        }
    }
    times.sort_unstable();
    CaseResult {
        rss_growth: growth,
        encode: times[times.len() / 2],
        bytes,
    }
}

// ---------------------------------------------------------------- aiplatform-metrics

struct Ours {
    registry: aiplatform_metrics::Registry,
    family: OursFamily,
    values: Vec<String>,
}

enum OursFamily {
    Counter(aiplatform_metrics::Family<aiplatform_metrics::Counter>),
    Histogram(aiplatform_metrics::Family<aiplatform_metrics::Histogram>),
}

impl Ours {
    fn new(kind: Kind, values: Vec<String>) -> Self {
        use aiplatform_metrics::{Buckets, Opts, Registry};
        let registry = Registry::new();
        let n = values.len();
        let family = match kind {
            Kind::Counter => OursFamily::Counter(
                registry
                    .register(
                        Opts::counter("requests_total", "Requests.")
                            .label_names(&["key"])
                            .max_series(n),
                    )
                    .unwrap(),
            ),
            Kind::Histogram => OursFamily::Histogram(
                registry
                    .register(
                        Opts::histogram("latency_seconds", "Latency.", Buckets::default())
                            .label_names(&["key"])
                            .max_series(n),
                    )
                    .unwrap(),
            ),
        };
        Ours {
            registry,
            family,
            values,
        }
    }
}

impl Subject for Ours {
    fn write(&self, i: usize, t: usize, writes: u64) {
        let key = [self.values[i].as_str()];
        match &self.family {
            OursFamily::Counter(f) => f.apply(&key, |c| {
                for _ in 0..writes {
                    c.inc();
                }
            }),
            OursFamily::Histogram(f) => f.apply(&key, |h| {
                for w in 0..writes {
                    h.observe(OBS[(i + t + w as usize) & 7]);
                }
            }),
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        self.registry
            .encode_into(aiplatform_metrics::ExpositionFormat::Text, buf);
    }

    fn total(&self) -> u64 {
        let snapshot = self.registry.collect();
        assert_eq!(snapshot.families().len(), 1, "no overflow family");
        let family = &snapshot.families()[0];
        family
            .samples()
            .map(|s| match s.value {
                aiplatform_metrics::Value::Counter(c) => c.as_u64().unwrap(),
                aiplatform_metrics::Value::Histogram(h) => h.count,
                other => panic!("{other:?}"),
            })
            .sum()
    }
}

// ---------------------------------------------------------------- prometheus (tikv)

struct Prom {
    registry: prometheus::Registry,
    family: PromFamily,
    values: Vec<String>,
}

enum PromFamily {
    Counter(prometheus::IntCounterVec),
    Histogram(prometheus::HistogramVec),
}

impl Prom {
    fn new(kind: Kind, values: Vec<String>) -> Self {
        let registry = prometheus::Registry::new();
        let family = match kind {
            Kind::Counter => {
                let f = prometheus::IntCounterVec::new(
                    prometheus::Opts::new("requests_total", "Requests."),
                    &["key"],
                )
                .unwrap();
                registry.register(Box::new(f.clone())).unwrap();
                PromFamily::Counter(f)
            }
            Kind::Histogram => {
                let f = prometheus::HistogramVec::new(
                    prometheus::HistogramOpts::new("latency_seconds", "Latency.")
                        .buckets(BUCKETS.to_vec()),
                    &["key"],
                )
                .unwrap();
                registry.register(Box::new(f.clone())).unwrap();
                PromFamily::Histogram(f)
            }
        };
        Prom {
            registry,
            family,
            values,
        }
    }
}

impl Subject for Prom {
    fn write(&self, i: usize, t: usize, writes: u64) {
        let key = [self.values[i].as_str()];
        match &self.family {
            PromFamily::Counter(f) => {
                let c = f.with_label_values(&key);
                for _ in 0..writes {
                    c.inc();
                }
            }
            PromFamily::Histogram(f) => {
                let h = f.with_label_values(&key);
                for w in 0..writes {
                    h.observe(OBS[(i + t + w as usize) & 7]);
                }
            }
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        let mut s = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&self.registry.gather(), &mut s)
            .unwrap();
        buf.extend_from_slice(s.as_bytes());
    }

    fn total(&self) -> u64 {
        self.registry.gather()[0]
            .get_metric()
            .iter()
            .map(
                |m| match (m.get_counter().as_ref(), m.get_histogram().as_ref()) {
                    (Some(c), _) => c.value() as u64,
                    (None, Some(h)) => h.sample_count(),
                    (None, None) => panic!("neither counter nor histogram"),
                },
            )
            .sum()
    }
}

// ---------------------------------------------------------------- prometheus-client

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct KeyLabel {
    key: String,
}

type PcCounter = prometheus_client::metrics::counter::Counter;
type PcHistogram = prometheus_client::metrics::histogram::Histogram;
type PcHistogramFamily =
    prometheus_client::metrics::family::Family<KeyLabel, PcHistogram, fn() -> PcHistogram>;

struct PromClient {
    registry: prometheus_client::registry::Registry,
    family: PcFamily,
    labels: Vec<KeyLabel>,
}

enum PcFamily {
    Counter(prometheus_client::metrics::family::Family<KeyLabel, PcCounter>),
    Histogram(PcHistogramFamily),
}

fn pc_histogram() -> PcHistogram {
    PcHistogram::new(BUCKETS)
}

impl PromClient {
    fn new(kind: Kind, values: Vec<String>) -> Self {
        let mut registry = prometheus_client::registry::Registry::default();
        let family = match kind {
            Kind::Counter => {
                let f =
                    prometheus_client::metrics::family::Family::<KeyLabel, PcCounter>::default();
                registry.register("requests", "Requests.", f.clone());
                PcFamily::Counter(f)
            }
            Kind::Histogram => {
                let f = PcHistogramFamily::new_with_constructor(pc_histogram as fn() -> _);
                registry.register("latency_seconds", "Latency.", f.clone());
                PcFamily::Histogram(f)
            }
        };
        let labels = values.into_iter().map(|key| KeyLabel { key }).collect();
        PromClient {
            registry,
            family,
            labels,
        }
    }
}

impl Subject for PromClient {
    fn write(&self, i: usize, t: usize, writes: u64) {
        let key = &self.labels[i];
        match &self.family {
            PcFamily::Counter(f) => {
                let c = f.get_or_create(key);
                for _ in 0..writes {
                    c.inc();
                }
            }
            PcFamily::Histogram(f) => {
                let h = f.get_or_create(key);
                for w in 0..writes {
                    h.observe(OBS[(i + t + w as usize) & 7]);
                }
            }
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &self.registry).unwrap();
        buf.extend_from_slice(s.as_bytes());
    }

    fn total(&self) -> u64 {
        // prometheus-client offers no read-back of histogram counts outside its test
        // utilities; count the observations from its own exposition.
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &self.registry).unwrap();
        s.lines()
            .filter(|l| l.starts_with("requests_total{") || l.starts_with("latency_seconds_count{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }
}
