//! The shared `--web.config.file` on this binary: bcrypt basic auth in front of `/metrics` and
//! `/scrape` (redis_exporter 1.45 has no authentication at all).

mod common;

use common::*;

#[test]
fn basic_auth_guards_metrics_and_scrape() {
    let server = RedisServer::start("webauth", &[], None);
    let dir = TempDir::new("webcfg");
    let hash = bcrypt::hash("s3cret-Web", 4).unwrap();
    let config = dir.write("web.yml", format!("basic_auth_users:\n  prom: {hash}\n"));
    let addr = format!("-redis.addr={}", server.url());
    let web = format!("--web.config.file={}", config.display());
    let e = exporter(&[&addr, &web, "-enable-scrape-endpoint"], &[]);

    assert_eq!(e.get("/metrics").status, 401);
    assert_eq!(
        e.get(&format!("/scrape?target={}", server.addr())).status,
        401
    );
    // "prom:s3cret-Web" in base64.
    let auth = [("Authorization", "Basic cHJvbTpzM2NyZXQtV2Vi")];
    let r = http_get(e.port, "/metrics", &auth);
    assert_eq!(r.status, 200);
    assert_eq!(Scrape::parse(r.body).value("redis_up", &[]), 1.0);
    let r = http_get(e.port, &format!("/scrape?target={}", server.addr()), &auth);
    assert_eq!(r.status, 200);
    assert_eq!(Scrape::parse(r.body).value("redis_up", &[]), 1.0);
    let wrong = [("Authorization", "Basic cHJvbTp3cm9uZw==")];
    assert_eq!(http_get(e.port, "/metrics", &wrong).status, 401);
}
