//! `--redis.password-file` / `REDIS_PASSWORD_FILE`: redis_exporter's JSON map from Redis URI
//! to password, `{"redis://host:6379": "password", ...}`.

use std::collections::HashMap;
use std::path::Path;

use crate::address::RedisAddress;
use crate::connection::{Credentials, Secret};

/// Why the file could not be used. Neither variant holds any of the file's content.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// Reading failed.
    #[error("reading the password file: {0}")]
    Read(#[from] std::io::Error),
    /// The file is not a JSON object of strings.
    #[error(
        "the password file is not a JSON object of URI to password strings (line {line}, column {column})"
    )]
    Json {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
}

/// Credentials by Redis URI.
#[derive(Debug, Clone, Default)]
pub struct PasswordMap {
    by_key: HashMap<String, Credentials>,
}

impl PasswordMap {
    /// Reads and parses a password file.
    pub fn load(path: &Path) -> Result<PasswordMap, PasswordFileError> {
        PasswordMap::parse(&std::fs::read_to_string(path)?)
    }

    /// Parses the JSON text. Keys are normalised the way targets are
    /// (`host:port` → `redis://host:port`); a user in the key's URI is the ACL user.
    pub fn parse(text: &str) -> Result<PasswordMap, PasswordFileError> {
        let raw: HashMap<String, String> =
            serde_json::from_str(text).map_err(|e| PasswordFileError::Json {
                line: e.line(),
                column: e.column(),
            })?;
        let mut by_key = HashMap::with_capacity(raw.len());
        for (uri, password) in raw {
            let (key, user) = match RedisAddress::parse(&uri) {
                Ok(a) => (a.key().to_owned(), a.user().map(str::to_owned)),
                Err(_) => (uri, None),
            };
            by_key.insert(
                key,
                Credentials {
                    user,
                    password: Secret::new(password),
                },
            );
        }
        Ok(PasswordMap { by_key })
    }

    /// The credentials for an address, by its key (`scheme://host:port`).
    pub fn get(&self, addr: &RedisAddress) -> Option<&Credentials> {
        self.by_key.get(addr.key())
    }

    /// Whether the map has an entry for this address.
    pub fn contains(&self, addr: &RedisAddress) -> bool {
        self.by_key.contains_key(addr.key())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_exporter_format() {
        let m = PasswordMap::parse(
            r#"{"redis://localhost:16379":"pw1","10.0.0.2:6379":"pw2","redis://app@h:1":"pw3"}"#,
        )
        .unwrap();
        let a = RedisAddress::parse("localhost:16379").unwrap();
        assert_eq!(m.get(&a).unwrap().password.expose(), "pw1");
        let b = RedisAddress::parse("redis://10.0.0.2").unwrap();
        assert_eq!(m.get(&b).unwrap().password.expose(), "pw2");
        let c = RedisAddress::parse("redis://h:1").unwrap();
        assert_eq!(m.get(&c).unwrap().user.as_deref(), Some("app"));
        assert!(m.get(&RedisAddress::parse("other:1").unwrap()).is_none());
    }

    #[test]
    fn errors_never_quote_the_file() {
        let e = PasswordMap::parse(r#"{"redis://h:1": hunter2}"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = PasswordMap::parse(r#"["hunter2"]"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
