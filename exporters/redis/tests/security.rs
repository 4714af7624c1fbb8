//! The configured password goes only where it was configured for: not to a `/scrape` target
//! an HTTP client names, not into logs, labels, errors or `--help`.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// A listener on a free port that records every byte it receives and answers errors.
struct Rogue {
    port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<u32>>,
}

impl Rogue {
    fn start() -> Rogue {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (s, c) = (seen.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                *c.lock().unwrap() += 1;
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        s.lock().unwrap().extend_from_slice(&buf[..n]);
                        let _ = stream.write_all(b"-ERR rogue\r\n");
                    }
                });
            }
        });
        Rogue {
            port,
            seen,
            connections,
        }
    }

    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    fn connections(&self) -> u32 {
        *self.connections.lock().unwrap()
    }
}

#[test]
fn scrape_endpoint_is_off_by_default() {
    let rogue = Rogue::start();
    let master = RedisServer::master();
    let addr = format!("-redis.addr={}", master.url());
    let e = exporter(&[&addr], &[("REDIS_PASSWORD", MASTER_PASSWORD)]);
    let r = e.get(&format!("/scrape?target=127.0.0.1:{}", rogue.port));
    assert_eq!(r.status, 404);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rogue.connections(), 0);
}

#[test]
fn unknown_targets_are_refused_and_allowed_ones_get_no_password() {
    let rogue = Rogue::start();
    let master = RedisServer::master();
    let other = RedisServer::start("other", &[], Some("other-Secret-55"));
    let dir = TempDir::new("pwfile");
    let pwfile = dir.write(
        "passwords.json",
        format!(r#"{{"{}": "other-Secret-55"}}"#, other.url()),
    );
    let addr = format!("-redis.addr={}", master.url());
    let pwarg = format!("-redis.password-file={}", pwfile.display());
    let allow = format!("-scrape-allowed-targets=127.0.0.1:{}", rogue.port);

    // Not allowed: refused before any connection.
    let e = exporter(
        &[&addr, "-enable-scrape-endpoint", &pwarg],
        &[("REDIS_PASSWORD", MASTER_PASSWORD)],
    );
    let r = e.get(&format!("/scrape?target=127.0.0.1:{}", rogue.port));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(e.get("/scrape").status, 400);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rogue.connections(), 0);
    let m = e.scrape();
    assert_eq!(
        m.value("redis_target_scrape_request_errors_total", &[]),
        2.0
    );

    // The password-file target gets its own password; the configured one is the main's.
    let r = e.get(&format!("/scrape?target={}", other.addr()));
    assert_eq!(r.status, 200);
    assert_eq!(Scrape::parse(r.body).value("redis_up", &[]), 1.0);
    let r = e.get(&format!("/scrape?target={}", master.url()));
    let m = Scrape::parse(r.body);
    assert_eq!(m.value("redis_up", &[]), 1.0);
    assert!(
        m.has("redis_exporter_build_info"),
        "as redis_exporter's per-target registry has it"
    );
    assert!(
        !m.has("process_resident_memory_bytes"),
        "no exporter self-metrics on /scrape"
    );

    // Allowed: scraped, with no password at all, even when the URL carries credentials.
    let e = exporter(
        &[&addr, "-enable-scrape-endpoint", &pwarg, &allow],
        &[("REDIS_PASSWORD", MASTER_PASSWORD)],
    );
    for target in [
        format!("127.0.0.1:{}", rogue.port),
        format!("redis://admin:{MASTER_PASSWORD}@127.0.0.1:{}", rogue.port),
    ] {
        let r = e.get(&format!(
            "/scrape?target={}",
            target.replace('@', "%40").replace(':', "%3A")
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(Scrape::parse(r.body).value("redis_up", &[]), 0.0);
    }
    assert!(rogue.connections() >= 2);
    let seen = rogue.seen();
    assert!(
        seen.contains("SETNAME") || seen.contains("INFO"),
        "rogue saw: {seen:?}"
    );
    assert!(
        !seen.contains(MASTER_PASSWORD) && !seen.contains("other-Secret-55"),
        "password sent to rogue: {seen:?}"
    );
    assert!(!seen.contains("AUTH"), "rogue got an AUTH: {seen:?}");
}

#[test]
fn passwords_stay_out_of_logs_labels_and_errors() {
    let master = RedisServer::master();
    let down_port = free_port();
    // Debug logging, a password that fails, a host that is down, config metrics on.
    let cases: Vec<(String, &str)> = vec![
        (
            format!("-redis.addr={}", master.url()),
            "wrong-Secret-Attempt-1",
        ),
        (
            format!("-redis.addr=redis://127.0.0.1:{down_port}"),
            "unused-Secret-Attempt-2",
        ),
        (
            format!("-redis.addr=redis://:inline-Secret-3@127.0.0.1:{down_port}"),
            "",
        ),
    ];
    for (addr, pw) in cases {
        let env = [("REDIS_PASSWORD", pw)];
        for format in ["-log-format=txt", "-log-format=json"] {
            let e = exporter(&[&addr, "-debug", format, "-include-config-metrics"], &env);
            let body = e.get("/metrics").body;
            let log = e.log();
            for secret in [pw, "inline-Secret-3", MASTER_PASSWORD] {
                if secret.is_empty() {
                    continue;
                }
                assert!(!body.contains(secret), "{secret} in /metrics:\n{body}");
                assert!(!log.contains(secret), "{secret} in log:\n{log}");
            }
            assert!(Scrape::parse(body).value("redis_up", &[]) == 0.0);
        }
    }
    // A working scrape with every config key exported: requirepass/masterauth never are.
    let e = exporter(
        &[
            &format!("-redis.addr={}", master.url()),
            "-include-config-metrics",
            "-redact-config-metrics=false",
            "-debug",
        ],
        &[("REDIS_PASSWORD", MASTER_PASSWORD)],
    );
    let body = e.get("/metrics").body;
    let m = Scrape::parse(body.as_str());
    assert_eq!(m.value("redis_up", &[]), 1.0);
    assert!(m.has("redis_config_key_value"));
    assert!(!body.contains(MASTER_PASSWORD) && !body.contains(ACL_PASSWORD));
    assert!(!e.log().contains(MASTER_PASSWORD));
}

#[test]
fn help_never_shows_a_password() {
    let out = Command::new(EXPORTER)
        .arg("--help")
        .env("REDIS_PASSWORD", "help-Secret-9")
        .env("REDIS_ADDR", "redis://:help-Secret-10@h:1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("--redis.password") && text.contains("REDIS_PASSWORD"),
        "{text}"
    );
    assert!(!text.contains("help-Secret-9"), "{text}");
    assert!(!text.contains("help-Secret-10"), "{text}");
}
