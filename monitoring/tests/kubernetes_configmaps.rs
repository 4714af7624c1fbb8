//! The Kubernetes ConfigMaps that carry Prometheus's and Alertmanager's configuration are
//! generated from `monitoring/` (the source of truth) and must stay in step with it:
//!
//! - `deploy/kubernetes/prometheus-config.yaml`: `prometheus/prometheus.yml`;
//! - `deploy/kubernetes/prometheus-rules.yaml`: every rule file its `rule_files` globs load;
//! - `deploy/kubernetes/alertmanager-config.yaml`: `alertmanager/alertmanager.yml` and every
//!   template its `templates` globs load.
//!
//! This test regenerates them and compares them with the committed files; with
//! `AIPLATFORM_BLESS=1` it writes them instead:
//!
//! ```sh
//! AIPLATFORM_BLESS=1 cargo test -p aiplatform-monitoring --test kubernetes_configmaps
//! ```
//!
//! Each generated ConfigMap is also parsed back, and every value must equal its source file
//! byte for byte (block scalars keep the files' exact trailing newlines).

use aiplatform_monitoring::configmaps::{REGENERATE, config_maps};
use aiplatform_monitoring::repo_root;

#[test]
fn configmaps_are_in_step_with_monitoring() {
    let bless = std::env::var_os("AIPLATFORM_BLESS").is_some();
    for map in config_maps().unwrap() {
        let text = map.render().unwrap();
        let path = map.path();
        if bless {
            std::fs::write(&path, &text).unwrap();
            eprintln!("wrote {}", path.display());
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} is out of step with {}; run\n  {REGENERATE}",
            path.display(),
            map.from
        );
    }
}

#[test]
fn every_value_is_its_source_file_byte_for_byte() {
    for map in config_maps().unwrap() {
        let text = map.render().unwrap();
        let parsed: serde_json::Value = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", map.file));
        assert_eq!(parsed["metadata"]["name"], map.name);
        let data = parsed["data"].as_object().expect("data");
        assert_eq!(data.len(), map.entries.len());
        for e in &map.entries {
            let want = std::fs::read_to_string(&e.source).unwrap();
            assert_eq!(
                data[&e.key].as_str(),
                Some(want.as_str()),
                "{} in {}",
                e.key,
                map.file
            );
        }
    }
}

#[test]
fn every_file_the_configurations_load_is_shipped() {
    let maps = config_maps().unwrap();
    let shipped = |name: &str| -> Vec<String> {
        maps.iter()
            .find(|m| m.name == name)
            .unwrap()
            .entries
            .iter()
            .map(|e| e.path.clone())
            .collect()
    };
    let mut rules: Vec<String> = std::fs::read_dir(repo_root().join("monitoring/prometheus/rules"))
        .unwrap()
        .map(|e| format!("rules/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    rules.sort();
    assert_eq!(
        shipped("prometheus-rules"),
        rules,
        "every file in rules/ is loaded by rule_files and shipped"
    );
    let mut templates: Vec<String> =
        std::fs::read_dir(repo_root().join("monitoring/alertmanager/templates"))
            .unwrap()
            .map(|e| format!("templates/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
    templates.push("alertmanager.yml".into());
    templates.sort();
    let mut am = shipped("alertmanager-config");
    am.sort();
    assert_eq!(am, templates);
    assert_eq!(shipped("prometheus-config"), ["prometheus.yml"]);
}

#[test]
fn a_source_edit_makes_the_check_fail() {
    // The comparison above is against freshly rendered text: an edited source renders
    // differently, so the committed file no longer matches.
    let map = config_maps()
        .unwrap()
        .into_iter()
        .find(|m| m.name == "prometheus-rules")
        .unwrap();
    let committed = std::fs::read_to_string(map.path()).unwrap();
    let dir = std::env::temp_dir().join(format!("aiplatform-cm-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut edited = map.clone();
    let first = &mut edited.entries[0];
    let copy = dir.join(&first.key);
    let text = std::fs::read_to_string(&first.source).unwrap();
    std::fs::write(&copy, format!("{text}# edited\n")).unwrap();
    first.source = copy;
    let rendered = edited.render().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_ne!(rendered, committed);
}
