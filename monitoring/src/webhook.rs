//! A local HTTP endpoint that records what is POSTed to it: the receiving end of
//! Alertmanager's webhook and Slack notifications in the live tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The request path, e.g. `/alerts/api`.
    pub path: String,
    /// The body, parsed as JSON (`Value::Null` if it is not JSON).
    pub body: serde_json::Value,
}

/// The recorder; it stops accepting when the test process ends.
#[derive(Debug, Clone)]
pub struct Recorder {
    base: String,
    received: Arc<Mutex<Vec<Delivery>>>,
}

impl Recorder {
    /// Listens on a free port of 127.0.0.1 and answers every request `200 OK`.
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the webhook recorder");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    if let Ok(delivery) = read_request(stream) {
                        sink.lock().unwrap().push(delivery);
                    }
                });
            }
        });
        Recorder { base, received }
    }

    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Everything received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.received.lock().unwrap().clone()
    }

    /// The deliveries to `path`.
    pub fn deliveries_to(&self, path: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.path == path)
            .collect()
    }
}

/// Reads one HTTP/1.1 request (headers, then a `Content-Length` body), answers `200 OK` and
/// closes the connection.
fn read_request(stream: TcpStream) -> std::io::Result<Delivery> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut stream = stream;
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")?;
    Ok(Delivery {
        path,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_posted_json_by_path() {
        let recorder = Recorder::start();
        let response = crate::process::client()
            .post(format!("{}/alerts/api", recorder.base_url()))
            .json(&serde_json::json!({"status": "firing"}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let got = recorder.deliveries_to("/alerts/api");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body["status"], "firing");
    }
}
