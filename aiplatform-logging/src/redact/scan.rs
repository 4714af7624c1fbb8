//! The built-in value detectors, run together in one left-to-right pass over a string.
//!
//! The pass looks at each byte once through a class table. Only digits, `=`, `:` and a few
//! letters at the start of a word can begin a secret; everything else is skipped at the cost
//! of one table lookup. At a candidate the matching detector checks the bytes that follow and
//! reports the byte range to replace:
//!
//! | detector | example | what is replaced |
//! |---|---|---|
//! | key = value | `password=x`, `"token": "x"`, `?api_key=x&`, `Authorization: Bearer x` | the value (the credential after an auth scheme) |
//! | URL user info | `postgres://app:x@db/app`, `redis://:x@cache` | the password |
//! | bearer token | `Bearer eyJhbGc...` | the token |
//! | JWT | `eyJhbGciOi...` three base64url parts | the token |
//! | cloud and SaaS keys | `AKIA`/`ASIA` + 16, `AIza` + 35, `ghp_`, `github_pat_`, `glpat-`, `xoxb-`, `sk_live_`, `sk-` | the key |
//! | PEM private key | `-----BEGIN RSA PRIVATE KEY-----` ... | the whole block |
//! | card number | 13-19 digits, optional single spaces or dashes, issuer prefix and Luhn valid | the number |
//!
//! A value that already starts with the replacement text is left alone; that, and never
//! matching inside the replacement, is what makes redaction idempotent.

use super::card::is_card;
use super::keys::KeyMatcher;

const C_NONE: u8 = 0;
const C_DIGIT: u8 = 1;
const C_SEP: u8 = 2;
const C_LETTER: u8 = 3;

static CLASS: [u8; 256] = {
    let mut t = [C_NONE; 256];
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = C_DIGIT;
        d += 1;
    }
    t[b'=' as usize] = C_SEP;
    t[b':' as usize] = C_SEP;
    let letters = b"eAbBxsrg-";
    let mut i = 0;
    while i < letters.len() {
        t[letters[i] as usize] = C_LETTER;
        i += 1;
    }
    t
};

/// One scan over `s`, appending the byte ranges to replace (in increasing order of start).
pub(crate) fn scan(s: &[u8], keys: &KeyMatcher, repl: &[u8], spans: &mut Vec<(usize, usize)>) {
    let sc = Scan { s, keys, repl };
    let n = s.len();
    let mut i = 0;
    while i < n {
        let c = s[i];
        match CLASS[c as usize] {
            C_NONE => i += 1,
            C_DIGIT => {
                if sc.word_start(i) {
                    let (end, hit) = sc.card(i);
                    if let Some(span) = hit {
                        spans.push(span);
                    }
                    i = end;
                } else {
                    i = sc.run(i, is_word);
                }
            }
            C_SEP => i = sc.separator(i, spans),
            _ => {
                if sc.word_start(i)
                    && let Some(span) = sc.literal(i)
                {
                    spans.push(span);
                    i = span.1;
                    continue;
                }
                i += 1;
            }
        }
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'[')
}

fn is_token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

struct Scan<'a> {
    s: &'a [u8],
    keys: &'a KeyMatcher,
    repl: &'a [u8],
}

impl Scan<'_> {
    fn word_start(&self, i: usize) -> bool {
        i == 0 || !is_word(self.s[i - 1])
    }

    fn run(&self, mut i: usize, f: impl Fn(u8) -> bool) -> usize {
        while i < self.s.len() && f(self.s[i]) {
            i += 1;
        }
        i
    }

    fn already_redacted(&self, at: usize) -> bool {
        self.s[at..].starts_with(self.repl)
    }

    /// A run of digit groups starting at `i`; returns where it ends and the card inside it.
    fn card(&self, i: usize) -> (usize, Option<(usize, usize)>) {
        const MAX_GROUPS: usize = 10;
        let s = self.s;
        let mut groups = [(0usize, 0usize); MAX_GROUPS];
        let mut g = 0;
        let mut j = i;
        loop {
            let start = j;
            j = self.run(j, |c| c.is_ascii_digit());
            groups[g] = (start, j);
            g += 1;
            if g < MAX_GROUPS
                && j + 1 < s.len()
                && matches!(s[j], b' ' | b'-')
                && s[j + 1].is_ascii_digit()
            {
                j += 1;
            } else {
                break;
            }
        }
        let end = j;
        if end < s.len() && is_word(s[end]) {
            return (self.run(end, is_word), None);
        }
        let digits =
            |a: usize, b: usize| -> usize { groups[a..=b].iter().map(|(x, y)| y - x).sum() };
        let check = |a: usize, b: usize| -> bool {
            let mut buf = [0u8; 19];
            let mut k = 0;
            for &(x, y) in &groups[a..=b] {
                buf[k..k + (y - x)].copy_from_slice(&s[x..y]);
                k += y - x;
            }
            is_card(&buf[..k])
        };
        for a in 0..g {
            for b in (a..g).rev() {
                if (13..=19).contains(&digits(a, b)) && check(a, b) {
                    return (end, Some((groups[a].0, groups[b].1)));
                }
            }
        }
        (end, None)
    }

    /// `=` or `:` at `i`: a URL's user info or a `key=value` pair with a sensitive key.
    fn separator(&self, i: usize, spans: &mut Vec<(usize, usize)>) -> usize {
        let s = self.s;
        if s[i] == b':' && s[i + 1..].starts_with(b"//") {
            return self.url_userinfo(i, spans);
        }
        let Some(key) = self.key_before(i) else {
            return i + 1;
        };
        if !self.keys.is_sensitive(key) {
            return i + 1;
        }
        let mut v = i + 1;
        while v < s.len() && s[v] == b' ' && v - i <= 4 {
            v += 1;
        }
        if v >= s.len() {
            return v;
        }
        if self.already_redacted(v) {
            return v + self.repl.len();
        }
        let (vs, ve, next) = self.value_at(v, header_kind(key));
        if ve > vs && !self.already_redacted(vs) && !is_status_word(&s[vs..ve]) {
            spans.push((vs, ve));
        }
        next.max(i + 1)
    }

    /// The key that ends just before the separator at `i`: quotes, a closing bracket and a
    /// few spaces between them are allowed (`"password": `, `\"token\":`, `user[password]=`).
    fn key_before(&self, i: usize) -> Option<&[u8]> {
        let s = self.s;
        let mut k = i;
        while k > 0 && s[k - 1] == b' ' && i - k < 3 {
            k -= 1;
        }
        let mut quotes = 0;
        while k > 0 && matches!(s[k - 1], b'"' | b'\'' | b'\\') && quotes < 3 {
            k -= 1;
            quotes += 1;
        }
        if k > 0 && s[k - 1] == b']' {
            k -= 1;
        }
        let end = k;
        while k > 0 && is_key_char(s[k - 1]) && end - k < 64 {
            k -= 1;
        }
        (k < end).then(|| &s[k..end])
    }

    /// The value starting at `v`: returns the range to replace and where scanning resumes.
    fn value_at(&self, v: usize, header: Header) -> (usize, usize, usize) {
        let s = self.s;
        let n = s.len();
        match s[v] {
            b'\\' if s.get(v + 1) == Some(&b'"') => {
                let start = v + 2;
                let end = find(s, start, b"\\\"").unwrap_or(n);
                (start, end, (end + 2).min(n))
            }
            b'"' => {
                let start = v + 1;
                let mut j = start;
                while j < n && s[j] != b'"' {
                    j += if s[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(n);
                (start, end, (end + 1).min(n))
            }
            b'\'' => {
                let start = v + 1;
                let end = find(s, start, b"'").unwrap_or(n);
                (start, end, (end + 1).min(n))
            }
            b'{' | b'[' => {
                let end = balanced(s, v);
                (v, end, end)
            }
            _ => match header {
                Header::Auth => {
                    let word_end = self.run(v, |c| c.is_ascii_alphabetic());
                    if is_auth_scheme(&s[v..word_end]) && s.get(word_end) == Some(&b' ') {
                        let start = self.run(word_end, |c| c == b' ');
                        let end = self.run(start, |c| !is_value_end(c));
                        (start, end, end)
                    } else {
                        let end = self.run(v, |c| !is_value_end(c));
                        (v, end, end)
                    }
                }
                Header::Cookie => {
                    // "a=b; c=d": a space right after ';' stays inside the header value.
                    let mut j = v;
                    while j < n {
                        let c = s[j];
                        if c == b'\n' || c == b'\r' || c == b'"' || c == b'\'' || c == b'\\' {
                            break;
                        }
                        if c == b' ' && s[j - 1] != b';' {
                            break;
                        }
                        j += 1;
                    }
                    (v, j, j)
                }
                Header::None => {
                    let end = self.run(v, |c| !is_value_end(c));
                    (v, end, end)
                }
            },
        }
    }

    /// `scheme://user:password@host`: replaces the password.
    fn url_userinfo(&self, i: usize, spans: &mut Vec<(usize, usize)>) -> usize {
        let s = self.s;
        let a = i + 3;
        let mut k = i;
        while k > 0 && (s[k - 1].is_ascii_alphanumeric() || matches!(s[k - 1], b'+' | b'.' | b'-'))
        {
            k -= 1;
        }
        if k == i {
            return a;
        }
        // The user info ends at the first path, query or quoting character; a replacement
        // written by an earlier pass (which may hold `<`, `>` or spaces) is stepped over, so
        // redacting twice gives what redacting once gave.
        let mut e = a;
        while e < s.len() {
            if self.already_redacted(e) {
                e += self.repl.len();
                continue;
            }
            let c = s[e];
            if matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\')
                || c.is_ascii_whitespace()
            {
                break;
            }
            e += 1;
        }
        let Some(at) = s[a..e].iter().rposition(|&c| c == b'@').map(|p| a + p) else {
            return a;
        };
        if let Some(colon) = s[a..at].iter().position(|&c| c == b':').map(|p| a + p) {
            let pw = colon + 1;
            if pw < at && !self.already_redacted(pw) {
                spans.push((pw, at));
            }
        }
        at + 1
    }

    /// Literal-prefixed secrets at the start of a word.
    fn literal(&self, i: usize) -> Option<(usize, usize)> {
        let s = self.s;
        let rest = &s[i..];
        let len_from = |start: usize, f: fn(u8) -> bool| self.run(start, f);
        match s[i] {
            b'e' if rest.starts_with(b"eyJ") => {
                let p1 = len_from(i, is_b64url);
                if p1 - i < 10 || s.get(p1) != Some(&b'.') {
                    return None;
                }
                let p2 = len_from(p1 + 1, is_b64url);
                if p2 - p1 - 1 < 2 || s.get(p2) != Some(&b'.') {
                    return None;
                }
                Some((i, len_from(p2 + 1, is_b64url)))
            }
            b'A' => {
                if ["AKIA", "ASIA", "ABIA", "ACCA"]
                    .iter()
                    .any(|p| rest.starts_with(p.as_bytes()))
                {
                    let end = len_from(i + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
                    let boundary = end == s.len() || !is_word(s[end]);
                    return (end - i == 20 && boundary).then_some((i, end));
                }
                if rest.starts_with(b"AIza") {
                    let end = len_from(i + 4, is_b64url);
                    return (end - i >= 39).then_some((i, end));
                }
                None
            }
            b'b' | b'B' => {
                if rest.len() < 7 || !rest[..6].eq_ignore_ascii_case(b"bearer") || rest[6] != b' ' {
                    return None;
                }
                let start = len_from(i + 6, |c| c == b' ');
                if self.already_redacted(start) {
                    return None;
                }
                let mut end = len_from(start, is_token68);
                let tok = &s[start..end];
                end = len_from(end, |c| c == b'=');
                let mixed = tok.iter().any(u8::is_ascii_uppercase)
                    && tok.iter().any(u8::is_ascii_lowercase);
                let strong = tok
                    .iter()
                    .any(|&c| c.is_ascii_digit() || !c.is_ascii_alphanumeric())
                    || (mixed && tok.len() >= 20)
                    || end > start + tok.len();
                (tok.len() >= 8 && strong).then_some((start, end))
            }
            b'-' if rest.starts_with(b"-----BEGIN ") => {
                let header_end = find(s, i + 11, b"-----")?;
                let header = &s[i + 11..header_end];
                find(header, 0, b"PRIVATE KEY")?;
                let end = match find(s, header_end + 5, b"-----END ") {
                    Some(e) => find(s, e + 9, b"-----").map_or(s.len(), |f| f + 5),
                    None => s.len(),
                };
                Some((i, end))
            }
            b'x' if rest.len() > 5
                && rest.starts_with(b"xox")
                && b"baprs".contains(&rest[3])
                && rest[4] == b'-' =>
            {
                let end = len_from(i + 5, |c| c.is_ascii_alphanumeric() || c == b'-');
                (end - i >= 15).then_some((i, end))
            }
            b's' | b'r' => {
                if rest.starts_with(b"sk_live_") || rest.starts_with(b"rk_live_") {
                    let end = len_from(i + 8, |c| c.is_ascii_alphanumeric());
                    return (end - i >= 18).then_some((i, end));
                }
                if rest.starts_with(b"sk-") {
                    let end = len_from(i + 3, is_b64url);
                    let tail = &s[i + 3..end];
                    return (tail.len() >= 20 && tail.iter().any(u8::is_ascii_digit))
                        .then_some((i, end));
                }
                None
            }
            b'g' => {
                let (prefix, min, f): (usize, usize, fn(u8) -> bool) =
                    if ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
                        .iter()
                        .any(|p| rest.starts_with(p.as_bytes()))
                    {
                        (4, 30, |c| c.is_ascii_alphanumeric())
                    } else if rest.starts_with(b"github_pat_") {
                        (11, 30, is_word)
                    } else if rest.starts_with(b"glpat-") {
                        (6, 20, is_b64url)
                    } else {
                        return None;
                    };
                let end = len_from(i + prefix, f);
                (end - i - prefix >= min).then_some((i, end))
            }
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Header {
    None,
    Auth,
    Cookie,
}

fn header_kind(key: &[u8]) -> Header {
    let ends =
        |t: &[u8]| key.len() >= t.len() && key[key.len() - t.len()..].eq_ignore_ascii_case(t);
    if ends(b"cookie") {
        Header::Cookie
    } else if ends(b"authorization") || ends(b"auth") {
        Header::Auth
    } else {
        Header::None
    }
}

/// Words that describe a credential's state rather than being one (`token: expired`,
/// `authorization: denied`); leaving them keeps ordinary log lines intact.
fn is_status_word(v: &[u8]) -> bool {
    const WORDS: &[&str] = &[
        "null", "none", "nil", "true", "false", "yes", "no", "ok", "required", "missing",
        "expired", "invalid", "valid", "denied", "granted", "present", "absent", "set", "unset",
        "empty", "provided", "enabled", "disabled", "redacted", "hidden", "unknown", "rotated",
        "revoked",
    ];
    WORDS.iter().any(|w| v.eq_ignore_ascii_case(w.as_bytes()))
}

fn is_auth_scheme(w: &[u8]) -> bool {
    [
        "bearer",
        "basic",
        "digest",
        "token",
        "negotiate",
        "ntlm",
        "apikey",
        "hoba",
        "mutual",
    ]
    .iter()
    .any(|t| w.eq_ignore_ascii_case(t.as_bytes()))
}

fn is_value_end(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'&' | b';' | b',' | b'"' | b'\'' | b'}' | b')' | b']' | b'>' | b'<' | b'\\'
        )
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// End (exclusive) of the bracketed value opening at `v`, skipping brackets inside strings.
fn balanced(s: &[u8], v: usize) -> usize {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut j = v;
    while j < s.len() {
        let c = s[j];
        if in_str {
            if c == b'\\' {
                j += 1;
            } else if c == b'"' {
                in_str = false;
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return j + 1;
                    }
                }
                _ => {}
            }
        }
        j += 1;
    }
    s.len()
}
