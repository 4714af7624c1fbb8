//! TLS from a web config file, with certificates generated here: server certificates,
//! every client_auth_type, protocol versions, HTTP/2 by ALPN, and certificate reload.

mod common;

use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_prometheus::Server;
use common::{Client, Pki, TempDir, client_config, simple_client, start};

fn registry() -> Registry {
    let r = Registry::new();
    r.gauge("tls_test_up", "Up.").unwrap().set(1.0);
    r
}

/// Writes the server's certificate and key, the client CA and a web config into `dir`.
fn web_config(
    dir: &TempDir,
    pki: &Pki,
    client_ca: Option<&Pki>,
    tls_extra: &str,
    rest: &str,
) -> std::path::PathBuf {
    let server = pki.server();
    dir.write("server.crt", &server.cert_pem);
    dir.write("server.key", &server.key_pem);
    let mut yaml =
        String::from("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    if let Some(ca) = client_ca {
        dir.write("client-ca.crt", &ca.ca_pem);
        yaml.push_str("  client_ca_file: client-ca.crt\n");
    }
    yaml.push_str(tls_extra);
    yaml.push_str(rest);
    dir.write("web.yml", yaml)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate() {
    let dir = TempDir::new("tls-basic");
    let pki = Pki::new("server CA");
    let config = web_config(&dir, &pki, None, "", "");
    let server = Server::builder(registry())
        .web_config_file(Some(config))
        .listen_address("127.0.0.1:0")
        .bind()
        .await
        .unwrap();
    assert!(server.is_tls());
    let handle = server.spawn();
    let addr = handle.local_addrs()[0];

    let r = simple_client(&pki.ca_pem, None)
        .get(addr, "/metrics")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("tls_test_up 1\n"));

    // A client that does not trust the CA refuses the server.
    let other = Pki::new("someone else");
    let err = simple_client(&other.ca_pem, None)
        .get(addr, "/metrics")
        .await
        .unwrap_err();
    assert!(err.starts_with("TLS"), "{err}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    assert!(Client::plain().get(addr, "/metrics").await.is_err());
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_verify_client_cert() {
    let dir = TempDir::new("tls-mtls");
    let pki = Pki::new("server CA");
    let clients = Pki::new("client CA");
    let config = web_config(
        &dir,
        &pki,
        Some(&clients),
        "  client_auth_type: RequireAndVerifyClientCert\n",
        "",
    );
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;

    let good = clients.client("prometheus");
    let r = simple_client(&pki.ca_pem, Some(&good))
        .get(addr, "/metrics")
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // No certificate: refused.
    assert!(
        simple_client(&pki.ca_pem, None)
            .get(addr, "/metrics")
            .await
            .is_err()
    );
    // A certificate from another CA: refused.
    let stranger = Pki::new("rogue CA").client("prometheus");
    assert!(
        simple_client(&pki.ca_pem, Some(&stranger))
            .get(addr, "/metrics")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_client_cert_if_given() {
    let dir = TempDir::new("tls-ifgiven");
    let pki = Pki::new("server CA");
    let clients = Pki::new("client CA");
    let config = web_config(
        &dir,
        &pki,
        Some(&clients),
        "  client_auth_type: VerifyClientCertIfGiven\n",
        "",
    );
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    assert_eq!(
        simple_client(&pki.ca_pem, None)
            .get(addr, "/metrics")
            .await
            .unwrap()
            .status,
        200
    );
    let good = clients.client("prometheus");
    assert_eq!(
        simple_client(&pki.ca_pem, Some(&good))
            .get(addr, "/metrics")
            .await
            .unwrap()
            .status,
        200
    );
    let stranger = Pki::new("rogue CA").client("prometheus");
    assert!(
        simple_client(&pki.ca_pem, Some(&stranger))
            .get(addr, "/metrics")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_any_client_cert_accepts_unverified_certificates() {
    let dir = TempDir::new("tls-any");
    let pki = Pki::new("server CA");
    let config = web_config(
        &dir,
        &pki,
        None,
        "  client_auth_type: RequireAnyClientCert\n",
        "",
    );
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let anyone = Pki::new("any CA").client("whoever");
    assert_eq!(
        simple_client(&pki.ca_pem, Some(&anyone))
            .get(addr, "/metrics")
            .await
            .unwrap()
            .status,
        200
    );
    assert!(
        simple_client(&pki.ca_pem, None)
            .get(addr, "/metrics")
            .await
            .is_err()
    );

    let dir = TempDir::new("tls-request");
    let config = web_config(
        &dir,
        &pki,
        None,
        "  client_auth_type: RequestClientCert\n",
        "",
    );
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    assert_eq!(
        simple_client(&pki.ca_pem, None)
            .get(addr, "/metrics")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        simple_client(&pki.ca_pem, Some(&anyone))
            .get(addr, "/metrics")
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_versions_and_http2() {
    let pki = Pki::new("server CA");
    let dir = TempDir::new("tls-versions");
    let config = web_config(&dir, &pki, None, "  min_version: TLS13\n", "");
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let tls12_only = Client::tls(client_config(
        &pki.ca_pem,
        None,
        &[&rustls::version::TLS12],
        &[],
    ));
    assert!(tls12_only.get(addr, "/metrics").await.is_err());
    let tls13 = Client::tls(client_config(
        &pki.ca_pem,
        None,
        &[&rustls::version::TLS13],
        &[],
    ));
    assert_eq!(tls13.get(addr, "/metrics").await.unwrap().status, 200);

    // HTTP/2 is offered by default...
    let h2 = Client::tls(client_config(
        &pki.ca_pem,
        None,
        rustls::ALL_VERSIONS,
        &[b"h2", b"http/1.1"],
    ))
    .with_http2();
    let r = h2.get(addr, "/metrics").await.unwrap();
    assert_eq!((r.status.as_u16(), r.version), (200, http::Version::HTTP_2));
    assert!(r.text().contains("tls_test_up 1\n"));

    // ...and not with http2: false.
    let dir = TempDir::new("tls-no-h2");
    let config = web_config(
        &dir,
        &pki,
        None,
        "",
        "http_server_config:\n  http2: false\n",
    );
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let r = h2.get(addr, "/metrics").await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.version),
        (200, http::Version::HTTP_11)
    );

    // Restricting the TLS 1.2 suites still serves a client that speaks one of them.
    let dir = TempDir::new("tls-suites");
    let config = web_config(
        &dir,
        &pki,
        None,
        "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n  curve_preferences: [CurveP384]\n",
        "",
    );
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let tls12 = Client::tls(client_config(
        &pki.ca_pem,
        None,
        &[&rustls::version::TLS12],
        &[],
    ));
    assert_eq!(tls12.get(addr, "/metrics").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_reread_when_they_change() {
    let dir = TempDir::new("tls-reload");
    let old = Pki::new("old CA");
    let config = web_config(&dir, &old, None, "", "");
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    assert_eq!(
        simple_client(&old.ca_pem, None)
            .get(addr, "/metrics")
            .await
            .unwrap()
            .status,
        200
    );

    // Rotate: write the new pair to temporary names and rename over the old ones, as
    // cert-manager and certbot hooks do.
    let new = Pki::new("new CA");
    let issued = new.server();
    dir.write("server.crt.tmp", &issued.cert_pem);
    dir.write("server.key.tmp", &issued.key_pem);
    std::fs::rename(
        dir.path().join("server.key.tmp"),
        dir.path().join("server.key"),
    )
    .unwrap();
    std::fs::rename(
        dir.path().join("server.crt.tmp"),
        dir.path().join("server.crt"),
    )
    .unwrap();

    let r = simple_client(&new.ca_pem, None)
        .get(addr, "/metrics")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        simple_client(&old.ca_pem, None)
            .get(addr, "/metrics")
            .await
            .is_err()
    );

    // A broken certificate fails the handshake (closed, as the toolkit) rather than
    // falling back to stale material; fixing it recovers without a restart.
    dir.write("server.crt", "not a certificate");
    assert!(
        simple_client(&new.ca_pem, None)
            .get(addr, "/metrics")
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    dir.write("server.crt", &issued.cert_pem);
    assert_eq!(
        simple_client(&new.ca_pem, None)
            .get(addr, "/metrics")
            .await
            .unwrap()
            .status,
        200
    );
}
