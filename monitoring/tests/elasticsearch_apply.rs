//! `monitoring/elasticsearch/apply.sh` run for real (POSIX sh + curl) against a recording
//! HTTP server standing in for Elasticsearch: the requests it makes, in order, with the
//! credentials, and every body (the generated user bodies included) validated against the
//! Elasticsearch API specification.
//!
//! Not covered: Elasticsearch's answers beyond the status code (the stand-in says 200 to
//! everything that is not scripted to fail).

use std::process::Command;

use aiplatform_monitoring::es_spec::Spec;
use aiplatform_monitoring::mock_http::{MockServer, Request};
use aiplatform_monitoring::repo_root;
use aiplatform_monitoring::tools::es_spec_path;
use base64::Engine;

fn ok(_: &Request) -> (u16, String) {
    (200, r#"{"acknowledged":true}"#.to_owned())
}

fn apply(server: &MockServer, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new("sh");
    cmd.arg(repo_root().join("monitoring/elasticsearch/apply.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ES_URL", server.url())
        .env("ES_WAIT_SECONDS", "20");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("sh and curl run the script")
}

fn calls(server: &MockServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect()
}

#[test]
fn applies_policy_templates_roles_and_users_in_order() {
    let server = MockServer::start(ok);
    let out = apply(
        &server,
        &[
            ("ELASTIC_PASSWORD", "s3cret pass"),
            ("LOGSTASH_INTERNAL_PASSWORD", "ls-pass"),
            ("KIBANA_SYSTEM_PASSWORD", "kb-pass"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        calls(&server),
        [
            "GET /_cluster/health",
            "PUT /_ilm/policy/aiplatform-policy",
            "PUT /_component_template/aiplatform-ecs-mappings",
            "PUT /_component_template/aiplatform-settings",
            "PUT /_index_template/aiplatform",
            "PUT /_security/role/aiplatform-logs",
            "PUT /_security/role/aiplatform_logstash_writer",
            "PUT /_security/user/logstash_internal",
            "POST /_security/user/kibana_system/_password",
        ]
    );
    let spec = Spec::load(&es_spec_path()).unwrap();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("elastic:s3cret pass")
    );
    for r in server.requests() {
        let endpoint = spec
            .endpoint_for(&r.method, r.path())
            .unwrap_or_else(|| panic!("{} {} is no Elasticsearch endpoint", r.method, r.target));
        let body = (!r.body.is_empty()).then(|| {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .unwrap_or_else(|e| panic!("{} {}: body is not JSON: {e}", r.method, r.target))
        });
        let report = spec.validate_request(endpoint, &r.query_keys(), body.as_ref());
        assert!(
            report.is_strictly_valid(),
            "{} {}: {report:#?}",
            r.method,
            r.target
        );
        assert_eq!(
            r.header("authorization"),
            Some(auth.as_str()),
            "{}",
            r.target
        );
        if body.is_some() {
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
    }
    let requests = server.requests();
    let user: serde_json::Value = serde_json::from_slice(&requests[7].body).unwrap();
    assert_eq!(user["password"], "ls-pass");
    assert_eq!(
        user["roles"],
        serde_json::json!(["aiplatform_logstash_writer"])
    );
    let kibana: serde_json::Value = serde_json::from_slice(&requests[8].body).unwrap();
    assert_eq!(kibana["password"], "kb-pass");
    // Bodies of the static requests are the files, byte for byte.
    let policy =
        std::fs::read(repo_root().join("monitoring/elasticsearch/ilm/aiplatform-policy.json"))
            .unwrap();
    assert_eq!(requests[1].body, policy);
}

#[test]
fn a_single_node_cluster_gets_the_one_shard_override_and_no_users_without_passwords() {
    let server = MockServer::start(ok);
    let out = apply(
        &server,
        &[
            ("ELASTIC_PASSWORD", "x"),
            ("AIPLATFORM_ES_SINGLE_NODE", "true"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = calls(&server);
    assert!(calls.contains(&"PUT /_component_template/aiplatform-settings-single-node".to_owned()));
    let single = calls
        .iter()
        .position(|c| c.ends_with("single-node"))
        .unwrap();
    let index = calls
        .iter()
        .position(|c| c.starts_with("PUT /_index_template/"))
        .unwrap();
    assert!(
        single < index,
        "components before the template that uses them: {calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("/_security/user/")),
        "{calls:?}"
    );
}

#[test]
fn a_refused_request_stops_the_script_with_the_answer() {
    let server = MockServer::start(|r| {
        if r.path().starts_with("/_index_template/") {
            (400, r#"{"error":{"type":"illegal_argument_exception","reason":"composable template [aiplatform] template after composition is invalid"}}"#.to_owned())
        } else {
            ok(r)
        }
    });
    let out = apply(&server, &[("ELASTIC_PASSWORD", "x")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PUT /_index_template/aiplatform: 400"),
        "{stderr}"
    );
    assert!(stderr.contains("after composition is invalid"), "{stderr}");
    assert!(
        !calls(&server).iter().any(|c| c.contains("/_security/")),
        "nothing after the failure"
    );
}

#[test]
fn waits_for_the_cluster_then_proceeds() {
    let started = std::time::Instant::now();
    let health_calls = std::sync::atomic::AtomicUsize::new(0);
    let server = MockServer::start(move |r| {
        if r.path() == "/_cluster/health"
            && health_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
        {
            (
                503,
                r#"{"error":"master_not_discovered_exception"}"#.to_owned(),
            )
        } else {
            ok(r)
        }
    });
    let out = apply(&server, &[("ELASTIC_PASSWORD", "x")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = calls(&server);
    assert_eq!(
        &calls[..2],
        ["GET /_cluster/health", "GET /_cluster/health"]
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(4));
}

#[test]
fn missing_or_unsafe_passwords_are_refused_before_any_request() {
    let server = MockServer::start(ok);
    let out = apply(&server, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ELASTIC_PASSWORD"));
    let out = apply(&server, &[("ELASTIC_PASSWORD", r#"a"b"#)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.requests().is_empty());
}
