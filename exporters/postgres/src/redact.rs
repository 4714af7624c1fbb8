//! The one routine that removes passwords from connection strings, for every DSN form
//! postgres_exporter users write (upstream issues #57, #181, #513, #643, #1042, #1111).
//!
//! [`redact_dsn`] never fails and never needs the input to be valid: a malformed DSN (the
//! case that leaked in upstream's error messages) is redacted as carefully as a good one.
//! Where the boundaries are ambiguous it removes too much rather than too little.

use std::borrow::Cow;

/// What a password is replaced with.
pub const REDACTED: &str = "xxxxx";

/// Returns `text` with every password in it replaced by [`REDACTED`]:
///
/// - URI user info: `postgresql://user:secret@host/db` → `postgresql://user:xxxxx@host/db`
///   (any `scheme://`; several URIs in one string, as in a comma-separated
///   `DATA_SOURCE_NAME`, are each redacted);
/// - a `password` parameter in a URI query or in `key=value` form, quoted or not:
///   `?sslmode=disable&password=secret`, `host=db password='it''s secret' user=u`,
///   `password = secret`. Any key ending in `password` (`sslpassword`) counts.
///
/// ```
/// use aiplatform_postgres_exporter::redact_dsn;
///
/// assert_eq!(redact_dsn("postgresql://u:pw@db:5432/x"), "postgresql://u:xxxxx@db:5432/x");
/// assert_eq!(redact_dsn("host=db password='a b' user=u"), "host=db password=xxxxx user=u");
/// assert_eq!(redact_dsn("postgres://db/x?password=pw&sslmode=disable"),
///            "postgres://db/x?password=xxxxx&sslmode=disable");
/// ```
pub fn redact_dsn(text: &str) -> Cow<'_, str> {
    let step1 = redact_userinfo(text);
    match redact_password_params(&step1) {
        Cow::Borrowed(_) => step1,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Replaces the password of every `scheme://user:password@` in `text`.
fn redact_userinfo(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let start = search + found + 3;
        // The authority of this URI runs to the next whitespace or the next `scheme://`
        // (comma-separated DSN lists); a password may contain '/', '?', '#', ',' and '@'
        // unescaped, so the user info ends at the last '@' before that point.
        let mut end = text[start..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| start + i);
        if let Some(next) = next_uri_in_list(&text[start..end]) {
            end = start + next;
        }
        if let Some(at) = text[start..end].rfind('@') {
            let userinfo = &text[start..start + at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = start + colon + 1;
                let pw_end = start + at;
                if pw_end > pw_start {
                    out.push_str(&text[copied..pw_start]);
                    out.push_str(REDACTED);
                    copied = pw_end;
                }
            }
        }
        search = end.max(start);
    }
    if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// Where the next URI of a comma-separated list (`...,postgres://` or `...,postgresql://`)
/// starts in `rest`, pointing at the comma.
fn next_uri_in_list(rest: &str) -> Option<usize> {
    let lower = rest.to_ascii_lowercase();
    [",postgresql://", ",postgres://"]
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
}

/// Replaces the value of every `...password=value` parameter (URI query or `key=value`).
fn redact_password_params(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("password") {
        let key_end = search + found + "password".len();
        search = key_end;
        // Optional blanks, then '='.
        let rest = &text[key_end..];
        let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let Some(after_eq) = rest[blanks..].strip_prefix('=') else {
            continue;
        };
        let value_start = key_end + blanks + 1;
        let lead = after_eq.len() - after_eq.trim_start_matches([' ', '\t']).len();
        let value_start = value_start + lead;
        let value_end = value_end(text, value_start);
        if value_end > value_start && value_start >= copied {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = value_end;
        }
        search = value_end.max(search);
    }
    if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// Where a parameter value starting at `start` ends: a single-quoted libpq value ends at
/// its closing quote (with `\'` and `''` escapes); a plain one at whitespace, `&` (URI
/// query) or the end. An unterminated quote runs to the end of the text.
fn value_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    if bytes.get(start) == Some(&b'\'') {
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                b'\'' => return i + 1,
                _ => i += 1,
            }
        }
        return text.len();
    }
    text[start..]
        .find(|c: char| c.is_whitespace() || c == '&')
        .map_or(text.len(), |i| start + i)
}

/// Removes known secret strings (a parsed password and its URI-escaped form) from a message
/// that came from elsewhere (a server error, a library's `Display`), then applies
/// [`redact_dsn`]. The second line of defence for errors we did not format ourselves.
pub fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut s = message.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 3) {
        if s.contains(secret) {
            s = s.replace(secret, REDACTED);
        }
        let escaped = crate::dsn::percent_encode(secret);
        if escaped != **secret && s.contains(&escaped) {
            s = s.replace(&escaped, REDACTED);
        }
    }
    redact_dsn(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uri_forms() {
        for (input, want) in [
            (
                "postgresql://u:pw@h:5432/db",
                "postgresql://u:xxxxx@h:5432/db",
            ),
            (
                "postgres://u:pw@h/db?sslmode=disable",
                "postgres://u:xxxxx@h/db?sslmode=disable",
            ),
            ("postgresql://:pw@h", "postgresql://:xxxxx@h"),
            ("postgresql://u@h/db", "postgresql://u@h/db"),
            ("postgresql://h/db", "postgresql://h/db"),
            ("postgresql://u:p@ss/w#rd@h/db", "postgresql://u:xxxxx@h/db"),
            (
                "postgresql://a:one@h1/db,postgresql://b:two@h2/db",
                "postgresql://a:xxxxx@h1/db,postgresql://b:xxxxx@h2/db",
            ),
            (
                "error connecting to postgresql://u:pw@h/db: refused",
                "error connecting to postgresql://u:xxxxx@h/db: refused",
            ),
            ("postgresql://u:pw%40x@h/db", "postgresql://u:xxxxx@h/db"),
        ] {
            assert_eq!(redact_dsn(input), want, "{input}");
        }
    }

    #[test]
    fn query_parameter_forms() {
        for (input, want) in [
            (
                "postgresql://h/db?password=pw",
                "postgresql://h/db?password=xxxxx",
            ),
            (
                "postgresql://h/db?user=u&password=pw&sslmode=disable",
                "postgresql://h/db?user=u&password=xxxxx&sslmode=disable",
            ),
            (
                "postgresql://h/db?PASSWORD=pw",
                "postgresql://h/db?PASSWORD=xxxxx",
            ),
            (
                "postgresql://h/db?sslpassword=pw",
                "postgresql://h/db?sslpassword=xxxxx",
            ),
        ] {
            assert_eq!(redact_dsn(input), want, "{input}");
        }
    }

    #[test]
    fn key_value_forms() {
        for (input, want) in [
            ("host=h password=pw user=u", "host=h password=xxxxx user=u"),
            (
                "host=h password = pw user=u",
                "host=h password = xxxxx user=u",
            ),
            ("password='a b c' host=h", "password=xxxxx host=h"),
            (r"password='it\'s' host=h", "password=xxxxx host=h"),
            ("password='it''s' host=h", "password=xxxxx host=h"),
            ("password='unterminated host=h", "password=xxxxx"),
            ("host=h password=", "host=h password="),
            ("user=u\tpassword=pw", "user=u\tpassword=xxxxx"),
        ] {
            assert_eq!(redact_dsn(input), want, "{input}");
        }
    }

    #[test]
    fn nothing_to_redact_borrows() {
        assert!(matches!(redact_dsn("host=h user=u"), Cow::Borrowed(_)));
        assert!(matches!(redact_dsn("no dsn here"), Cow::Borrowed(_)));
    }

    #[test]
    fn scrub_removes_literal_and_escaped_secrets() {
        let msg = "server said: password \"s3cr#t\" wrong; dsn postgresql://u:s3cr%23t@h";
        let out = scrub(msg, &["s3cr#t"]);
        assert!(!out.contains("s3cr"), "{out}");
    }

    proptest! {
        #[test]
        fn uri_password_never_survives(
            user in "[a-z]{1,8}",
            tail in "[A-Za-z0-9!#$%^*()_+=/?@,;:~-]{1,24}",
            host in "[a-z]{1,10}",
        ) {
            let pw = format!("QZ{tail}");
            let dsn = format!("postgresql://{user}:{pw}@{host}:5432/db?sslmode=disable");
            let out = redact_dsn(&dsn);
            prop_assert!(!out.contains("QZ"), "{}", out);
        }

        #[test]
        fn key_value_password_never_survives(
            tail in "[A-Za-z0-9!#$%^*()_+/?@,;:~-]{1,24}",
            quoted in any::<bool>(),
        ) {
            let pw = format!("QZ{tail}");
            let value = if quoted { format!("'{pw} x'") } else { pw.clone() };
            let dsn = format!("host=db port=5432 password={value} user=monitor dbname=postgres");
            let out = redact_dsn(&dsn);
            prop_assert!(!out.contains(&pw), "{}", out);
            prop_assert!(out.contains("user=monitor"));
        }

        #[test]
        fn query_password_never_survives(tail in "[A-Za-z0-9!#$%^*()_+/?@,;:~-]{1,24}") {
            let pw = format!("QZ{tail}");
            let dsn = format!("postgres://db:5432/postgres?sslmode=disable&password={pw}");
            let out = redact_dsn(&dsn);
            prop_assert!(!out.contains(&pw), "{}", out);
        }

        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = redact_dsn(&s);
        }
    }
}
