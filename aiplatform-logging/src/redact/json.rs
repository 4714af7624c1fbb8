//! Field values that are JSON documents are redacted structurally: a sensitive key hides its
//! whole value (even an object), and every string inside is scanned, including strings that
//! are themselves JSON.

use serde_json::Value;

use super::Inner;

/// Deepest nesting of JSON-inside-a-JSON-string that is parsed; deeper strings are scanned.
pub(super) const MAX_DEPTH: u8 = 3;

/// Whether `s` may be a JSON object or array (cheap check before parsing).
pub(super) fn looks_like_json(s: &str) -> bool {
    let t = s.trim_ascii();
    (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'))
}

/// Redacts a JSON document. `None` when `s` does not parse (the caller scans it as text);
/// otherwise the number of redactions and, when there were any, the re-serialised document.
pub(super) fn redact(inner: &Inner, s: &str, depth: u8) -> Option<(usize, Option<String>)> {
    let mut value: Value = serde_json::from_str(s).ok()?;
    let n = walk(inner, &mut value, depth);
    if n == 0 {
        return Some((0, None));
    }
    Some((n, Some(value.to_string())))
}

fn walk(inner: &Inner, v: &mut Value, depth: u8) -> usize {
    match v {
        Value::Object(map) => {
            let mut n = 0;
            for (k, v) in map.iter_mut() {
                if inner.keys.is_sensitive(k) {
                    if v.as_str() != Some(inner.replacement.as_str()) {
                        *v = Value::String(inner.replacement.clone());
                        n += 1;
                    }
                } else {
                    n += walk(inner, v, depth);
                }
            }
            n
        }
        Value::Array(items) => items.iter_mut().map(|v| walk(inner, v, depth)).sum(),
        Value::String(s) => {
            let mut out = String::new();
            let n = inner.redact_text(s, &mut out, depth + 1);
            if n > 0 {
                *s = out;
            }
            n
        }
        _ => 0,
    }
}
