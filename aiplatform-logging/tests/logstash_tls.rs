//! TLS to a receiver that requires a client certificate, with certificates made in the test.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiplatform_logging::{LogstashConfig, Output, TlsConfig};
use common::Received;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tracing_subscriber::prelude::*;

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let ca = aiplatform_testkit::Pki::new("logstash test CA");
    let (server, client) = (ca.server(), ca.client("app-client"));
    Pki {
        ca_pem: ca.ca_pem.clone(),
        server: (server.cert_pem, server.key_pem),
        client: (client.cert_pem, client.key_pem),
    }
}

/// What the test server shares: its port, the lines it read, its stop flag, and whether a
/// client certificate was presented.
struct Server {
    port: u16,
    lines: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    saw_client_cert: Arc<AtomicBool>,
}

/// A TLS json_lines receiver that demands a client certificate signed by the CA.
fn serve(pki: &Pki) -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let config = Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(pki.server.0.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).unwrap(),
            )
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let saw_client_cert = Arc::new(AtomicBool::new(false));
    let (l, s, seen) = (lines.clone(), stop.clone(), saw_client_cert.clone());
    std::thread::spawn(move || {
        let mut id = 0;
        for sock in listener.incoming() {
            let Ok(sock) = sock else { continue };
            id += 1;
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let mut tls = StreamOwned::new(ServerConnection::new(config.clone()).unwrap(), sock);
            // Drive the handshake; a client without a certificate fails here.
            let mut ok = true;
            while tls.conn.is_handshaking() {
                match tls.conn.complete_io(&mut tls.sock) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                continue;
            }
            if tls.conn.peer_certificates().is_some_and(|c| !c.is_empty()) {
                seen.store(true, Ordering::Relaxed);
            }
            let (l2, s2) = (l.clone(), s.clone());
            std::thread::spawn(move || common::read_lines(tls, id, &l2, &s2));
        }
    });
    Server {
        port,
        lines,
        stop,
        saw_client_cert,
    }
}

#[test]
fn mutual_tls_delivers_every_line() {
    let pki = pki();
    let Server {
        port,
        lines,
        stop,
        saw_client_cert: saw_cert,
    } = serve(&pki);
    let tls = TlsConfig::from_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .client_auth_pem(pki.client.0.as_bytes(), pki.client.1.as_bytes())
        .unwrap()
        .server_name("localhost");
    let cfg = LogstashConfig::new(format!("127.0.0.1:{port}")).tls(tls);
    let (layer, guard) = aiplatform_logging::builder()
        .output(Output::logstash(cfg))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..500 {
            tracing::info!(i, api_key = "k-123", "over tls {i}");
        }
    });
    assert!(guard.flush(Duration::from_secs(20)));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lines.lock().unwrap().len() < 500 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(guard);
    stop.store(true, Ordering::Relaxed);
    let got = lines.lock().unwrap().clone();
    assert_eq!(got.len(), 500);
    for (i, r) in got.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(&r.line).unwrap();
        assert_eq!(v["message"], format!("over tls {i}").as_str());
        assert_eq!(v["labels"]["api_key"], "[REDACTED]");
    }
    assert!(
        saw_cert.load(Ordering::Relaxed),
        "the server saw our client certificate"
    );
}

#[test]
fn without_a_client_certificate_nothing_is_delivered() {
    let pki = pki();
    let Server {
        port, lines, stop, ..
    } = serve(&pki);
    let tls = TlsConfig::from_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .server_name("localhost");
    let cfg = LogstashConfig::new(format!("127.0.0.1:{port}"))
        .tls(tls)
        .backoff(Duration::from_millis(20), Duration::from_millis(100));
    let (layer, guard) = aiplatform_logging::builder()
        .shutdown_timeout(Duration::from_millis(200))
        .output(Output::logstash(cfg))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("refused")
    });
    assert!(
        !guard.flush(Duration::from_millis(500)),
        "an unauthenticated client must not deliver"
    );
    drop(guard);
    stop.store(true, Ordering::Relaxed);
    assert!(lines.lock().unwrap().is_empty());
}

#[test]
fn bad_pem_is_a_typed_error() {
    use aiplatform_logging::Error;
    use aiplatform_tls::PemError;
    assert!(matches!(
        TlsConfig::from_ca_pem(b"not a certificate"),
        Err(Error::Pem(PemError::Missing { .. }))
    ));
    let pki = pki();
    let cut = format!("{}-----BEGIN CERTIFICATE-----\nMIIB\n", pki.ca_pem);
    assert!(matches!(
        TlsConfig::from_ca_pem(cut.as_bytes()),
        Err(Error::Pem(PemError::Invalid { .. }))
    ));
    let err = TlsConfig::from_ca_file("/nonexistent/ca.pem").unwrap_err();
    assert!(matches!(err, Error::Pem(PemError::Read { .. })), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
