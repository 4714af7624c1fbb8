//! HTTP basic auth against the web config's bcrypt hashes.
//!
//! As in the exporter-toolkit:
//! - a request without (parsable) credentials is refused without running bcrypt;
//! - an unknown user is checked against a fixed decoy hash, so a wrong user name takes as long
//!   as a wrong password and user names cannot be probed by timing;
//! - bcrypt runs one at a time (it is deliberately expensive) and off the async runtime.
//!
//! Successful checks are cached, keyed by a SHA-256 digest of (user, stored hash, password),
//! so a scraper that sends the same credentials every 15 s pays bcrypt once, the password is
//! not kept in memory, and changing a user's hash in the file invalidates the entry. Failures
//! are not cached: every wrong guess costs a full bcrypt run.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use base64::Engine as _;
use http::HeaderValue;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::web_config::DECOY_HASH;

/// Cached successes kept at most (then the cache starts over).
const CACHE_LIMIT: usize = 256;

/// Checks credentials; shared by all connections of a server.
#[derive(Debug, Default)]
pub(crate) struct BasicAuth {
    cache: Mutex<HashSet<[u8; 32]>>,
    /// Serialises bcrypt, as the toolkit's `bcryptMtx` does.
    bcrypt: Arc<std::sync::Mutex<()>>,
}

/// `user:password` from an `Authorization: Basic ...` header.
pub(crate) fn credentials(header: Option<&HeaderValue>) -> Option<(String, String)> {
    let value = header?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [user, hash, password] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

impl BasicAuth {
    /// Whether the request's `Authorization` header names a configured user with the right
    /// password.
    pub(crate) async fn check(
        &self,
        users: &BTreeMap<String, String>,
        header: Option<&HeaderValue>,
    ) -> bool {
        let Some((user, password)) = credentials(header) else {
            return false;
        };
        let (hash, known) = match users.get(&user) {
            Some(h) => (h.clone(), true),
            None => (DECOY_HASH.to_owned(), false),
        };
        let key = cache_key(&user, &hash, &password);
        if known && self.cache.lock().contains(&key) {
            return true;
        }
        let lock = self.bcrypt.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = verified && known;
        if ok {
            let mut cache = self.cache.lock();
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    fn basic(user: &str, password: &str) -> HeaderValue {
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        header(&format!("Basic {enc}"))
    }

    #[test]
    fn parses_credentials() {
        assert_eq!(
            credentials(Some(&basic("alice", "p:w"))),
            Some(("alice".into(), "p:w".into()))
        );
        assert_eq!(
            credentials(Some(&header("basic YWxpY2U6cHc="))),
            Some(("alice".into(), "pw".into()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic YWxpY2U=", "Basic"] {
            assert_eq!(credentials(Some(&header(bad))), None, "{bad}");
        }
        assert_eq!(credentials(None), None);
    }

    proptest::proptest! {
        #[test]
        fn credentials_never_panic(s in "\\PC{0,80}") {
            if let Ok(v) = HeaderValue::from_str(&s) {
                let _ = credentials(Some(&v));
            }
        }

        #[test]
        fn credentials_round_trip(user in "[^:\\x00-\\x1f]{0,20}", password in "\\PC{0,20}") {
            let got = credentials(Some(&basic(&user, &password)));
            proptest::prop_assert_eq!(got, Some((user, password)));
        }
    }

    #[test]
    fn cache_key_separates_fields() {
        assert_ne!(cache_key("ab", "c", "d"), cache_key("a", "bc", "d"));
        assert_ne!(cache_key("a", "h1", "p"), cache_key("a", "h2", "p"));
    }

    #[tokio::test]
    async fn verifies_and_caches_only_successes() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let users = BTreeMap::from([("alice".to_owned(), hash)]);
        let auth = BasicAuth::default();
        assert!(!auth.check(&users, Some(&basic("alice", "wrong"))).await);
        assert!(!auth.check(&users, Some(&basic("mallory", "secret"))).await);
        assert!(!auth.check(&users, None).await);
        assert_eq!(auth.cached(), 0);
        assert!(auth.check(&users, Some(&basic("alice", "secret"))).await);
        assert_eq!(auth.cached(), 1);
        assert!(auth.check(&users, Some(&basic("alice", "secret"))).await);
        // A new hash for the user (file edited) does not match the cached entry.
        let users = BTreeMap::from([("alice".to_owned(), bcrypt::hash("other", 4).unwrap())]);
        assert!(!auth.check(&users, Some(&basic("alice", "secret"))).await);
    }

    #[test]
    fn decoy_hash_is_valid_bcrypt() {
        assert_eq!(bcrypt::verify("fakepassword", DECOY_HASH).ok(), Some(true));
    }
}
