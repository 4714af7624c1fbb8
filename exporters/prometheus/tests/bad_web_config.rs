//! Web config files that must stop the server from starting, each with an error that names
//! the file and what is wrong.

mod common;

use aiplatform_metrics::Registry;
use aiplatform_prometheus::{Error, Server, WebConfigError};
use common::{Pki, TempDir};

async fn bind_with(config: std::path::PathBuf) -> Error {
    Server::builder(Registry::new())
        .listen_address("127.0.0.1:0")
        .web_config_file(Some(config))
        .bind()
        .await
        .expect_err("the config must be refused")
}

#[tokio::test]
async fn unknown_key() {
    let dir = TempDir::new("bad-key");
    let file = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_auth: RequireAndVerifyClientCert\n",
    );
    let err = bind_with(file.clone()).await;
    let msg = err.to_string();
    assert!(
        matches!(err, Error::WebConfig(WebConfigError::Syntax { .. })),
        "{err:?}"
    );
    assert!(msg.contains(&*file.to_string_lossy()), "{msg}");
    assert!(msg.contains("unknown field `client_auth`"), "{msg}");
    assert!(msg.contains("line 4"), "{msg}");

    let file = dir.write("top.yml", "basic_auth:\n  alice: x\n");
    let msg = bind_with(file).await.to_string();
    assert!(msg.contains("unknown field `basic_auth`"), "{msg}");
}

#[tokio::test]
async fn missing_files() {
    let dir = TempDir::new("bad-missing");
    let absent = dir.path().join("nope.yml");
    let err = bind_with(absent.clone()).await;
    assert!(
        matches!(err, Error::WebConfig(WebConfigError::Read { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains(&*absent.to_string_lossy()));

    let file = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: gone.crt\n  key_file: gone.key\n",
    );
    let msg = bind_with(file).await.to_string();
    assert!(msg.contains("failed to read cert_file"), "{msg}");
    assert!(msg.contains("gone.crt"), "{msg}");
}

#[tokio::test]
async fn bad_bcrypt_hash() {
    let dir = TempDir::new("bad-bcrypt");
    let file = dir.write("web.yml", "basic_auth_users:\n  prometheus: hunter2\n");
    let err = bind_with(file).await;
    let msg = err.to_string();
    assert!(
        matches!(err, Error::WebConfig(WebConfigError::Invalid { .. })),
        "{err:?}"
    );
    assert!(
        msg.contains("basic_auth_users.prometheus: not a bcrypt hash"),
        "{msg}"
    );
}

#[tokio::test]
async fn mismatched_key_and_bad_pem() {
    let dir = TempDir::new("bad-pair");
    let pki = Pki::new("CA");
    let (a, b) = (pki.server(), pki.server());
    dir.write("a.crt", &a.cert_pem);
    dir.write("b.key", &b.key_pem);
    dir.write("junk.crt", "hello\n");
    let file = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: a.crt\n  key_file: b.key\n",
    );
    let msg = bind_with(file).await.to_string();
    assert!(msg.contains("failed to load X509KeyPair"), "{msg}");

    let file = dir.write(
        "junk.yml",
        "tls_server_config:\n  cert_file: junk.crt\n  key_file: b.key\n",
    );
    let msg = bind_with(file).await.to_string();
    assert!(msg.contains("no certificate found in cert_file"), "{msg}");
}

#[tokio::test]
async fn what_rustls_cannot_honour() {
    let dir = TempDir::new("bad-rustls");
    let pki = Pki::new("CA");
    let s = pki.server();
    dir.write("s.crt", &s.cert_pem);
    dir.write("s.key", &s.key_pem);
    for (extra, want) in [
        ("  min_version: TLS11\n", "TLS11 is not supported by rustls"),
        (
            "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not supported by rustls",
        ),
        (
            "  curve_preferences: [CurveP521]\n",
            "CurveP521 is not supported",
        ),
        (
            "  client_auth_type: VerifyClientCertIfGiven\n",
            "VerifyClientCertIfGiven needs client_ca_file",
        ),
    ] {
        let file = dir.write(
            "web.yml",
            format!("tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n{extra}"),
        );
        let msg = bind_with(file).await.to_string();
        assert!(msg.contains(want), "{extra}: {msg}");
    }
}
