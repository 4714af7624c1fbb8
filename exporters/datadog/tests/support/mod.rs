//! A stand-in for Datadog's HTTP intakes (on the test kit's receiver) that keeps every request as sent (raw and
//! decompressed) and answers per a script, and Debian's VictoriaMetrics as a real v1 receiver.

#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiplatform_testkit::free_port;
use aiplatform_testkit::{Process, TempDir, host, receiver};

/// One request as the intake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    /// The body as sent.
    pub raw: Vec<u8>,
    /// The body decompressed per `Content-Encoding` (gzip, deflate = zlib, zstd1).
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// `(status, extra headers, body)` for a request, given the requests so far (this one last).
pub type Script =
    Arc<dyn Fn(&Request, usize) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync>;

/// An HTTP server on 127.0.0.1 recording every request.
pub struct Intake {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
    _server: receiver::Receiver,
}

fn decompress(encoding: Option<&str>, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        None | Some("identity") => out.extend_from_slice(raw),
        Some("gzip") => {
            flate2::read::GzDecoder::new(raw)
                .read_to_end(&mut out)
                .expect("valid gzip");
        }
        Some("deflate") => {
            // Datadog's `deflate` is the zlib format.
            flate2::read::ZlibDecoder::new(raw)
                .read_to_end(&mut out)
                .expect("valid zlib");
        }
        Some("zstd1") | Some("zstd") => out = zstd::decode_all(raw).expect("valid zstd"),
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    out
}

impl Intake {
    /// Answers 202 `{"errors":[]}` to everything, as Datadog does.
    pub fn accepting() -> Intake {
        Intake::scripted(Arc::new(|_, _| {
            (202, Vec::new(), r#"{"errors":[]}"#.into())
        }))
    }

    pub fn scripted(script: Script) -> Intake {
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let log = seen.clone();
        let server = receiver::Receiver::start(
            None,
            Arc::new(move |req: receiver::Request| {
                let enc = req
                    .headers
                    .get("content-encoding")
                    .and_then(|v| v.to_str().ok());
                let request = Request {
                    path: req.path,
                    query: req.query,
                    body: decompress(enc, &req.body),
                    headers: req.headers.clone(),
                    raw: req.body,
                };
                let (status, headers, body) = {
                    let mut seen = log.lock().unwrap();
                    seen.push(request.clone());
                    script(&request, seen.len())
                };
                receiver::Answer {
                    status,
                    headers: headers
                        .into_iter()
                        .map(|(n, v)| (n.to_owned(), v))
                        .collect(),
                    body: body.into_bytes(),
                    trailers: Vec::new(),
                    delay: Duration::ZERO,
                }
            }),
        );
        Intake {
            addr: server.addr,
            seen,
            _server: server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

/// Debian's VictoriaMetrics, killed and its data removed on drop.
pub struct Victoria {
    pub port: u16,
    _process: Process,
    _dir: TempDir,
}

impl Victoria {
    pub fn start() -> Victoria {
        let dir = TempDir::new("dd-vm");
        let port = free_port();
        let mut cmd = Command::new(host::command("victoria-metrics", "victoria-metrics"));
        cmd.arg(format!("-storageDataPath={}", dir.path().display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .arg("-loggerLevel=ERROR");
        let vm = Victoria {
            port,
            _process: Process::listening("victoria-metrics", cmd, port),
            _dir: dir,
        };
        aiplatform_testkit::eventually(Duration::from_secs(60), "victoria-metrics ready", || {
            reqwest::blocking::get(vm.url("/health")).is_ok_and(|r| r.status().is_success())
        });
        vm
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `labels -> value` of every series an instant query returns.
    pub fn query(&self, promql: &str) -> std::collections::BTreeMap<String, f64> {
        let resp: serde_json::Value = reqwest::blocking::Client::new()
            .get(self.url("/api/v1/query"))
            .query(&[("query", promql)])
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(resp["status"], "success", "{resp}");
        resp["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let m = s["metric"].as_object().unwrap();
                let mut labels: Vec<String> = m
                    .iter()
                    .filter(|(k, _)| *k != "__name__")
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                    .collect();
                labels.sort();
                let key = format!(
                    "{}{{{}}}",
                    m["__name__"].as_str().unwrap(),
                    labels.join(",")
                );
                (key, s["value"][1].as_str().unwrap().parse().unwrap())
            })
            .collect()
    }
}
