//! `rediss://` against a real TLS-enabled redis-server: CA verification, a wrong CA,
//! `-skip-tls-verification`, and mutual TLS with a client certificate.

mod common;

use std::process::Command;

use common::*;

/// A CA with server and client certificates, as files.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn write_pki(tag: &str) -> Pki {
    let dir = TempDir::new(tag);
    aiplatform_testkit::Pki::new(&format!("{tag} test CA")).write_files(&dir, "exporter");
    Pki { dir }
}

fn tls_server(pki: &Pki, auth_clients: &str) -> (RedisServer, u16) {
    let tls_port = free_port();
    let server = RedisServer::start(
        "tls",
        &[
            format!("tls-port {tls_port}"),
            format!("tls-cert-file {}", pki.path("server.pem")),
            format!("tls-key-file {}", pki.path("server.key")),
            format!("tls-ca-cert-file {}", pki.path("ca.pem")),
            format!("tls-auth-clients {auth_clients}"),
        ],
        None,
    );
    (server, tls_port)
}

fn scrape(args: &[&str]) -> Scrape {
    exporter(args, &[]).scrape()
}

#[test]
fn verifies_the_server_with_the_ca() {
    let pki = write_pki("pki");
    let other = write_pki("other-pki");
    let (_server, port) = tls_server(&pki, "no");
    let addr = format!("-redis.addr=rediss://localhost:{port}");
    let ca = format!("-tls-ca-cert-file={}", pki.path("ca.pem"));
    let m = scrape(&[&addr, &ca]);
    assert_eq!(m.value("redis_up", &[]), 1.0);
    assert!(m.has("redis_memory_used_bytes"));

    // By IP address, and with -tls-server-name.
    let by_ip = format!("-redis.addr=rediss://127.0.0.1:{port}");
    assert_eq!(scrape(&[&by_ip, &ca]).value("redis_up", &[]), 1.0);
    assert_eq!(
        scrape(&[&by_ip, &ca, "-tls-server-name=localhost"]).value("redis_up", &[]),
        1.0
    );

    // A CA that did not sign the server: refused, and said so.
    let wrong = format!("-tls-ca-cert-file={}", other.path("ca.pem"));
    let m = scrape(&[&addr, &wrong]);
    assert_eq!(m.value("redis_up", &[]), 0.0);
    let err = &m.series("redis_exporter_last_scrape_error")[0].labels["err"];
    assert!(err.contains("TLS handshake"), "{err}");
    // A name the certificate does not hold.
    let m = scrape(&[&by_ip, &ca, "-tls-server-name=elsewhere"]);
    assert_eq!(m.value("redis_up", &[]), 0.0);

    // -skip-tls-verification: no CA needed.
    assert_eq!(
        scrape(&[&addr, "-skip-tls-verification"]).value("redis_up", &[]),
        1.0
    );
}

#[test]
fn mutual_tls_with_a_client_certificate() {
    let pki = write_pki("mtls");
    let (_server, port) = tls_server(&pki, "yes");
    let addr = format!("-redis.addr=rediss://localhost:{port}");
    let ca = format!("-tls-ca-cert-file={}", pki.path("ca.pem"));
    let m = scrape(&[&addr, &ca]);
    assert_eq!(m.value("redis_up", &[]), 0.0, "no client certificate");
    let cert = format!("-tls-client-cert-file={}", pki.path("client.pem"));
    let key = format!("-tls-client-key-file={}", pki.path("client.key"));
    let m = scrape(&[&addr, &ca, &cert, &key]);
    assert_eq!(
        m.value("redis_up", &[]),
        1.0,
        "{:?}",
        m.series("redis_exporter_last_scrape_error")
    );
}

#[test]
fn unreadable_tls_files_stop_the_exporter() {
    let out = Command::new(EXPORTER)
        .args([
            "-redis.addr=rediss://localhost:1",
            "-tls-ca-cert-file=/nonexistent/ca.pem",
            "-web.listen-address=127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
}
