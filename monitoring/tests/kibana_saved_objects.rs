//! Kibana's data views and saved searches (`monitoring/kibana/saved-objects.ndjson`) and the
//! script that imports them.
//!
//! No Kibana runs here and no offline validator for saved objects exists, so this checks what
//! Kibana's import checks and what makes a saved search useful: the saved-object envelope,
//! the saved-search attributes against the attribute list of Kibana's saved-search schema
//! (`src/platform/plugins/shared/saved_search/server/saved_objects/schema.ts`, model version
//! 5, transcribed below: Kibana forbids unknown attributes), references that resolve, and every
//! field a search shows, sorts on or queries being mapped in the index template. `import.sh`
//! runs for real against a recording server.

use std::collections::BTreeMap;
use std::process::Command;

use aiplatform_monitoring::mappings::Mappings;
use aiplatform_monitoring::mock_http::{MockServer, Request};
use aiplatform_monitoring::repo_root;
use serde_json::Value;

/// Attributes Kibana's saved-search schema accepts (model version 5).
const SEARCH_ATTRIBUTES: &[&str] = &[
    "title",
    "description",
    "columns",
    "sort",
    "grid",
    "rowHeight",
    "rowsPerPage",
    "hideChart",
    "breakdownField",
    "kibanaSavedObjectMeta",
    "isTextBasedQuery",
    "usesAdHocDataView",
    "timeRestore",
    "timeRange",
    "refreshInterval",
    "viewMode",
    "hideAggregatedPreview",
    "hits",
    "version",
    "sampleSize",
    "headerRowHeight",
    "visContext",
    "density",
];

fn objects() -> Vec<Value> {
    let text = std::fs::read_to_string(repo_root().join("monitoring/kibana/saved-objects.ndjson"))
        .unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1)))
        .collect()
}

fn mappings() -> Mappings {
    let path = repo_root()
        .join("monitoring/elasticsearch/component_templates/aiplatform-ecs-mappings.json");
    let t: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Mappings::new(&t["template"]["mappings"])
}

fn index_patterns() -> Vec<String> {
    let path = repo_root().join("monitoring/elasticsearch/index_templates/aiplatform.json");
    let t: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    t["index_patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_object_is_a_well_formed_saved_object() {
    let mut ids = BTreeMap::new();
    for o in objects() {
        let id = o["id"].as_str().expect("id");
        let ty = o["type"].as_str().expect("type");
        assert!(matches!(ty, "index-pattern" | "search"), "{id}: type {ty}");
        assert!(o["attributes"].is_object(), "{id}");
        assert!(o["references"].is_array(), "{id}");
        assert!(
            ids.insert(id.to_owned(), ty.to_owned()).is_none(),
            "{id} twice"
        );
        for r in o["references"].as_array().unwrap() {
            let target = r["id"].as_str().unwrap();
            assert_eq!(
                ids.get(target).map(String::as_str),
                r["type"].as_str(),
                "{id}: dangling reference {r}"
            );
        }
    }
}

#[test]
fn data_views_cover_the_three_index_families() {
    let m = mappings();
    let patterns = index_patterns();
    let mut titles = Vec::new();
    for o in objects().iter().filter(|o| o["type"] == "index-pattern") {
        let a = &o["attributes"];
        let title = a["title"].as_str().unwrap();
        assert_eq!(
            m.type_of(a["timeFieldName"].as_str().unwrap()).as_deref(),
            Some("date")
        );
        for part in title.split(',') {
            assert!(
                patterns.iter().any(|p| p == part),
                "{part} is not an index template pattern"
            );
        }
        titles.push(title.to_owned());
    }
    for wanted in [
        "aiplatform-logs-*",
        "aiplatform-errors-*",
        "aiplatform-metrics-*",
    ] {
        assert!(
            titles.iter().any(|t| t == wanted),
            "no data view for {wanted}: {titles:?}"
        );
    }
}

/// Field names a KQL query refers to (`field:value`, `field:(a or b)`, `field:*`).
fn kql_fields(query: &str) -> Vec<String> {
    let re = regex::Regex::new(r"([A-Za-z_@][\w.@]*)\s*:").unwrap();
    re.captures_iter(query).map(|c| c[1].to_owned()).collect()
}

#[test]
fn saved_searches_follow_kibana_s_schema_and_use_mapped_fields() {
    let m = mappings();
    let objects = objects();
    let views: BTreeMap<&str, &Value> = objects
        .iter()
        .filter(|o| o["type"] == "index-pattern")
        .map(|o| (o["id"].as_str().unwrap(), o))
        .collect();
    let searches: Vec<&Value> = objects.iter().filter(|o| o["type"] == "search").collect();
    for s in &searches {
        let id = s["id"].as_str().unwrap();
        let a = s["attributes"].as_object().unwrap();
        for k in a.keys() {
            assert!(
                SEARCH_ATTRIBUTES.contains(&k.as_str()),
                "{id}: Kibana refuses attribute {k}"
            );
        }
        assert!(a["title"].is_string(), "{id}: title");
        let source: Value = serde_json::from_str(
            a["kibanaSavedObjectMeta"]["searchSourceJSON"]
                .as_str()
                .expect("searchSourceJSON is a JSON string"),
        )
        .unwrap_or_else(|e| panic!("{id}: searchSourceJSON: {e}"));
        let ref_name = source["indexRefName"].as_str().expect("indexRefName");
        let reference = s["references"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == ref_name)
            .unwrap_or_else(|| panic!("{id}: no reference named {ref_name}"));
        assert!(
            views.contains_key(reference["id"].as_str().unwrap()),
            "{id}: data view"
        );
        assert_eq!(source["query"]["language"], "kuery");
        let query = source["query"]["query"].as_str().unwrap();
        let mut fields = kql_fields(query);
        assert!(!fields.is_empty(), "{id}: the query filters on something");
        for c in a["columns"].as_array().unwrap() {
            fields.push(c.as_str().unwrap().to_owned());
        }
        for pair in a["sort"].as_array().unwrap() {
            let pair = pair.as_array().expect("[field, direction]");
            assert!(
                matches!(pair[1].as_str(), Some("asc" | "desc")),
                "{id}: {pair:?}"
            );
            let field = pair[0].as_str().unwrap();
            let ty = m.type_of(field).unwrap_or_default();
            assert!(
                !matches!(ty.as_str(), "text" | "match_only_text" | ""),
                "{id}: cannot sort on {field} ({ty})"
            );
            fields.push(field.to_owned());
        }
        for f in fields {
            assert!(m.type_of(&f).is_some(), "{id}: {f} is not mapped");
        }
    }
    let titles: Vec<&str> = searches
        .iter()
        .map(|s| s["attributes"]["title"].as_str().unwrap())
        .collect();
    for wanted in ["errors by severity", "API access", "performance", "alerts"] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no saved search for {wanted}: {titles:?}"
        );
    }
}

#[test]
fn kql_field_extraction_finds_each_field() {
    assert_eq!(
        kql_fields(
            "labels.severity:(critical or high) and not @timestamp < now and event.kind : alert"
        ),
        ["labels.severity", "event.kind"]
    );
}

fn import(server: &MockServer) -> std::process::Output {
    Command::new("sh")
        .arg(repo_root().join("monitoring/kibana/import.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KIBANA_URL", server.url())
        .env("ELASTIC_PASSWORD", "pw")
        .env("KIBANA_WAIT_SECONDS", "20")
        .output()
        .expect("sh and curl run the script")
}

fn kibana(r: &Request, import_answer: &str) -> (u16, String) {
    match r.path() {
        "/api/status" => (
            200,
            r#"{"status":{"overall":{"level":"available"}}}"#.to_owned(),
        ),
        "/api/saved_objects/_import" => (200, import_answer.to_owned()),
        _ => (404, "{}".to_owned()),
    }
}

#[test]
fn import_sh_posts_the_file_with_overwrite() {
    let server = MockServer::start(|r| kibana(r, r#"{"success":true,"successCount":8}"#));
    let out = import(&server);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = server.requests();
    let post = requests
        .iter()
        .find(|r| r.method == "POST")
        .expect("an import request");
    assert_eq!(post.target, "/api/saved_objects/_import?overwrite=true");
    assert_eq!(post.header("kbn-xsrf"), Some("true"));
    assert!(
        post.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data")
    );
    assert!(post.header("authorization").unwrap().starts_with("Basic "));
    let file = std::fs::read_to_string(repo_root().join("monitoring/kibana/saved-objects.ndjson"))
        .unwrap();
    assert!(
        String::from_utf8_lossy(&post.body).contains(&file),
        "the whole file is uploaded"
    );
}

#[test]
fn import_sh_fails_when_kibana_reports_errors() {
    let server = MockServer::start(|r| {
        kibana(
            r,
            r#"{"success":false,"errors":[{"id":"aiplatform-alerts","error":{"type":"missing_references"}}]}"#,
        )
    });
    let out = import(&server);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing_references"));
}
