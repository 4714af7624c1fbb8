//! Redaction: secrets are replaced before any byte leaves the process.
//!
//! A [`Redactor`] runs on the message and on every event and span field value. It works in two
//! ways at once:
//!
//! - **by key**: a field whose name marks a secret (`password`, `db.password`, `client_secret`,
//!   `x-api-key`, `Authorization`, `set-cookie`, `private_key`, ... plus keys you add) has its
//!   whole value replaced, whatever its type;
//! - **by value**: every string is scanned once for secrets that give themselves away: bearer
//!   tokens, JWTs, AWS access key ids, cloud and SaaS API keys, PEM private keys, card numbers
//!   (issuer prefix and Luhn checked), the password in `scheme://user:pass@host` URLs, and
//!   `key=value` / `key: value` pairs with a sensitive key (connection strings such as
//!   `host=db password=x`, query strings such as `?api_key=x&token=y`, JSON text, HTTP headers).
//!
//! A string value that is a JSON document is parsed and redacted structurally, so a secret in a
//! nested object (or in a JSON string inside it) is found too. Your own regular expressions run
//! after the built-in scan; when a pattern has a capture group, only the first group is
//! replaced.
//!
//! Redaction is idempotent: redacting a redacted string changes nothing.
//!
//! ```
//! use aiplatform_logging::Redactor;
//!
//! let r = Redactor::new();
//! assert_eq!(
//!     r.redact("connect postgres://app:hunter2@db:5432/app?sslmode=require"),
//!     "connect postgres://app:[REDACTED]@db:5432/app?sslmode=require"
//! );
//! assert_eq!(r.redact("GET /v1/models?api_key=abc123&limit=5"), "GET /v1/models?api_key=[REDACTED]&limit=5");
//! assert_eq!(r.redact_field("client_secret", "s3cr3t"), "[REDACTED]");
//! assert_eq!(r.redact("max_tokens=512 user=42"), "max_tokens=512 user=42");
//!
//! let custom = Redactor::builder()
//!     .replacement("***")
//!     .key("ssn")
//!     .pattern(r"\bemployee-\d{6}\b")
//!     .unwrap()
//!     .build()
//!     .unwrap();
//! assert_eq!(custom.redact_field("user_ssn", "123-45-6789"), "***");
//! assert_eq!(custom.redact("badge employee-123456 ok"), "badge *** ok");
//! ```

mod card;
mod json;
mod keys;
mod scan;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;

use crate::Error;
use keys::KeyMatcher;

/// The replacement text used unless configured otherwise.
pub const DEFAULT_REPLACEMENT: &str = "[REDACTED]";

/// Replaces secrets in log messages and field values. Cheap to clone.
///
/// See the [module documentation](self) for what is detected.
#[derive(Clone, Debug)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    id: u64,
    enabled: bool,
    keys: KeyMatcher,
    replacement: String,
    patterns: Vec<Regex>,
}

/// Configures a [`Redactor`].
#[derive(Debug, Clone)]
pub struct RedactorBuilder {
    enabled: bool,
    keys: Vec<String>,
    replacement: String,
    patterns: Vec<Regex>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

impl Default for RedactorBuilder {
    fn default() -> Self {
        RedactorBuilder {
            enabled: true,
            keys: Vec::new(),
            replacement: DEFAULT_REPLACEMENT.to_owned(),
            patterns: Vec::new(),
        }
    }
}

impl RedactorBuilder {
    /// Sets the text that replaces a secret (default `[REDACTED]`).
    pub fn replacement(mut self, text: impl Into<String>) -> Self {
        self.replacement = text.into();
        self
    }

    /// Adds a field name whose value is always a secret. Matched case-insensitively, ignoring
    /// separators, as the last word(s) of a key: `"ssn"` also hides `user_ssn` and `userSsn`.
    pub fn key(mut self, name: impl Into<String>) -> Self {
        self.keys.push(name.into());
        self
    }

    /// Adds several secret field names; see [`key`](Self::key).
    pub fn keys<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys.extend(names.into_iter().map(Into::into));
        self
    }

    /// Adds a regular expression (Rust `regex` syntax) for secrets in any string. The whole
    /// match is replaced, or only capture group 1 when the pattern has groups.
    pub fn pattern(mut self, pattern: &str) -> Result<Self, Error> {
        let re = Regex::new(pattern).map_err(|e| Error::Pattern {
            pattern: pattern.to_owned(),
            source: Box::new(e),
        })?;
        self.patterns.push(re);
        Ok(self)
    }

    /// Turns redaction off entirely (for local debugging only).
    pub fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }

    /// Checks the configuration and builds the redactor.
    ///
    /// Fails when the replacement is empty or spans lines, or when a pattern matches the
    /// replacement (redacting twice would then differ from redacting once).
    pub fn build(self) -> Result<Redactor, Error> {
        let r = &self.replacement;
        if r.is_empty() || r.contains(['\n', '\r']) {
            return Err(Error::Replacement(r.clone()));
        }
        if let Some(p) = self.patterns.iter().find(|p| p.is_match(r)) {
            return Err(Error::PatternMatchesReplacement {
                pattern: p.as_str().to_owned(),
                replacement: r.clone(),
            });
        }
        Ok(Redactor {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                enabled: self.enabled,
                keys: KeyMatcher::new(self.keys),
                replacement: self.replacement,
                patterns: self.patterns,
            }),
        })
    }
}

impl Redactor {
    /// The built-in rules with the default replacement.
    pub fn new() -> Redactor {
        RedactorBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }

    /// Configures a redactor.
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder::default()
    }

    /// A redactor that changes nothing.
    pub fn disabled() -> Redactor {
        RedactorBuilder::default()
            .disabled()
            .build()
            .expect("the default configuration is valid")
    }

    /// The text that replaces a secret.
    pub fn replacement(&self) -> &str {
        &self.inner.replacement
    }

    /// Whether a field with this name has its whole value replaced.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.inner.enabled && self.inner.keys.is_sensitive(key)
    }

    /// Redacts free text (a message, or a value whose key says nothing).
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.redact_cow(None, text)
    }

    /// Redacts the value of the field called `key`.
    pub fn redact_field<'a>(&self, key: &str, value: &'a str) -> Cow<'a, str> {
        self.redact_cow(Some(key), value)
    }

    fn redact_cow<'a>(&self, key: Option<&str>, text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        if self.redact_into(key, text, &mut out) == 0 {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(out)
        }
    }

    /// Appends the redacted `text` to `out` and returns how many secrets were replaced.
    ///
    /// When nothing was replaced, `out` may or may not have received a copy of `text`; callers
    /// that need the text must check the count (the layer always passes an empty buffer and
    /// uses `text` itself when the count is zero).
    pub(crate) fn redact_into(&self, key: Option<&str>, text: &str, out: &mut String) -> usize {
        let inner = &*self.inner;
        if !inner.enabled {
            return 0;
        }
        if let Some(k) = key
            && inner.keys.is_sensitive(k)
        {
            return inner.replace_whole(text, out);
        }
        inner.redact_text(text, out, 0)
    }

    /// Like [`redact_into`](Self::redact_into) for a `'static` key (every tracing field name),
    /// remembering the key verdict per thread so the hot path classifies each name once.
    pub(crate) fn redact_static_into(
        &self,
        key: &'static str,
        text: &str,
        out: &mut String,
    ) -> usize {
        let inner = &*self.inner;
        if !inner.enabled {
            return 0;
        }
        if self.static_key_sensitive(key) {
            return inner.replace_whole(text, out);
        }
        inner.redact_text(text, out, 0)
    }

    /// Cached [`is_sensitive_key`](Self::is_sensitive_key) for `'static` names.
    pub(crate) fn static_key_sensitive(&self, key: &'static str) -> bool {
        const SLOTS: usize = 256;
        thread_local! {
            static CACHE: RefCell<[(u64, usize, usize, bool); SLOTS]> =
                const { RefCell::new([(0, 0, 0, false); SLOTS]) };
        }
        let inner = &*self.inner;
        if !inner.enabled {
            return false;
        }
        let (ptr, len) = (key.as_ptr() as usize, key.len());
        let slot = (ptr ^ (ptr >> 9) ^ len.wrapping_mul(31)) % SLOTS;
        CACHE
            .try_with(|c| {
                let mut c = c.borrow_mut();
                let e = &mut c[slot];
                if e.0 == inner.id && e.1 == ptr && e.2 == len {
                    return e.3;
                }
                let v = inner.keys.is_sensitive(key);
                *e = (inner.id, ptr, len, v);
                v
            })
            .unwrap_or_else(|_| inner.keys.is_sensitive(key))
    }
}

impl Inner {
    fn replace_whole(&self, text: &str, out: &mut String) -> usize {
        if text == self.replacement {
            return 0;
        }
        out.push_str(&self.replacement);
        1
    }

    /// Text redaction: structural for JSON documents, otherwise one scan plus user patterns.
    fn redact_text(&self, text: &str, out: &mut String, depth: u8) -> usize {
        if depth <= json::MAX_DEPTH && json::looks_like_json(text) {
            match json::redact(self, text, depth) {
                Some((0, _)) => return 0,
                Some((n, Some(doc))) => {
                    out.push_str(&doc);
                    return n;
                }
                Some((_, None)) | None => {}
            }
        }
        thread_local! {
            static SPANS: Cell<Vec<(usize, usize)>> = const { Cell::new(Vec::new()) };
        }
        let mut spans = SPANS.try_with(Cell::take).unwrap_or_default();
        spans.clear();
        scan::scan(
            text.as_bytes(),
            &self.keys,
            self.replacement.as_bytes(),
            &mut spans,
        );
        self.user_patterns(text, &mut spans);
        let n = if spans.is_empty() {
            0
        } else {
            apply(text, &spans, &self.replacement, out)
        };
        let _ = SPANS.try_with(|s| s.set(spans));
        n
    }

    fn user_patterns(&self, text: &str, spans: &mut Vec<(usize, usize)>) {
        let before = spans.len();
        for re in &self.patterns {
            if re.captures_len() > 1 {
                for caps in re.captures_iter(text) {
                    if let Some(m) = caps.get(1) {
                        spans.push((m.start(), m.end()));
                    }
                }
            } else {
                spans.extend(re.find_iter(text).map(|m| (m.start(), m.end())));
            }
        }
        if spans.len() > before {
            spans.sort_unstable();
        }
    }
}

/// Writes `text` with the (sorted) spans replaced, overlapping spans merged. Returns the
/// number of replacements.
fn apply(text: &str, spans: &[(usize, usize)], replacement: &str, out: &mut String) -> usize {
    let mut count = 0;
    let mut pos = 0;
    let mut i = 0;
    while i < spans.len() {
        let (start, mut end) = spans[i];
        i += 1;
        while i < spans.len() && spans[i].0 < end {
            end = end.max(spans[i].1);
            i += 1;
        }
        if start < pos || end <= start {
            continue;
        }
        // Spans come from byte scans over ASCII delimiters, so they sit on char boundaries;
        // widen defensively if a user pattern ever reports otherwise.
        let start = floor_boundary(text, start);
        let end = ceil_boundary(text, end);
        out.push_str(&text[pos..start]);
        out.push_str(replacement);
        pos = end;
        count += 1;
    }
    out.push_str(&text[pos..]);
    count
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        Redactor::new().redact(s).into_owned()
    }

    #[test]
    fn detectors() {
        let cases = [
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "auth header Bearer abc123def456",
                "auth header Bearer [REDACTED]",
            ),
            (
                "authorization: Basic dXNlcjpwYXNz",
                "authorization: Basic [REDACTED]",
            ),
            ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED] used"),
            (
                "card 4111 1111 1111 1111 charged",
                "card [REDACTED] charged",
            ),
            ("card 4111-1111-1111-1111.", "card [REDACTED]."),
            (
                "redis://:s3cret@cache:6379/0",
                "redis://:[REDACTED]@cache:6379/0",
            ),
            (
                "https://u:p%40ss@example.com/x",
                "https://u:[REDACTED]@example.com/x",
            ),
            (
                "host=db user=app password=hunter2 dbname=x",
                "host=db user=app password=[REDACTED] dbname=x",
            ),
            (
                "host=db password='two words' port=5432",
                "host=db password='[REDACTED]' port=5432",
            ),
            (
                "/cb?code=1&access_token=xyz&state=2",
                "/cb?code=1&access_token=[REDACTED]&state=2",
            ),
            (
                r#"body {"user":"a","password":"p@ss"}"#,
                r#"body {"user":"a","password":"[REDACTED]"}"#,
            ),
            (
                r#"escaped {\"token\":\"abc\"}"#,
                r#"escaped {\"token\":\"[REDACTED]\"}"#,
            ),
            ("Cookie: session=abc; theme=dark", "Cookie: [REDACTED]"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- done",
                "[REDACTED] done",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(r(input), want, "{input}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for s in [
            "GET /v1/models 200 in 12ms",
            "ts=2026-01-01T00:00:00.000Z level=info msg=\"ready\"",
            "max_tokens=512 prompt_tokens=120",
            "bearer of bad news",
            "epoch 1767225600123456789",
            "http://example.com:8080/path",
            "user@example.com logged in",
            "password reset requested for user 42",
        ] {
            assert_eq!(r(s), s);
        }
    }

    #[test]
    fn json_field_values_are_redacted_structurally() {
        let red = Redactor::new();
        let out = red.redact_field(
            "body",
            r#"{"db":{"password":{"old":"a","new":"b"}},"q":"x"}"#,
        );
        assert_eq!(out, r#"{"db":{"password":"[REDACTED]"},"q":"x"}"#);
        let nested = red.redact_field("body", r#"{"inner":"{\"api_key\":\"k\"}"}"#);
        assert_eq!(nested, r#"{"inner":"{\"api_key\":\"[REDACTED]\"}"}"#);
    }

    #[test]
    fn idempotent_on_examples() {
        let red = Redactor::builder()
            .replacement("<redacted secret>")
            .build()
            .unwrap();
        for s in [
            "password=a b",
            "Authorization: Bearer abc123def456",
            "x://u:p@h",
            "postgres://password=u:p@h",
            "token=\"a\"",
        ] {
            let once = red.redact(s).into_owned();
            assert_eq!(red.redact(&once), once, "{s}");
        }
    }

    #[test]
    fn rejects_bad_configuration() {
        assert!(matches!(
            Redactor::builder().pattern("("),
            Err(Error::Pattern { .. })
        ));
        assert!(matches!(
            Redactor::builder().pattern(r"\[\w+\]").unwrap().build(),
            Err(Error::PatternMatchesReplacement { .. })
        ));
        assert!(matches!(
            Redactor::builder().replacement("").build(),
            Err(Error::Replacement(_))
        ));
    }
}
