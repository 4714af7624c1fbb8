//! Who `/scrape?target=` may reach, and with which credentials.
//!
//! redis_exporter sends its configured password to whatever host a request names (an SSRF
//! that leaks the password, upstream #1104). Here a target is scraped only when it is the
//! configured `--redis.addr`, a key of the password file, or on `--scrape-allowed-targets`;
//! and it gets only its own credentials: the password file's entry, or the configured
//! password when it *is* the configured address. Anything else is refused before a
//! connection is opened.

use crate::address::{AddressError, RedisAddress};
use crate::connection::Credentials;
use crate::password_file::PasswordMap;

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No `target` parameter.
    #[error("'target' parameter must be specified")]
    Missing,
    /// The target does not parse.
    #[error("Invalid 'target' parameter: {0}")]
    Invalid(AddressError),
    /// The target is not configured.
    #[error("target {0} is not allowed: add it to --scrape-allowed-targets or the password file")]
    NotAllowed(String),
}

/// The `/scrape` policy.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    main: Option<(RedisAddress, Credentials)>,
    passwords: PasswordMap,
    allowed: Vec<String>,
}

impl TargetPolicy {
    /// A policy from the configured address and its credentials, the password file and the
    /// allow-list (each entry parsed like a target; entries that do not parse are ignored).
    pub fn new(
        main: Option<(RedisAddress, Credentials)>,
        passwords: PasswordMap,
        allowed: &[String],
    ) -> TargetPolicy {
        let allowed = allowed
            .iter()
            .filter_map(|t| RedisAddress::parse(t).ok())
            .map(|a| a.key().to_owned())
            .collect();
        TargetPolicy {
            main,
            passwords,
            allowed,
        }
    }

    /// Decides a request's `target`: the address to scrape (credentials from the URL are
    /// dropped) and the credentials it may have.
    pub fn resolve(
        &self,
        target: Option<&str>,
    ) -> Result<(RedisAddress, Credentials), TargetError> {
        let target = target
            .filter(|t| !t.is_empty())
            .ok_or(TargetError::Missing)?;
        let parsed = RedisAddress::parse(target).map_err(TargetError::Invalid)?;
        let addr = RedisAddress::parse(&format!(
            "{}{}",
            parsed.key(),
            parsed.db.map(|d| format!("/{d}")).unwrap_or_default()
        ))
        .map_err(TargetError::Invalid)?;
        if let Some(creds) = self.passwords.get(&addr) {
            return Ok((addr, creds.clone()));
        }
        if let Some((main, creds)) = &self.main
            && main.key() == addr.key()
        {
            return Ok((addr, creds.clone()));
        }
        if self.allowed.iter().any(|k| k == addr.key()) {
            return Ok((addr, Credentials::default()));
        }
        Err(TargetError::NotAllowed(addr.key().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Secret;

    fn policy() -> TargetPolicy {
        let main = RedisAddress::parse("redis://localhost:6379").unwrap();
        let creds = Credentials {
            user: None,
            password: Secret::new("main-pw"),
        };
        let pw = PasswordMap::parse(r#"{"redis://db2:6379":"db2-pw"}"#).unwrap();
        TargetPolicy::new(Some((main, creds)), pw, &["cache:7000".to_owned()])
    }

    #[test]
    fn targets_get_only_their_own_credentials() {
        let p = policy();
        let (_, c) = p.resolve(Some("localhost:6379")).unwrap();
        assert_eq!(c.password.expose(), "main-pw");
        let (_, c) = p.resolve(Some("redis://db2")).unwrap();
        assert_eq!(c.password.expose(), "db2-pw");
        let (a, c) = p.resolve(Some("redis://u:guess@cache:7000")).unwrap();
        assert!(c.password.is_empty() && a.password().is_none());
        assert_eq!(
            p.resolve(Some("evil:6379")),
            Err(TargetError::NotAllowed("redis://evil:6379".into()))
        );
        assert_eq!(p.resolve(None), Err(TargetError::Missing));
        assert_eq!(p.resolve(Some("")), Err(TargetError::Missing));
        assert!(matches!(
            p.resolve(Some("http://x")),
            Err(TargetError::Invalid(_))
        ));
    }
}
