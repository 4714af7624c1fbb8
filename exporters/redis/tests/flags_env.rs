//! redis_exporter's environment variables and flag forms on the real binary, the landing
//! page and `/health`.

mod common;

use std::process::Command;

use aiplatform_testkit::Process;
use common::*;

#[test]
fn environment_variables_configure_everything() {
    let server = RedisServer::master();
    let port = free_port();
    let dir = TempDir::new("env-pw");
    let pwfile = dir.write(
        "pw.json",
        format!(r#"{{"{}": "{MASTER_PASSWORD}"}}"#, server.url()),
    );
    let mut cmd = Command::new(EXPORTER);
    cmd.env("REDIS_ADDR", server.url())
        .env("REDIS_PASSWORD_FILE", &pwfile)
        .env(
            "REDIS_EXPORTER_WEB_LISTEN_ADDRESS",
            format!("127.0.0.1:{port}"),
        )
        .env("REDIS_EXPORTER_WEB_TELEMETRY_PATH", "/redis-metrics")
        .env("REDIS_EXPORTER_NAMESPACE", "cache")
        .env("REDIS_EXPORTER_COMPAT", "debian12")
        .env("REDIS_EXPORTER_CHECK_SINGLE_KEYS", "db0=x")
        .env("REDIS_EXPORTER_REDIS_ONLY_METRICS", "true");
    let _exporter = Process::listening("exporter", cmd, port);
    let r = http_get(port, "/redis-metrics", &[]);
    assert_eq!(r.status, 200);
    let m = Scrape::parse(r.body);
    assert_eq!(
        m.value("cache_up", &[]),
        1.0,
        "password from the password file"
    );
    assert!(
        !m.family("cache_instance_info")
            .label_names()
            .contains("master_replid")
    );
    assert_eq!(
        m.value("cache_key_size", &[("db", "db0"), ("key", "x")]),
        0.0
    );
    assert!(!m.has("process_resident_memory_bytes") && !m.has("cache_exporter_build_info"));
    assert_eq!(http_get(port, "/metrics", &[]).status, 404);
}

#[test]
fn flags_beat_environment_and_both_dash_forms_work() {
    let server = RedisServer::start("flags", &[], None);
    for dash in ["-", "--"] {
        let port = free_port();
        let mut cmd = Command::new(EXPORTER);
        cmd.arg(format!("{dash}web.listen-address=127.0.0.1:{port}"))
            .arg(format!("{dash}redis.addr"))
            .arg(server.url())
            .arg(format!("{dash}namespace=flagged"))
            .arg(format!("{dash}set-client-name=false"))
            .env("REDIS_EXPORTER_NAMESPACE", "from_env")
            .env("REDIS_ADDR", "redis://127.0.0.1:1");
        let _exporter = Process::listening("exporter", cmd, port);
        let m = Scrape::parse(http_get(port, "/metrics", &[]).body);
        assert_eq!(m.value("flagged_up", &[]), 1.0, "{dash}");
        assert!(m.has("process_resident_memory_bytes") && m.has("flagged_exporter_build_info"));
        assert!(
            !server
                .cmd(&["CLIENT", "LIST"])
                .contains("name=redis_exporter")
        );
    }
}

#[test]
fn landing_page_health_and_version() {
    let server = RedisServer::start("landing", &[], None);
    let e = exporter(&[&format!("-redis.addr={}", server.url())], &[]);
    let r = e.get("/");
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Redis Exporter") && r.body.contains("href=\"metrics\""),
        "{}",
        r.body
    );
    let h = e.get("/health");
    assert_eq!((h.status, h.body.trim()), (200, "ok"));
    let out = Command::new(EXPORTER).arg("-version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("redis_exporter, version"));
    let bad = Command::new(EXPORTER)
        .arg("-check-keys=a=b=c")
        .arg("-web.listen-address=127.0.0.1:0")
        .output()
        .unwrap();
    assert!(
        !bad.status.success(),
        "invalid key list must stop the exporter"
    );
}
