//! The Kubernetes ConfigMaps under `deploy/kubernetes/` that carry configuration kept in
//! `monitoring/` (the source of truth), and where each file must appear inside the pod.
//!
//! | ConfigMap | carries | seen in the pod as |
//! |---|---|---|
//! | `prometheus-config` | `prometheus/prometheus.yml` | `prometheus.yml` |
//! | `prometheus-rules` | what its `rule_files` globs match | `rules/<file>` |
//! | `alertmanager-config` | `alertmanager/alertmanager.yml`, what its `templates` globs match | `alertmanager.yml`, `templates/<file>` |
//!
//! The files a configuration loads are found by its own globs (relative to its directory, as
//! Prometheus and Alertmanager resolve them), so a rule file the glob would not load is not
//! shipped either, and a new one is. The "seen as" path is relative to the directory of the
//! configuration file in the container; the Deployments project each key there, which
//! `tests/kubernetes.rs` checks.

use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::repo_root;

/// The command that rewrites the generated ConfigMaps from their sources.
pub const REGENERATE: &str =
    "AIPLATFORM_BLESS=1 cargo test -p aiplatform-monitoring --test kubernetes_configmaps";

/// One file carried by a ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The ConfigMap key (the file name).
    pub key: String,
    /// The file in the repository.
    pub source: PathBuf,
    /// Where the pod must see it, relative to its configuration directory.
    pub path: String,
}

/// A generated ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMap {
    /// `metadata.name`.
    pub name: &'static str,
    /// The `app.kubernetes.io/name` of the workload that mounts it.
    pub app: &'static str,
    /// The manifest file under `deploy/kubernetes/`.
    pub file: &'static str,
    /// What it is generated from, for the header comment.
    pub from: &'static str,
    /// Its files, in key order.
    pub entries: Vec<Entry>,
}

impl ConfigMap {
    /// The manifest's path.
    pub fn path(&self) -> PathBuf {
        repo_root().join("deploy/kubernetes").join(self.file)
    }

    /// The manifest's text: a header, the object, and each file as a block scalar.
    pub fn render(&self) -> Result<String, String> {
        let mut out = format!(
            "# Generated from {}; do not edit.\n# Edit the source, then run\n#   {REGENERATE}\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n  namespace: aiplatform\n  \
             labels:\n    app.kubernetes.io/name: {}\n    app.kubernetes.io/part-of: aiplatform\n\
             data:\n",
            self.from, self.name, self.app
        );
        for e in &self.entries {
            let text = std::fs::read_to_string(&e.source)
                .map_err(|err| format!("{}: {err}", e.source.display()))?;
            out.push_str(&format!("  {}: {}", e.key, block(&text)));
        }
        Ok(out)
    }
}

/// Every generated ConfigMap, read from the configuration files as they are now.
pub fn config_maps() -> Result<Vec<ConfigMap>, String> {
    let prometheus = repo_root().join("monitoring/prometheus");
    let alertmanager = repo_root().join("monitoring/alertmanager");
    let prometheus_yml = prometheus.join("prometheus.yml");
    let alertmanager_yml = alertmanager.join("alertmanager.yml");
    let rules = globbed(&prometheus_yml, "rule_files")?;
    let mut am_entries = vec![entry(&alertmanager_yml, "alertmanager.yml")];
    am_entries.extend(globbed(&alertmanager_yml, "templates")?);
    am_entries.sort_by(|a, b| a.key.cmp(&b.key));
    let maps = vec![
        ConfigMap {
            name: "prometheus-config",
            app: "prometheus",
            file: "prometheus-config.yaml",
            from: "monitoring/prometheus/prometheus.yml",
            entries: vec![entry(&prometheus_yml, "prometheus.yml")],
        },
        ConfigMap {
            name: "prometheus-rules",
            app: "prometheus",
            file: "prometheus-rules.yaml",
            from: "the rule files prometheus.yml loads (monitoring/prometheus/rules/)",
            entries: rules,
        },
        ConfigMap {
            name: "alertmanager-config",
            app: "alertmanager",
            file: "alertmanager-config.yaml",
            from: "monitoring/alertmanager/ (alertmanager.yml and its templates)",
            entries: am_entries,
        },
    ];
    for map in &maps {
        let mut keys: Vec<&str> = map.entries.iter().map(|e| e.key.as_str()).collect();
        let count = keys.len();
        keys.dedup();
        if keys.len() != count {
            return Err(format!("{}: two files share a key: {keys:?}", map.name));
        }
        if count == 0 {
            return Err(format!("{}: no files", map.name));
        }
    }
    Ok(maps)
}

fn entry(source: &Path, path: &str) -> Entry {
    Entry {
        key: source
            .file_name()
            .expect("a file")
            .to_string_lossy()
            .into_owned(),
        source: source.to_owned(),
        path: path.to_owned(),
    }
}

/// The files matched by the globs listed under `key` in the YAML configuration `config`,
/// resolved against the configuration's directory; each keeps its relative path.
fn globbed(config: &Path, key: &str) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let value: Value =
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", config.display()))?;
    let dir = config.parent().expect("a file has a directory");
    let mut out = Vec::new();
    for pattern in value[key].as_sequence().into_iter().flatten() {
        let pattern = pattern
            .as_str()
            .ok_or_else(|| format!("{}: {key} holds a non-string", config.display()))?;
        for (relative, source) in glob(dir, pattern)? {
            out.push(Entry {
                key: source
                    .file_name()
                    .expect("a file")
                    .to_string_lossy()
                    .into_owned(),
                source,
                path: relative,
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The files under `dir` matching `pattern` (`sub/dir/*.ext`: one `*` in the file name, no
/// other wildcard), as `(relative path, path)`, sorted.
pub fn glob(dir: &Path, pattern: &str) -> Result<Vec<(String, PathBuf)>, String> {
    if pattern.starts_with('/') {
        return Err(format!("{pattern}: an absolute path cannot be shipped"));
    }
    let (sub, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if sub.contains(['*', '?', '[']) || name.contains(['?', '[']) || name.matches('*').count() > 1 {
        return Err(format!(
            "{pattern}: only one `*` in the file name is understood here"
        ));
    }
    let (prefix, suffix) = name.split_once('*').unwrap_or((name, ""));
    let wildcard = name.contains('*');
    let folder = dir.join(sub);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))? {
        let path = e.map_err(|e| e.to_string())?.path();
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let hit = if wildcard {
            file.len() >= prefix.len() + suffix.len()
                && file.starts_with(prefix)
                && file.ends_with(suffix)
        } else {
            file == name
        };
        // Go's filepath.Glob, which both loaders use, matches dot files too.
        if hit && path.is_file() {
            let relative = if sub.is_empty() {
                file.to_string()
            } else {
                format!("{sub}/{file}")
            };
            out.push((relative, path.clone()));
        }
    }
    out.sort();
    Ok(out)
}

/// `text` as a YAML block scalar, the value of a key indented by two spaces: the chomping
/// indicator keeps the file's exact trailing newlines, and an indentation indicator is added
/// when the first line starts with a space.
pub fn block(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn globs_match_like_the_loaders_or_are_refused() {
        let dir = std::env::temp_dir().join(format!("aiplatform-glob-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        for f in ["a.yml", "b.yml", "c.yaml", ".hidden.yml"] {
            std::fs::write(dir.join("rules").join(f), "").unwrap();
        }
        let names: Vec<String> = glob(&dir, "rules/*.yml")
            .unwrap()
            .into_iter()
            .map(|(rel, _)| rel)
            .collect();
        assert_eq!(names, ["rules/.hidden.yml", "rules/a.yml", "rules/b.yml"]);
        assert_eq!(glob(&dir, "rules/c.yaml").unwrap().len(), 1);
        assert!(glob(&dir, "rules/**/*.yml").is_err());
        assert!(glob(&dir, "rules/[ab].yml").is_err());
        assert!(glob(&dir, "/etc/rules/*.yml").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
