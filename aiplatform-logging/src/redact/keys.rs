//! Deciding from a field name alone that its value is a secret.
//!
//! A key is split into words at `.`, `_`, `-`, other punctuation and camelCase boundaries, then
//! lower-cased. It is sensitive when
//!
//! - any word contains `password`, `passwd` or `passphrase` (`passwordHash`, `PGPASSWORD`), or
//! - the words joined together end with one of the *suffix terms* (`token`, `secret`, `apikey`,
//!   `authorization`, `cookie`, `privatekey`, `accesskey`, ...), so `x-api-key`, `client_secret`,
//!   `aws_secret_access_key`, `set-cookie` and `accessToken` match, or
//! - the last word is exactly one of the *word terms* (`pwd`, `auth`, `cvv`, `signature`, ...)
//!   or a user-added key.
//!
//! Plural and prefix forms deliberately do not match: `max_tokens`, `prompt_tokens`,
//! `token_count` and `secret_name` are ordinary fields on an AI platform.

/// Joined-word suffixes that mark a secret.
const SUFFIX_TERMS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "privatekey",
    "accesskey",
    "secretkey",
    "credential",
    "credentials",
    "masterauth",
    "requirepass",
];

/// Whole last words that mark a secret.
const WORD_TERMS: &[&str] = &["pwd", "auth", "cvv", "cvc", "signature", "sig"];

/// Substrings of any word that mark a secret.
const ANYWHERE_TERMS: &[&str] = &["password", "passwd", "passphrase"];

/// Longest key prefix examined; longer keys are judged on their last bytes.
const MAX_KEY: usize = 128;
const MAX_WORDS: usize = 16;

/// Key-name classifier: the built-in terms plus the user's.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyMatcher {
    /// User keys, compacted (lower-case, separators removed); matched as whole trailing words.
    extra: Vec<String>,
}

impl KeyMatcher {
    pub(crate) fn new(extra: impl IntoIterator<Item = String>) -> KeyMatcher {
        let mut extra: Vec<String> = extra
            .into_iter()
            .map(|k| compact(&k))
            .filter(|k| !k.is_empty())
            .collect();
        extra.sort();
        extra.dedup();
        KeyMatcher { extra }
    }

    /// Whether a field called `key` holds a secret.
    pub(crate) fn is_sensitive(&self, key: impl AsRef<[u8]>) -> bool {
        let key = tail(key.as_ref());
        // Compact lower-case form plus where each word starts in it.
        let mut buf = [0u8; MAX_KEY];
        let mut starts = [0usize; MAX_WORDS];
        let mut n = 0usize;
        let mut words = 0usize;
        let mut prev: Option<u8> = None;
        for &c in key {
            if !c.is_ascii_alphanumeric() {
                prev = None;
                continue;
            }
            let boundary = match prev {
                None => true,
                Some(p) => p.is_ascii_lowercase() && c.is_ascii_uppercase(),
            };
            if boundary {
                if words == MAX_WORDS {
                    starts.copy_within(1.., 0);
                    words -= 1;
                }
                starts[words] = n;
                words += 1;
            }
            buf[n] = c.to_ascii_lowercase();
            n += 1;
            prev = Some(c);
        }
        if words == 0 {
            return false;
        }
        let joined = &buf[..n];
        for w in 0..words {
            let end = if w + 1 < words { starts[w + 1] } else { n };
            let word = &joined[starts[w]..end];
            if ANYWHERE_TERMS.iter().any(|t| contains(word, t.as_bytes())) {
                return true;
            }
        }
        if SUFFIX_TERMS.iter().any(|t| joined.ends_with(t.as_bytes())) {
            return true;
        }
        let last = &joined[starts[words - 1]..];
        if WORD_TERMS.iter().any(|t| last == t.as_bytes()) {
            return true;
        }
        // User keys match whole trailing words, so "ssn" matches "user_ssn" but not "lessn".
        self.extra.iter().any(|t| {
            let t = t.as_bytes();
            joined.ends_with(t) && starts[..words].contains(&(n - t.len()))
        })
    }
}

/// The last `MAX_KEY` bytes, cut where a character starts no matter what (only ASCII matters).
fn tail(key: &[u8]) -> &[u8] {
    if key.len() <= MAX_KEY {
        key
    } else {
        &key[key.len() - MAX_KEY..]
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Lower-case alphanumerics only: how user keys are compared.
fn compact(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        let m = KeyMatcher::default();
        for k in [
            "password",
            "PASSWORD",
            "db.password",
            "passwd",
            "pwd",
            "MYSQL_PWD",
            "PGPASSWORD",
            "passwordHash",
            "password_confirmation",
            "secret",
            "client_secret",
            "clientSecret",
            "token",
            "access_token",
            "accessToken",
            "refresh-token",
            "csrf_token",
            "api_key",
            "apikey",
            "api-key",
            "X-Api-Key",
            "x_api_key",
            "apiKey",
            "authorization",
            "Proxy-Authorization",
            "http.request.headers.authorization",
            "cookie",
            "Set-Cookie",
            "set_cookie",
            "private_key",
            "privateKey",
            "aws_secret_access_key",
            "access_key",
            "secret_key",
            "credentials",
            "auth",
            "basic_auth",
            "X-Amz-Signature",
            "passphrase",
            "user[password]",
        ] {
            assert!(m.is_sensitive(k), "{k} should be sensitive");
        }
    }

    #[test]
    fn ordinary_keys() {
        let m = KeyMatcher::default();
        for k in [
            "max_tokens",
            "prompt_tokens",
            "completion_tokens",
            "token_count",
            "tokens",
            "tokenType",
            "secret_name",
            "user.id",
            "http.request.method",
            "authorization_url",
            "auth_method",
            "key",
            "cache_key",
            "keys",
            "password_reset_sent",
            "",
            "...",
            "message",
            "url.full",
        ] {
            let expect = k.contains("password");
            assert_eq!(m.is_sensitive(k), expect, "{k}");
        }
    }

    #[test]
    fn user_keys_match_whole_words() {
        let m = KeyMatcher::new(["SSN".to_owned(), "tenant-pin".to_owned()]);
        assert!(m.is_sensitive("ssn"));
        assert!(m.is_sensitive("user_ssn"));
        assert!(m.is_sensitive("userSsn"));
        assert!(!m.is_sensitive("lessn"));
        assert!(m.is_sensitive("tenant_pin"));
    }

    #[test]
    fn very_long_keys_are_judged_on_their_tail() {
        let m = KeyMatcher::default();
        let long = format!("{}_password", "a".repeat(500));
        assert!(m.is_sensitive(&long));
        let many = format!("{}x", "a_".repeat(100));
        assert!(!m.is_sensitive(&many));
    }
}
