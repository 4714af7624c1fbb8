//! The Kubernetes ConfigMaps that carry Prometheus's configuration and rules are generated
//! from `monitoring/prometheus/` (the source of truth) and must stay in step with it:
//!
//! - `deploy/kubernetes/prometheus-config.yaml`: `prometheus.yml`;
//! - `deploy/kubernetes/prometheus-rules.yaml`: every `rules/*.yml`, one key per file.
//!
//! This test regenerates both and compares them with the committed files; with
//! `AIPLATFORM_BLESS=1` it writes them instead:
//!
//! ```sh
//! AIPLATFORM_BLESS=1 cargo test -p aiplatform-monitoring --test kubernetes_configmaps
//! ```
//!
//! Each generated ConfigMap is also parsed back, and every value must equal its source file
//! byte for byte (block scalars keep the files' exact trailing newlines).

use std::path::{Path, PathBuf};

use aiplatform_monitoring::repo_root;

const REGENERATE: &str =
    "AIPLATFORM_BLESS=1 cargo test -p aiplatform-monitoring --test kubernetes_configmaps";

/// A YAML block scalar for `text`, as the value of a key indented by two spaces.
fn block(text: &str) -> String {
    let chomp = if !text.ends_with('\n') {
        "-"
    } else if text.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let indicator = if first.starts_with(' ') { "2" } else { "" };
    let mut out = format!("|{indicator}{chomp}\n");
    for line in text.split_inclusive('\n') {
        if line.trim_end_matches('\n').is_empty() {
            out.push_str(line);
        } else {
            out.push_str("    ");
            out.push_str(line);
        }
    }
    if !text.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn config_map(name: &str, sources: &[(String, PathBuf)], from: &str) -> String {
    let mut out = format!(
        "# Generated from {from}; do not edit. Edit the source, then run\n#   {REGENERATE}\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: aiplatform\n  labels:\n    \
         app.kubernetes.io/name: prometheus\n    app.kubernetes.io/part-of: aiplatform\ndata:\n"
    );
    for (key, path) in sources {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push_str(&format!("  {key}: {}", block(&text)));
    }
    out
}

fn prometheus_dir() -> PathBuf {
    let dir = repo_root().join("monitoring/prometheus");
    assert!(
        dir.join("prometheus.yml").is_file(),
        "{}/prometheus.yml is missing: the Kubernetes ConfigMaps are generated from it",
        dir.display()
    );
    dir
}

fn rule_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir.join("rules"))
        .expect("monitoring/prometheus/rules")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rule files");
    files
}

/// A ConfigMap file: where it goes, its text, and its `(key, source file)` pairs.
type Generated = (PathBuf, String, Vec<(String, PathBuf)>);

fn generated() -> Vec<Generated> {
    let dir = prometheus_dir();
    let out = repo_root().join("deploy/kubernetes");
    let config = vec![("prometheus.yml".to_owned(), dir.join("prometheus.yml"))];
    let rules = rule_files(&dir);
    vec![
        (
            out.join("prometheus-config.yaml"),
            config_map(
                "prometheus-config",
                &config,
                "monitoring/prometheus/prometheus.yml",
            ),
            config,
        ),
        (
            out.join("prometheus-rules.yaml"),
            config_map(
                "prometheus-rules",
                &rules,
                "monitoring/prometheus/rules/*.yml",
            ),
            rules,
        ),
    ]
}

#[test]
fn configmaps_are_in_step_with_monitoring_prometheus() {
    let bless = std::env::var_os("AIPLATFORM_BLESS").is_some();
    for (path, text, _) in generated() {
        if bless {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} is out of step with monitoring/prometheus/; run\n  {REGENERATE}",
            path.display()
        );
    }
}

#[test]
fn every_value_is_its_source_file_byte_for_byte() {
    for (path, text, sources) in generated() {
        let parsed: serde_json::Value = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        let data = parsed["data"].as_object().expect("data");
        assert_eq!(data.len(), sources.len());
        for (key, source) in sources {
            let want = std::fs::read_to_string(&source).unwrap();
            assert_eq!(
                data[&key].as_str(),
                Some(want.as_str()),
                "{key} in {}",
                path.display()
            );
        }
    }
}

#[test]
fn block_scalars_keep_every_ending_and_indentation() {
    for text in [
        "a: 1\n",
        "a: 1",
        "a: 1\n\n\n",
        "  indented: true\nb: 2\n",
        "x\n\ny\n",
        "",
    ] {
        let yaml = format!("data:\n  k: {}", block(text));
        let v: serde_json::Value =
            serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{text:?}: {e}\n{yaml}"));
        assert_eq!(v["data"]["k"].as_str(), Some(text), "{yaml}");
    }
}
