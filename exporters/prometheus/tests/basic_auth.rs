//! Basic auth and response headers from the web config, over plain HTTP and TLS, and what
//! happens when the file changes while running.

mod common;

use std::time::Duration;

use aiplatform_metrics::Registry;
use aiplatform_prometheus::Server;
use common::{Client, Pki, TempDir, basic, bcrypt_hash, simple_client, start};

fn registry() -> Registry {
    let r = Registry::new();
    r.gauge("auth_test_up", "Up.").unwrap().set(1.0);
    r
}

fn users_yaml(users: &[(&str, &str)]) -> String {
    let mut y = String::from("basic_auth_users:\n");
    for (user, password) in users {
        y.push_str(&format!("  {user}: {}\n", bcrypt_hash(password)));
    }
    y
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_the_right_password_and_refuses_the_rest() {
    let dir = TempDir::new("auth");
    let config = dir.write(
        "web.yml",
        users_yaml(&[("prometheus", "s3cret"), ("grafana", "other")])
            + "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n",
    );
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let client = Client::plain();

    let ok = client
        .get_with(
            addr,
            "/metrics",
            &[("authorization", &basic("prometheus", "s3cret"))],
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert!(ok.text().contains("auth_test_up 1\n"));
    assert_eq!(ok.header("x-frame-options"), Some("deny"));
    assert_eq!(
        ok.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // The cached success answers again.
    let again = client
        .get_with(
            addr,
            "/metrics",
            &[("authorization", &basic("prometheus", "s3cret"))],
        )
        .await
        .unwrap();
    assert_eq!(again.status, 200);

    let refusals: [Option<String>; 6] = [
        None,
        Some(basic("prometheus", "wrong")),
        Some(basic("mallory", "s3cret")),
        Some(basic("grafana", "s3cret")),
        Some("Bearer abc".to_owned()),
        Some("Basic not-base64!".to_owned()),
    ];
    for auth in refusals {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let r = client.get_with(addr, "/metrics", &headers).await.unwrap();
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(r.header("www-authenticate"), Some("Basic"));
        assert_eq!(r.text(), "Unauthorized\n");
        // Configured headers are on refusals too, as in the toolkit.
        assert_eq!(r.header("x-frame-options"), Some("deny"));
    }

    // Every path is behind auth, as the toolkit wraps the whole mux.
    for path in ["/", "/health", "/nope"] {
        assert_eq!(client.get(addr, path).await.unwrap().status, 401, "{path}");
    }
    let r = client
        .get_with(
            addr,
            "/nope",
            &[("authorization", &basic("grafana", "other"))],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_over_tls() {
    let dir = TempDir::new("auth-tls");
    let pki = Pki::new("CA");
    let server = pki.server();
    dir.write("s.crt", &server.cert_pem);
    dir.write("s.key", &server.key_pem);
    let config = dir.write(
        "web.yml",
        format!(
            "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n{}",
            users_yaml(&[("prometheus", "pw")])
        ),
    );
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let client = simple_client(&pki.ca_pem, None);
    assert_eq!(client.get(addr, "/metrics").await.unwrap().status, 401);
    let r = client
        .get_with(
            addr,
            "/metrics",
            &[("authorization", &basic("prometheus", "pw"))],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_changes_apply_while_running() {
    let dir = TempDir::new("auth-reload");
    let config = dir.write("web.yml", users_yaml(&[("alice", "one")]));
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let client = Client::plain();
    let get = |user: &'static str, pw: &'static str| {
        let client = client.clone();
        async move {
            client
                .get_with(addr, "/metrics", &[("authorization", &basic(user, pw))])
                .await
                .unwrap()
                .status
                .as_u16()
        }
    };
    assert_eq!(get("alice", "one").await, 200);
    assert_eq!(get("bob", "two").await, 401);

    // Replace alice's hash and add bob; the old cached success must not survive.
    tokio::time::sleep(Duration::from_millis(20)).await;
    dir.write(
        "web.yml",
        users_yaml(&[("alice", "changed"), ("bob", "two")]),
    );
    assert_eq!(get("bob", "two").await, 200);
    assert_eq!(get("alice", "one").await, 401);
    assert_eq!(get("alice", "changed").await, 200);

    // A file broken while running fails closed with 500, as the toolkit does...
    dir.write("web.yml", "basic_auth_users:\n  bob: [not, a, hash\n");
    let r = client.get(addr, "/metrics").await.unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "Internal Server Error\n");
    // ...and recovers when fixed.
    dir.write("web.yml", users_yaml(&[("bob", "two")]));
    assert_eq!(get("bob", "two").await, 200);

    // Removing all users opens the endpoint.
    dir.write("web.yml", "http_server_config:\n  http2: true\n");
    assert_eq!(client.get(addr, "/metrics").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_from_the_config() {
    let dir = TempDir::new("rate");
    let config = dir.write("web.yml", "rate_limit:\n  interval: 1m\n  burst: 2\n");
    let (_server, addr) = start(Server::builder(registry()).web_config_file(Some(config))).await;
    let client = Client::plain();
    assert_eq!(client.get(addr, "/health").await.unwrap().status, 200);
    assert_eq!(client.get(addr, "/metrics").await.unwrap().status, 200);
    let r = client.get(addr, "/metrics").await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (429, "Too Many Requests\n")
    );
}
