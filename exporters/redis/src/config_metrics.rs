//! `CONFIG GET` → `redis_config_*` metrics and the database count, and the once-detected
//! capability of asking for it (`CONFIG` is disabled on ElastiCache and Memorystore, and
//! often renamed).

use crate::info::info_metric;
use crate::resp::Reply;
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::FamilySet;

/// Keys whose values are never exported: passwords.
fn is_secret(key: &str) -> bool {
    matches!(key, "requirepass" | "masterauth")
        || (key.starts_with("tls-") && key.ends_with("-pass"))
}

/// The keys the default metrics need (asked for by name where the server allows several).
pub const NEEDED_KEYS: &[&str] = &[
    "databases",
    "maxmemory",
    "maxclients",
    "io-threads",
    "repl-backlog-size",
    "client-output-buffer-limit",
];

/// How this server answers `CONFIG GET`, found on the first scrape and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigSupport {
    /// Not known yet: ask for the needed keys by name.
    #[default]
    Unknown,
    /// `CONFIG GET k1 k2 ...` works (Redis 7+).
    Multi,
    /// Only one pattern per call: ask for `*` (Redis < 7).
    Star,
    /// `CONFIG` is disabled or renamed away: do not ask.
    Disabled,
}

impl ConfigSupport {
    /// The command to send this scrape, if any (`command` is `--config-command`).
    pub fn request(self, command: &str, include_all: bool) -> Option<Vec<String>> {
        let mut cmd = vec![command.to_owned(), "GET".to_owned()];
        match self {
            ConfigSupport::Disabled => return None,
            _ if include_all => cmd.push("*".to_owned()),
            ConfigSupport::Star => cmd.push("*".to_owned()),
            ConfigSupport::Unknown | ConfigSupport::Multi => {
                cmd.extend(NEEDED_KEYS.iter().map(|k| (*k).to_owned()))
            }
        }
        Some(cmd)
    }

    /// The state after a reply to [`request`](Self::request).
    pub fn after(self, reply: &Reply) -> ConfigSupport {
        match (self, reply.error()) {
            (ConfigSupport::Unknown, None) => ConfigSupport::Multi,
            (ConfigSupport::Unknown, Some(_)) => ConfigSupport::Star,
            (ConfigSupport::Star, Some(_)) => ConfigSupport::Disabled,
            // A server that answered before and fails now (ACL change, rename on restart):
            // try the single-pattern form once more before giving up.
            (ConfigSupport::Multi, Some(_)) => ConfigSupport::Star,
            (state, _) => state,
        }
    }
}

/// Options of [`extract_config_metrics`].
#[derive(Debug, Clone, Copy)]
pub struct ConfigOptions {
    /// The profile.
    pub compat: Compat,
    /// `--include-config-metrics`: every key as `config_key_value` / `config_value`.
    pub include_all: bool,
}

/// Appends the config families; returns `databases` when present and valid.
pub fn extract_config_metrics(
    reply: &Reply,
    opts: ConfigOptions,
    out: &mut FamilySet,
) -> Option<usize> {
    let items = reply.as_array()?;
    let upstream = opts.compat == Compat::Upstream;
    let mut db_count = None;
    for pair in items.chunks_exact(2) {
        let (Some(key), Some(value)) = (pair[0].as_text(), pair[1].as_text()) else {
            continue;
        };
        let (key, value) = (key.as_ref(), value.as_ref());
        if key == "databases" {
            db_count = value.parse::<usize>().ok().filter(|&n| n <= 1 << 16);
        }
        if opts.include_all && !is_secret(key) {
            out.gauge(
                "config_key_value",
                "Config key and value",
                &["key", "value"],
                &[key, value],
                1.0,
            );
            if let Ok(v) = value.parse::<f64>() {
                out.gauge(
                    "config_value",
                    "Config key and value as metric",
                    &["key"],
                    &[key],
                    v,
                );
            }
        }
        let simple = matches!(key, "io-threads" | "maxclients" | "maxmemory")
            || (upstream && key == "repl-backlog-size");
        if simple && let Ok(v) = value.parse::<f64>() {
            let name = format!("config_{}", key.replace('-', "_"));
            info_metric(out, &name, false, v);
        }
        if upstream && key == "client-output-buffer-limit" {
            output_buffer_limits(value, out);
        }
    }
    db_count
}

fn output_buffer_limits(value: &str, out: &mut FamilySet) {
    let parts: Vec<&str> = value.split(' ').collect();
    let labels = ["class", "limit"];
    for chunk in parts.chunks_exact(4) {
        let class = chunk[0];
        if let Ok(v) = chunk[1].parse::<f64>() {
            out.gauge(
                "config_client_output_buffer_limit_bytes",
                "The configured buffer limits per class",
                &labels,
                &[class, "hard"],
                v,
            );
        }
        if let Ok(v) = chunk[2].parse::<f64>() {
            out.gauge(
                "config_client_output_buffer_limit_bytes",
                "The configured buffer limits per class",
                &labels,
                &[class, "soft"],
                v,
            );
        }
        if let Ok(v) = chunk[3].parse::<f64>() {
            out.gauge(
                "config_client_output_buffer_limit_overcome_seconds",
                "How long for buffer limits per class to be exceeded before replicas are dropped",
                &labels,
                &[class, "soft"],
                v,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn detects_support_once() {
        let err = Reply::Error("ERR unknown command 'CONFIG'".into());
        let ok = Reply::Array(Some(vec![]));
        assert_eq!(ConfigSupport::Unknown.after(&ok), ConfigSupport::Multi);
        assert_eq!(ConfigSupport::Unknown.after(&err), ConfigSupport::Star);
        assert_eq!(ConfigSupport::Star.after(&err), ConfigSupport::Disabled);
        assert_eq!(ConfigSupport::Disabled.request("CONFIG", true), None);
        assert_eq!(
            ConfigSupport::Star.request("CFG", false).unwrap(),
            ["CFG", "GET", "*"]
        );
        assert_eq!(
            ConfigSupport::Multi.request("CONFIG", false).unwrap().len(),
            2 + NEEDED_KEYS.len()
        );
    }

    #[test]
    fn never_exports_passwords() {
        let reply = Reply::Array(Some(vec![
            bulk("requirepass"),
            bulk("s3cret"),
            bulk("masterauth"),
            bulk("s3cret"),
            bulk("tls-key-file-pass"),
            bulk("s3cret"),
            bulk("databases"),
            bulk("4"),
            bulk("maxmemory"),
            bulk("100"),
        ]));
        let mut out = crate::config::family_set("redis");
        let dbs = extract_config_metrics(
            &reply,
            ConfigOptions {
                compat: Compat::Upstream,
                include_all: true,
            },
            &mut out,
        );
        assert_eq!(dbs, Some(4));
        let text = format!("{:?}", out.families());
        assert!(!text.contains("s3cret"));
        assert!(out.contains("config_maxmemory") && out.contains("config_key_value"));
    }
}
