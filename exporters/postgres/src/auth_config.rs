//! `--config.file`: postgres_exporter's auth modules for `/probe`, with a target allow-list.
//!
//! ```yaml
//! auth_modules:
//!   monitoring:
//!     type: userpass
//!     userpass:
//!       username: exporter
//!       password: secret
//!     options:
//!       sslmode: disable
//!     targets: ["db1.internal:5432", "db2.internal:5432"]   # or ["*"]
//! ```
//!
//! `targets` is this exporter's addition: a module's credentials are only ever sent to the
//! targets it lists (`host:port`, or `host` for port 5432). A module without `targets` is
//! refused at start-up, so that nobody who can reach `/probe` can make the exporter send the
//! configured password to a server of their choosing (the SSRF redis_exporter had, #1104).
//! `["*"]` opts in to any target explicitly.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use crate::dsn::{Dsn, DsnError, Password};

/// A config file that cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// Unreadable.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid YAML for this format (unknown keys are refused).
    #[error("config file {path}: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// The parser's message (carries no values).
        message: String,
    },
    /// A module is unusable.
    #[error("config file {path}: auth module {module:?}: {problem}")]
    Module {
        /// The file.
        path: String,
        /// The module.
        module: String,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    auth_modules: BTreeMap<String, RawModule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    userpass: Option<RawUserPass>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    #[serde(default)]
    targets: Option<Vec<String>>,
}

impl std::fmt::Debug for RawModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawModule")
            .field("type", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUserPass {
    username: String,
    #[serde(default)]
    password: String,
}

/// One auth module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthModule {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Password,
    /// Extra connection parameters (`sslmode`, `dbname`, ...).
    pub options: BTreeMap<String, String>,
    /// Allowed targets (`*` for any).
    pub targets: Vec<String>,
}

/// Why a probe target is refused.
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum ProbeTargetError {
    /// The module does not exist.
    #[error("unknown auth_module {0:?}")]
    UnknownModule(String),
    /// The target is not in the module's allow-list.
    #[error("target {0:?} is not allowed for this auth_module")]
    NotAllowed(String),
    /// The target is not `host[:port][/dbname]`.
    #[error("target must be host[:port][/dbname] without credentials or parameters")]
    Malformed,
    /// The resulting DSN is invalid.
    #[error(transparent)]
    Dsn(#[from] DsnError),
}

/// The parsed file.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Modules by name.
    pub modules: BTreeMap<String, AuthModule>,
}

impl AuthConfig {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<AuthConfig, AuthConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AuthConfigError::Read {
            path: p.clone(),
            source,
        })?;
        AuthConfig::parse(&p, &text)
    }

    /// Checks file content.
    pub fn parse(path: &str, text: &str) -> Result<AuthConfig, AuthConfigError> {
        let raw: RawFile = serde_norway::from_str(text).map_err(|e| AuthConfigError::Yaml {
            path: path.to_owned(),
            // serde_norway names the key and position, never a value.
            message: crate::redact::redact_dsn(&e.to_string()).into_owned(),
        })?;
        let mut modules = BTreeMap::new();
        for (name, m) in raw.auth_modules {
            let problem = |p: &str| AuthConfigError::Module {
                path: path.to_owned(),
                module: name.clone(),
                problem: p.to_owned(),
            };
            if m.kind != "userpass" {
                return Err(problem("type must be userpass"));
            }
            let up = m.userpass.ok_or_else(|| problem("userpass is missing"))?;
            let targets = m.targets.ok_or_else(|| {
                problem("targets is missing: list the servers its credentials may be sent to (or [\"*\"])")
            })?;
            if targets.is_empty() {
                return Err(problem("targets is empty"));
            }
            for k in m.options.keys() {
                if matches!(
                    k.as_str(),
                    "password" | "user" | "host" | "hostaddr" | "port"
                ) {
                    return Err(problem(&format!("option {k:?} is not allowed in options")));
                }
            }
            modules.insert(
                name,
                AuthModule {
                    username: up.username,
                    password: Password::new(up.password),
                    options: m.options,
                    targets,
                },
            );
        }
        Ok(AuthConfig { modules })
    }

    /// The DSN for probing `target` with `module`'s credentials, if allowed.
    pub fn dsn_for(&self, module: &str, target: &str) -> Result<Dsn, ProbeTargetError> {
        let m = self
            .modules
            .get(module)
            .ok_or_else(|| ProbeTargetError::UnknownModule(module.to_owned()))?;
        let target = target
            .strip_prefix("postgresql://")
            .or_else(|| target.strip_prefix("postgres://"))
            .unwrap_or(target);
        if target.is_empty() || target.contains(['@', '?', ' ', '\'', '=', '\\']) {
            return Err(ProbeTargetError::Malformed);
        }
        let (hostport, db) = target.split_once('/').unwrap_or((target, ""));
        let normalize = |hp: &str| {
            if hp
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                && !hp.ends_with(']')
            {
                hp.to_owned()
            } else {
                format!("{hp}:5432")
            }
        };
        let normalized = normalize(hostport);
        let allowed = m
            .targets
            .iter()
            .any(|t| t == "*" || normalize(t) == normalized);
        if !allowed {
            return Err(ProbeTargetError::NotAllowed(hostport.to_owned()));
        }
        let mut dsn = Dsn::parse(&format!("postgresql://{target}"))?;
        dsn.user = Some(m.username.clone());
        dsn.password = m.password.clone();
        for (k, v) in &m.options {
            let mut extra = Dsn::parse(&format!(
                "{k}='{}'",
                v.replace('\\', "\\\\").replace('\'', "\\'")
            ))?;
            match k.as_str() {
                "dbname" if db.is_empty() => dsn.dbname = extra.dbname.take(),
                "sslmode" => dsn.sslmode = extra.sslmode.take(),
                "connect_timeout" => dsn.connect_timeout = extra.connect_timeout,
                "application_name" => dsn.application_name = extra.application_name.take(),
                "options" => dsn.options = extra.options.take(),
                _ => {}
            }
        }
        Ok(dsn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
auth_modules:
  mon:
    type: userpass
    userpass: {username: exporter, password: "s3cret"}
    options: {sslmode: disable}
    targets: ["db1:5432", "db2"]
  any:
    type: userpass
    userpass: {username: u, password: p}
    targets: ["*"]
"#;

    #[test]
    fn targets_are_allow_listed() {
        let c = AuthConfig::parse("f.yml", FILE).unwrap();
        let d = c.dsn_for("mon", "db1:5432/app").unwrap();
        assert_eq!(d.password.expose(), "s3cret");
        assert_eq!(d.dbname.as_deref(), Some("app"));
        assert!(c.dsn_for("mon", "db2").is_ok());
        assert!(c.dsn_for("mon", "db2:5432").is_ok());
        assert!(
            matches!(c.dsn_for("mon", "evil:5432"), Err(ProbeTargetError::NotAllowed(t)) if t == "evil:5432")
        );
        assert!(matches!(
            c.dsn_for("mon", "u:p@db1:5432"),
            Err(ProbeTargetError::Malformed)
        ));
        assert!(matches!(
            c.dsn_for("mon", "db1:5432/x?host=evil"),
            Err(ProbeTargetError::Malformed)
        ));
        assert!(matches!(
            c.dsn_for("nope", "db1"),
            Err(ProbeTargetError::UnknownModule(_))
        ));
        assert!(c.dsn_for("any", "whatever:1").is_ok());
    }

    #[test]
    fn modules_without_targets_or_with_unknown_keys_are_refused() {
        let no_targets = "auth_modules:\n  m:\n    type: userpass\n    userpass: {username: u, password: hunter22}\n";
        let err = AuthConfig::parse("f.yml", no_targets)
            .unwrap_err()
            .to_string();
        assert!(err.contains("targets is missing"), "{err}");
        assert!(!err.contains("hunter22"));
        let unknown = "auth_modules:\n  m:\n    type: userpass\n    userpass: {username: u, password: hunter22, extra: 1}\n    targets: ['*']\n";
        let err = AuthConfig::parse("f.yml", unknown).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        assert!(!err.contains("hunter22"), "{err}");
    }
}
