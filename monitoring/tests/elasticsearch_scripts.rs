//! The setup scripts (`monitoring/elasticsearch/apply.sh`, `monitoring/kibana/import.sh`) are
//! POSIX sh: shellcheck finds nothing in them, and they run to completion under busybox's ash
//! (the shell of the curl image compose runs them in) as well as under dash.

use aiplatform_monitoring::mock_http::MockServer;
use aiplatform_monitoring::repo_root;
use aiplatform_monitoring::tools::{output_text, run};

const SCRIPTS: &[&str] = &[
    "monitoring/elasticsearch/apply.sh",
    "monitoring/kibana/import.sh",
];

#[test]
fn shellcheck_finds_nothing() {
    for script in SCRIPTS {
        let out = run("shellcheck", &["--shell=sh", "--severity=style", script]);
        assert!(out.status.success(), "{script}: {}", output_text(&out));
    }
}

#[test]
fn both_scripts_run_under_busybox_ash() {
    let server = MockServer::start(|r| match r.path() {
        "/api/status" => (
            200,
            r#"{"status":{"overall":{"level":"available"}}}"#.to_owned(),
        ),
        "/api/saved_objects/_import" => (200, r#"{"success":true}"#.to_owned()),
        _ => (200, r#"{"acknowledged":true}"#.to_owned()),
    });
    for script in SCRIPTS {
        let out = std::process::Command::new("busybox")
            .args(["sh", repo_root().join(script).to_str().unwrap()])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ES_URL", server.url())
            .env("KIBANA_URL", server.url())
            .env("ELASTIC_PASSWORD", "pw")
            .env("LOGSTASH_INTERNAL_PASSWORD", "ls")
            .env("KIBANA_SYSTEM_PASSWORD", "kb")
            .output()
            .expect("busybox (scripts/lib/deps.sh installs it)");
        assert!(out.status.success(), "{script}: {}", output_text(&out));
    }
    let calls: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect();
    assert!(
        calls.contains(&"POST /_security/user/kibana_system/_password".to_owned()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"POST /api/saved_objects/_import".to_owned()),
        "{calls:?}"
    );
}
