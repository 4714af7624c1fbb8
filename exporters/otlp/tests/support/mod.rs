//! An OTLP receiver that captures the exact bytes of every request (HTTP/1.1 and HTTP/2 with
//! prior knowledge, so OTLP/HTTP and OTLP/gRPC), answers as each test says, and the
//! independent decoder the captured requests are read back with (Python's
//! `opentelemetry-proto`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiplatform_push::Compression;
use aiplatform_testkit::receiver;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    /// The body as received.
    pub raw: Vec<u8>,
    /// The export request message: unframed (gRPC) and decompressed.
    pub message: Vec<u8>,
    pub at: Instant,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the receiver answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// OTLP/HTTP success: 200 with an empty `Export*ServiceResponse`.
    pub fn ok() -> Reply {
        Reply::status(200).header("content-type", "application/x-protobuf")
    }

    /// OTLP/gRPC: 200, an empty response message, and `grpc-status` in the trailers.
    pub fn grpc(code: u32, message: &str) -> Reply {
        let mut r = Reply::status(200).header("content-type", "application/grpc");
        if code == 0 {
            r.body = vec![0, 0, 0, 0, 0];
        }
        r.trailers.push(("grpc-status".into(), code.to_string()));
        if !message.is_empty() {
            r.trailers.push(("grpc-message".into(), message.into()));
        }
        r
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// Decides the reply to a request, given how many requests came before it.
pub type Responder = Arc<dyn Fn(&Captured, usize) -> Reply + Send + Sync>;

/// The export request inside a body: gRPC's 5-byte prefix removed, decompressed per
/// `Content-Encoding` or `grpc-encoding`.
fn message_of(headers: &http::HeaderMap, raw: &[u8]) -> Vec<u8> {
    let grpc = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let (body, encoding) = if grpc {
        assert!(raw.len() >= 5, "gRPC body shorter than its prefix");
        let len = u32::from_be_bytes(raw[1..5].try_into().unwrap()) as usize;
        assert_eq!(len, raw.len() - 5, "gRPC length prefix");
        assert_eq!(
            raw[0] == 1,
            headers.contains_key("grpc-encoding"),
            "compressed flag and grpc-encoding agree"
        );
        (&raw[5..], headers.get("grpc-encoding"))
    } else {
        (raw, headers.get("content-encoding"))
    };
    let compression = match encoding.and_then(|v| v.to_str().ok()) {
        Some("gzip") => Compression::Gzip,
        None => Compression::None,
        Some(other) => panic!("unexpected encoding {other}"),
    };
    let mut out = Vec::new();
    compression.decompress(body, &mut out).unwrap();
    out
}

/// A receiver on 127.0.0.1 (the test kit's) that records every request.
pub struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Captured>>>,
    server: receiver::Receiver,
}

impl Receiver {
    /// Starts on a free port, answering OTLP/HTTP success to everything.
    pub fn start() -> Receiver {
        Receiver::start_with(None, Arc::new(|_: &Captured, _| Reply::ok()))
    }

    /// Starts on a free port, answering gRPC `OK` to everything.
    pub fn start_grpc() -> Receiver {
        Receiver::start_with(None, Arc::new(|_: &Captured, _| Reply::grpc(0, "")))
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
                let captured = Captured {
                    path: req.path,
                    version: req.version,
                    message: message_of(&req.headers, &req.body),
                    headers: req.headers,
                    raw: req.body,
                    at: Instant::now(),
                };
                let reply = {
                    let mut seen = log.lock().unwrap();
                    let r = responder(&captured, seen.len());
                    seen.push(captured);
                    r
                };
                receiver::Answer {
                    status: reply.status,
                    headers: reply.headers,
                    body: reply.body,
                    trailers: reply.trailers,
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

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

/// Decodes export requests of `kind` (`metrics`, `logs`, `traces`) with Python's
/// `opentelemetry-proto`, one JSON value per request (protobuf field names; 64-bit integers
/// are strings).
pub fn decode(kind: &str, messages: &[Vec<u8>]) -> Vec<serde_json::Value> {
    let dir = aiplatform_testkit::TempDir::new("otlp-decode");
    let files: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| dir.write(format!("{i}.bin"), m))
        .collect();
    // Found next to this file whichever crate's test includes it.
    let script = dir.write("decode.py", include_str!("decode.py"));
    let out = Command::new("python3")
        .arg(script)
        .arg(kind)
        .args(&files)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the decoder refused the request (is opentelemetry-proto installed? scripts/lib/deps.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The string attributes of a decoded `attributes` list, as pairs.
pub fn attributes(v: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    let value = kv["value"].as_object().unwrap();
                    let (_, inner) = value.iter().next().unwrap();
                    (kv["key"].as_str().unwrap().to_owned(), inner.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The string value of attribute `key`.
pub fn attribute<'a>(attrs: &'a [(String, serde_json::Value)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_str())
}
