//! A receiver that misbehaves on purpose, a line encoder, and log capture, for the delivery
//! tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aiplatform_metrics::{ExpositionFormat, Registry};
use aiplatform_push::{Collection, Compression, Encoder, Framing, PointValue, RecordWriter};
use aiplatform_testkit::receiver;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    /// The body, decompressed per `Content-Encoding`.
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
}

/// What the receiver answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn ok() -> Reply {
        Reply::status(204)
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<String>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// Decides the reply to a request, given every request seen so far (this one last).
pub type Responder = Arc<dyn Fn(&Captured, &[Captured]) -> Reply + Send + Sync>;

/// An HTTP receiver on 127.0.0.1 (the test kit's) that records every request and answers
/// per its responder.
pub struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Captured>>>,
    server: receiver::Receiver,
}

impl Receiver {
    /// Starts on a free port, answering 204 to everything.
    pub fn start() -> Receiver {
        Receiver::start_with(None, Arc::new(|_: &Captured, _: &[Captured]| Reply::ok()))
    }

    /// Starts on `port` (or a free one), answering per `responder`.
    pub fn start_with(port: Option<u16>, responder: Responder) -> Receiver {
        Receiver::start_sharing(port, responder, Arc::new(Mutex::new(Vec::new())))
    }

    /// Like `start_with`, appending to an existing request log (a restarted receiver).
    pub fn start_sharing(
        port: Option<u16>,
        responder: Responder,
        seen: Arc<Mutex<Vec<Captured>>>,
    ) -> Receiver {
        let log = seen.clone();
        let server = receiver::Receiver::start(
            port,
            Arc::new(move |req: receiver::Request| {
                let compression = match req
                    .headers
                    .get("content-encoding")
                    .and_then(|v| v.to_str().ok())
                {
                    Some("gzip") => Compression::Gzip,
                    Some("snappy") => Compression::Snappy,
                    _ => Compression::None,
                };
                let mut body = Vec::new();
                compression.decompress(&req.body, &mut body).unwrap();
                let captured = Captured {
                    method: req.method.to_string(),
                    path: req.path,
                    headers: req.headers,
                    body,
                    at: Instant::now(),
                };
                let reply = {
                    let mut seen = log.lock().unwrap();
                    seen.push(captured.clone());
                    responder(&captured, &seen)
                };
                receiver::Answer {
                    status: reply.status,
                    headers: reply.headers,
                    body: reply.body.into_bytes(),
                    trailers: Vec::new(),
                    delay: reply.delay,
                }
            }),
        );
        Receiver {
            addr: server.addr,
            seen,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.seen.lock().unwrap().clone()
    }

    pub fn log(&self) -> Arc<Mutex<Vec<Captured>>> {
        self.seen.clone()
    }

    /// Closes the listener and every connection.
    pub fn stop(self) {
        self.server.stop();
    }
}

/// Writes `collection <n>` then one `family{labels} value` line per point: records of one
/// series and one sample each (histograms: one record of count). Lines are joined with `\n`.
#[derive(Debug, Default)]
pub struct Lines {
    pub collections: u64,
}

impl Encoder for Lines {
    fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>) {
        self.collections += 1;
        write!(out.begin(), "collection {}", self.collections).unwrap();
        out.finish(0, 0);
        for family in collection.families() {
            if family.family().name().starts_with("aiplatform_push") {
                continue;
            }
            for p in family.points() {
                let v = match p.value {
                    PointValue::Counter(c) => c.as_f64(),
                    PointValue::Gauge(v) | PointValue::Unknown(v) => v,
                    PointValue::Histogram(h) => h.count as f64,
                    PointValue::Summary(s) => s.count as f64,
                };
                write!(
                    out.begin(),
                    "{}{{{}}} {v}",
                    family.family().name(),
                    p.labels.rendered()
                )
                .unwrap();
                out.finish(1, 1);
            }
        }
    }

    fn framing(&self) -> Arc<dyn Framing> {
        Arc::new(NewLines)
    }
}

struct NewLines;

impl Framing for NewLines {
    fn separator(&self) -> &[u8] {
        b"\n"
    }
}

/// The collection numbers seen, in order of arrival (each once per request).
pub fn collections_seen(requests: &[Captured]) -> Vec<u64> {
    requests
        .iter()
        .flat_map(|r| r.lines())
        .filter_map(|l| l.strip_prefix("collection ").and_then(|n| n.parse().ok()))
        .collect()
}

/// Series lines seen with a 2xx answer assumed (every request).
pub fn series_lines(requests: &[Captured]) -> Vec<String> {
    requests
        .iter()
        .flat_map(|r| r.lines())
        .filter(|l| !l.starts_with("collection "))
        .collect()
}

/// The value of one self-metric sample, by its text 0.0.4 series (`name{labels}`).
pub fn metric(registry: &Registry, series: &str) -> f64 {
    let text = String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap();
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// A registry without the registry's own self-metrics, with `n` counter series.
pub fn registry_with(n: usize) -> Registry {
    let r = Registry::builder().without_self_metrics().build().unwrap();
    let f = r
        .counter_family("work_total", "Work done.", &["shard"])
        .unwrap();
    for i in 0..n {
        f.with(&[format!("s{i:04}")]).inc_by(i as u64 + 1);
    }
    r
}

/// Every log line the pipelines of this test binary wrote.
pub fn logs() -> String {
    let buf = log_buffer();
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a global subscriber that records every event (debug and up) in memory.
pub fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let sink = Sink(log_buffer().clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// Counts how often each line occurs.
pub fn tally(lines: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in lines {
        *m.entry(l.clone()).or_insert(0) += 1;
    }
    m
}
