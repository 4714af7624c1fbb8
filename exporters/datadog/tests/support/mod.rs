//! A stand-in for Datadog's HTTP intakes that keeps every request as sent (raw and
//! decompressed) and answers per a script, and Debian's VictoriaMetrics as a real v1 receiver.

#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

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
    runtime: Option<tokio::runtime::Runtime>,
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let log = seen.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        let script = script.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let raw = body.collect().await.unwrap().to_bytes().to_vec();
                            let enc = parts
                                .headers
                                .get("content-encoding")
                                .and_then(|v| v.to_str().ok());
                            let request = Request {
                                path: parts.uri.path().to_owned(),
                                query: parts.uri.query().map(str::to_owned),
                                body: decompress(enc, &raw),
                                headers: parts.headers.clone(),
                                raw,
                            };
                            let (status, headers, body) = {
                                let mut seen = log.lock().unwrap();
                                seen.push(request.clone());
                                script(&request, seen.len())
                            };
                            let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            for (n, v) in headers {
                                resp.headers_mut()
                                    .insert(n, http::HeaderValue::from_str(&v).unwrap());
                            }
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Intake {
            addr,
            seen,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Intake {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's VictoriaMetrics, killed and its data removed on drop.
pub struct Victoria {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Drop for Victoria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Victoria {
    pub fn start() -> Victoria {
        let bin = PathBuf::from("/usr/bin/victoria-metrics");
        assert!(
            bin.exists(),
            "victoria-metrics is not installed: this test needs Debian's victoria-metrics (scripts/test.sh installs it through scripts/lib/deps.sh)"
        );
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("dd-vm-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(bin)
            .arg(format!("-storageDataPath={}", dir.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .arg("-loggerLevel=ERROR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut vm = Victoria { port, child, dir };
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest::blocking::get(vm.url("/health"))
                && r.status().is_success()
            {
                return vm;
            }
            if let Ok(Some(status)) = vm.child.try_wait() {
                panic!("victoria-metrics exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "victoria-metrics not ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
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

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
