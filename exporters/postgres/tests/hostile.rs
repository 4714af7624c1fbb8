//! Hostile peers of the PostgreSQL exporter, on loopback: a server that accepts TCP and never
//! answers, and invented `/probe` targets that must not become series.

mod support;

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiplatform_testkit::Scrape;
use support::exporter;

/// Accepts connections and holds them open without a byte in answer, until dropped.
struct Silent {
    port: u16,
    _held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        std::thread::spawn(move || {
            // Bounded: the test makes a handful of connections.
            for stream in listener.incoming().take(64).flatten() {
                keep.lock().unwrap().push(stream);
            }
        });
        Silent { port, _held: held }
    }
}

/// `--pg.connect-timeout=2s` bounds the whole attempt (start-up and authentication), not only
/// the socket connect: the scrape answers `pg_up 0` in about 2 s, not after the 60 s
/// collection time limit.
#[test]
fn a_server_that_never_answers_is_given_up_after_the_connect_timeout() {
    let silent = Silent::start();
    let dsn = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        silent.port
    );
    let e = exporter(&[("DATA_SOURCE_NAME", &dsn)], &["--pg.connect-timeout=2s"]);
    for _ in 0..2 {
        let start = Instant::now();
        let r = e.get("/metrics");
        let took = start.elapsed();
        assert_eq!(r.status, 200, "{}", r.body);
        let s = Scrape::parse(r.body);
        eprintln!("scrape against a silent server: {took:?}");
        assert_eq!(s.get("pg_up", &[]), Some(0.0));
        assert!(took < Duration::from_secs(15), "scrape took {took:?}");
    }
}
