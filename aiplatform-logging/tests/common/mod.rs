//! What the logging tests share: a Logstash-like TCP receiver on 127.0.0.1 that can be
//! stopped and restarted, and the self-metrics read back.

// Each test file uses part of this module.
#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aiplatform_metrics::Registry;
use aiplatform_testkit::SnapshotLookup;

pub use aiplatform_testkit::Buf;

/// The value of a self-metric series; 0 for a series not created yet (a counter that never
/// moved).
pub fn metric(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    registry.collect().value(name, labels).unwrap_or(0.0)
}

/// One complete line received, with the number of the connection it came on.
#[derive(Debug, Clone)]
pub struct Received {
    pub conn: usize,
    pub line: String,
}

/// A json_lines receiver: accepts connections, reads `\n`-terminated lines.
pub struct Receiver {
    pub port: u16,
    pub lines: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    conns: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on 127.0.0.1:`port` (0 for any).
    pub fn start(port: u16) -> Receiver {
        Receiver::start_with(
            port,
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicUsize::new(0)),
        )
    }

    fn start_with(
        port: u16,
        lines: Arc<Mutex<Vec<Received>>>,
        conns: Arc<AtomicUsize>,
    ) -> Receiver {
        let listener = bind(port);
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (l2, s2, c2) = (lines.clone(), stop.clone(), conns.clone());
        let thread = std::thread::spawn(move || {
            let mut readers = Vec::new();
            while !s2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        sock.set_nonblocking(false).unwrap();
                        let id = c2.fetch_add(1, Ordering::Relaxed) + 1;
                        let (l3, s3) = (l2.clone(), s2.clone());
                        readers.push(std::thread::spawn(move || {
                            read_lines_tcp(sock, id, &l3, &s3)
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for r in readers {
                let _ = r.join();
            }
        });
        Receiver {
            port,
            lines,
            stop,
            conns,
            thread: Some(thread),
        }
    }

    /// Closes the listener and every connection abruptly (unread data is discarded).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub fn restart(&mut self) {
        self.stop();
        *self = Receiver::start_with(self.port, self.lines.clone(), self.conns.clone());
    }

    pub fn count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    pub fn received(&self) -> Vec<Received> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the received lines, up to `timeout`.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[Received]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if pred(&self.lines.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        pred(&self.lines.lock().unwrap())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind(port: u16) -> TcpListener {
    // The port may linger briefly after a stop; retry.
    for _ in 0..200 {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("cannot bind 127.0.0.1:{port}");
}

/// Reads complete lines until stopped; a partial last line is discarded, as Logstash would
/// turn it into a parse failure.
pub fn read_lines(
    sock: impl Read + Send,
    id: usize,
    lines: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
) {
    let mut r = BufReader::new(sock);
    let mut line = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match r.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                if line.ends_with(b"\n") {
                    line.pop();
                    let text = String::from_utf8(std::mem::take(&mut line))
                        .expect("a received line is UTF-8");
                    lines.lock().unwrap().push(Received {
                        conn: id,
                        line: text,
                    });
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}

/// Reads lines from a plain socket with a read timeout so the stop flag is honoured.
pub fn read_lines_tcp(sock: TcpStream, id: usize, lines: &Mutex<Vec<Received>>, stop: &AtomicBool) {
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    read_lines(sock, id, lines, stop);
}
