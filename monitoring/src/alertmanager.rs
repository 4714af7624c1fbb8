//! The shipped Alertmanager configuration, rewritten to deliver to a local
//! [`Recorder`](crate::webhook::Recorder), and a real Alertmanager (Debian's
//! `prometheus-alertmanager`) running it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_norway::Value;

use crate::process::{Running, free_port, http_get, require_command, run_tool, wait_for};

/// `monitoring/alertmanager`.
pub fn alertmanager_dir() -> PathBuf {
    crate::repo_root().join("monitoring/alertmanager")
}

/// `monitoring/alertmanager/alertmanager.yml`.
pub fn config_path() -> PathBuf {
    alertmanager_dir().join("alertmanager.yml")
}

/// The shipped configuration (its text) changed for a live test:
///
/// - every webhook posts to `recorder_base` with its own path (`/alerts/api`...), and Slack
///   posts to `{recorder_base}/slack` instead of the URL in the secret file;
/// - `group_wait` and `group_interval` become `interval` on every route, so notifications
///   leave within seconds;
/// - templates are read from the repository, wherever the file is written.
///
/// Routes, receivers, inhibition rules and templates are otherwise the shipped ones.
pub fn for_localhost(config: &str, recorder_base: &str, interval: &str) -> Result<String, String> {
    let mut value: Value = serde_norway::from_str(config).map_err(|e| e.to_string())?;
    let templates = alertmanager_dir().join("templates/*.tmpl");
    value["templates"] = Value::Sequence(vec![Value::from(templates.display().to_string())]);
    shorten_route(&mut value["route"], interval);
    for receiver in value["receivers"].as_sequence_mut().ok_or("no receivers")? {
        for hook in receiver
            .get_mut("webhook_configs")
            .and_then(Value::as_sequence_mut)
            .into_iter()
            .flatten()
        {
            let url = hook["url"].as_str().ok_or("a webhook without url")?;
            let path = url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or("/");
            hook["url"] = Value::from(format!("{recorder_base}{path}"));
        }
        for slack in receiver
            .get_mut("slack_configs")
            .and_then(Value::as_sequence_mut)
            .into_iter()
            .flatten()
        {
            let map = slack.as_mapping_mut().ok_or("slack config not a mapping")?;
            map.remove("api_url_file");
            map.insert(
                "api_url".into(),
                Value::from(format!("{recorder_base}/slack")),
            );
        }
    }
    serde_norway::to_string(&value).map_err(|e| e.to_string())
}

fn shorten_route(route: &mut Value, interval: &str) {
    if let Some(map) = route.as_mapping_mut() {
        for key in ["group_wait", "group_interval"] {
            if map.contains_key(key) {
                map.insert(key.into(), Value::from(interval));
            }
        }
    }
    for child in route
        .get_mut("routes")
        .and_then(Value::as_sequence_mut)
        .into_iter()
        .flatten()
    {
        shorten_route(child, interval);
    }
}

/// A running Alertmanager.
#[derive(Debug)]
pub struct Alertmanager {
    /// The process.
    pub process: Running,
    /// `http://127.0.0.1:port`.
    pub url: String,
}

impl Alertmanager {
    /// Writes `config` into `dir` and starts Alertmanager on a free port with gossip off,
    /// once `amtool check-config` accepts the file; returns when it answers `/-/ready`.
    pub fn start(config: &str, dir: &Path) -> Alertmanager {
        let binary = require_command("prometheus-alertmanager", "prometheus-alertmanager");
        let config_file = dir.join("alertmanager.yml");
        std::fs::write(&config_file, config).expect("writing the Alertmanager configuration");
        let (ok, text) = run_tool(
            "amtool",
            "prometheus-alertmanager",
            &["check-config".as_ref(), config_file.as_os_str()],
        );
        assert!(ok, "amtool rejects the rewritten configuration:\n{text}");
        let port = free_port();
        let mut command = Command::new(binary);
        command
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let mut process = Running::spawn("alertmanager", command, &dir.join("alertmanager.log"));
        let url = format!("http://127.0.0.1:{port}");
        wait_for(Duration::from_secs(20), "Alertmanager to be ready", || {
            process.assert_running();
            http_get(&format!("{url}/-/ready")).map(|_| ())
        });
        Alertmanager { process, url }
    }

    /// Posts alerts to `/api/v2/alerts` (each a JSON object with `labels`, `annotations`,
    /// and optionally `startsAt`/`endsAt`).
    pub fn post_alerts(&self, alerts: &serde_json::Value) {
        let response = crate::process::client()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(alerts)
            .send()
            .expect("posting alerts to Alertmanager");
        assert!(
            response.status().is_success(),
            "Alertmanager refused the alerts: {} {}",
            response.status(),
            response.text().unwrap_or_default()
        );
    }

    /// The alerts Alertmanager holds (`/api/v2/alerts`), with their `status`.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let text = http_get(&format!("{}/api/v2/alerts", self.url)).expect("listing alerts");
        serde_json::from_str(&text).expect("Alertmanager's alert list is JSON")
    }
}

/// Builds a label map from pairs, for [`Alertmanager::post_alerts`].
pub fn labels(pairs: &[(&str, &str)]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        map.insert((*k).to_owned(), serde_json::Value::from(*v));
    }
    serde_json::Value::Object(map)
}
