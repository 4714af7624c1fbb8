//! Every request body under monitoring/elasticsearch/ validated against the Elasticsearch API
//! specification (the compiled `elasticsearch-specification` shipped in
//! `@elastic/request-converter` 9.5.0), strictly: no unknown key anywhere, and no key that
//! is accepted only because its type takes arbitrary extras (index settings do).
//!
//! The validator itself is shown to fail on the bodies it must refuse, among them the ILM
//! request in a shape often copied from examples (`"policy"` as a string beside
//! `"phases"`), which Elasticsearch rejects.
//!
//! Not covered (no Elasticsearch here): semantic checks the server makes beyond the schema
//! (a component template named in `composed_of` that does not exist, a lifecycle policy name
//! that is not installed, privilege names); those are checked by name in
//! `elasticsearch_apply.rs` and below where they matter.

use std::path::PathBuf;

use aiplatform_monitoring::es_spec::{Report, Spec};
use aiplatform_monitoring::repo_root;
use aiplatform_monitoring::tools::es_spec_path;
use serde_json::{Value, json};

fn spec() -> Spec {
    Spec::load(&es_spec_path()).expect("the specification loads")
}

fn bodies(dir: &str) -> Vec<(String, Value)> {
    let dir = repo_root().join("monitoring/elasticsearch").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no bodies in {}", dir.display());
    files
        .into_iter()
        .map(|f| {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&f).unwrap();
            let body =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (name, body)
        })
        .collect()
}

fn assert_strict(what: &str, r: &Report) {
    assert!(r.is_strictly_valid(), "{what}: {r:#?}");
}

#[test]
fn every_body_is_valid_for_its_endpoint() {
    let spec = spec();
    for (dir, method, prefix) in [
        ("ilm", "PUT", "/_ilm/policy/"),
        ("component_templates", "PUT", "/_component_template/"),
        ("index_templates", "PUT", "/_index_template/"),
        ("roles", "PUT", "/_security/role/"),
    ] {
        for (name, body) in bodies(dir) {
            let path = format!("{prefix}{name}");
            let endpoint = spec
                .endpoint_for(method, &path)
                .unwrap_or_else(|| panic!("no endpoint for {method} {path}"));
            let r = spec.validate_request(endpoint, &[], Some(&body));
            assert_strict(&format!("{method} {path} ({endpoint})"), &r);
        }
    }
}

#[test]
fn an_ilm_body_with_policy_beside_phases_is_refused() {
    // The name beside the phases instead of the phases under `policy`: Elasticsearch answers
    // 400 to this.
    let flat = json!({
        "policy": "aiplatform-policy",
        "phases": {
            "hot": {"min_age": "0d", "actions": {}},
            "warm": {"min_age": "7d", "actions": {"set_priority": {"priority": 50}}},
            "cold": {"min_age": "30d", "actions": {"set_priority": {"priority": 0}}}
        }
    });
    let r = spec().validate_request("ilm.put_lifecycle", &[], Some(&flat));
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("policy: expected an object")),
        "{r:#?}"
    );
    assert!(
        r.errors.iter().any(|e| e.contains("phases: unknown key")),
        "{r:#?}"
    );
}

#[test]
fn the_validator_refuses_typos_wrong_types_and_unknown_mapping_types() {
    let spec = spec();
    let role = json!({"indices": [{"names": ["aiplatform-logs-*"], "privilege": ["read"]}]});
    let r = spec.validate_request("security.put_role", &[], Some(&role));
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("missing required `privileges`")),
        "{r:#?}"
    );
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("privilege: unknown key")),
        "{r:#?}"
    );

    let ilm = json!({"policy": {"phases": {"warm": {"min_age": "7d", "actions": {"set_priority": {"priority": "high"}}}}}});
    let r = spec.validate_request("ilm.put_lifecycle", &[], Some(&ilm));
    assert!(!r.errors.is_empty(), "a string priority passed: {r:#?}");

    let ilm = json!({"policy": {"phases": {"delete": {"min_age": "90d", "actions": {"delete": {}, "shrnk": {}}}}}});
    let r = spec.validate_request("ilm.put_lifecycle", &[], Some(&ilm));
    assert!(
        r.errors.iter().any(|e| e.contains("shrnk: unknown key")),
        "{r:#?}"
    );

    let template = json!({
        "index_patterns": ["x-*"],
        "template": {"mappings": {"properties": {"a": {"type": "keywrd"}, "b": {"type": "long", "ignroe_malformed": true}}}}
    });
    let r = spec.validate_request("indices.put_index_template", &[], Some(&template));
    assert!(!r.is_strictly_valid(), "{r:#?}");
    assert!(r.unchecked.iter().any(|u| u.contains("keywrd")), "{r:#?}");
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("b.ignroe_malformed: unknown key")),
        "{r:#?}"
    );

    // Dotted setting names are legal for Elasticsearch but escape the schema: we nest them.
    let r = spec.validate_request(
        "cluster.put_component_template",
        &[],
        Some(&json!({"template": {"settings": {"index.refresh_interval": "30s"}}})),
    );
    assert!(r.errors.is_empty() && !r.unchecked.is_empty(), "{r:#?}");

    let r = spec.validate_request(
        "ilm.put_lifecycle",
        &["master_timeout", "bogus"],
        Some(&json!({})),
    );
    assert_eq!(
        r.errors,
        ["?bogus: not a query parameter of ilm.put_lifecycle"]
    );
}

#[test]
fn shard_replica_refresh_and_lifecycle_settings_are_in_the_template() {
    let (_, settings) = bodies("component_templates")
        .into_iter()
        .find(|(n, _)| n == "aiplatform-settings")
        .expect("aiplatform-settings");
    let index = &settings["template"]["settings"]["index"];
    assert_eq!(index["number_of_shards"], 3);
    assert_eq!(index["number_of_replicas"], 2);
    assert_eq!(index["refresh_interval"], "30s");
    assert_eq!(index["lifecycle"]["name"], "aiplatform-policy");
}

#[test]
fn the_index_template_covers_the_three_indices_with_its_components() {
    let (_, t) = bodies("index_templates")
        .into_iter()
        .find(|(n, _)| n == "aiplatform")
        .unwrap();
    assert_eq!(
        t["index_patterns"],
        json!([
            "aiplatform-logs-*",
            "aiplatform-errors-*",
            "aiplatform-metrics-*"
        ])
    );
    let components: Vec<String> = bodies("component_templates")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for c in t["composed_of"].as_array().unwrap() {
        assert!(
            components.iter().any(|n| n == c.as_str().unwrap()),
            "{c} is not shipped"
        );
    }
    // The single-node override comes last, so it wins, and may be absent.
    assert_eq!(
        t["composed_of"].as_array().unwrap().last().unwrap(),
        "aiplatform-settings-single-node"
    );
    assert_eq!(
        t["ignore_missing_component_templates"],
        json!(["aiplatform-settings-single-node"])
    );
}

#[test]
fn the_lifecycle_has_hot_warm_cold_and_delete_phases_at_the_stated_ages() {
    let (name, p) = bodies("ilm").into_iter().next().unwrap();
    assert_eq!(name, "aiplatform-policy");
    let phases = &p["policy"]["phases"];
    assert_eq!(phases["hot"]["min_age"], "0ms");
    assert_eq!(phases["warm"]["min_age"], "7d");
    assert_eq!(phases["cold"]["min_age"], "30d");
    assert_eq!(phases["delete"]["min_age"], "90d");
    assert_eq!(phases["delete"]["actions"], json!({"delete": {}}));
    let description = p["policy"]["_meta"]["description"].as_str().unwrap();
    assert!(
        description.contains("90 days"),
        "retention stated: {description}"
    );
    // Actions that block writes would turn a late resend into a stuck Logstash output.
    for phase in ["hot", "warm", "cold"] {
        for blocked in ["readonly", "forcemerge", "shrink"] {
            assert!(
                phases[phase]["actions"].get(blocked).is_none(),
                "{phase} has {blocked}"
            );
        }
    }
}

#[test]
fn the_read_only_role_reads_the_application_logs_only() {
    let roles = bodies("roles");
    let (_, role) = roles
        .iter()
        .find(|(n, _)| n == "aiplatform-logs")
        .expect("aiplatform-logs role");
    assert_eq!(
        role["indices"],
        json!([{"names": ["aiplatform-logs-*"], "privileges": ["read", "view_index_metadata"]}])
    );
    assert!(role.get("cluster").is_none() && role.get("run_as").is_none());
}
