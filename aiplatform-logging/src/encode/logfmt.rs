//! logfmt in the go-kit style the Prometheus exporters use:
//! `ts=2026-01-01T00:00:00.000Z caller=main.rs:42 level=info msg="..." key=value`.
//!
//! Keys are the field names as recorded (span fields after event fields); a key character
//! that logfmt cannot carry (space, `=`, `"`, control) becomes `_`. A value is quoted when it
//! is empty or holds a space, `=`, `"` or a control character; inside quotes `"`, `\` and
//! control characters are escaped, so a line never breaks.

use std::fmt::Write as _;

use super::EventView;
use crate::record::{Val, write_scalar};

/// Writes the event as one logfmt line (with the trailing `\n`) into `out`.
pub(crate) fn encode(ev: &EventView<'_>, out: &mut Vec<u8>) {
    let rec = ev.rec;
    pair(out, "ts", ev.timestamp, true);
    if let (Some(file), Some(line)) = (ev.file, ev.line) {
        let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
        out.extend_from_slice(b" caller=");
        value(out, base);
        out.push(b':');
        out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
    }
    pair(out, "level", super::level_lower(ev.level), false);
    pair(out, "msg", rec.message(), false);
    if !ev.spans.is_empty() {
        pair(out, "span", ev.spans, false);
    }
    let mut tmp = String::new();
    for f in &rec.fields {
        let v = match f.val {
            Val::Str(..) => rec.val_str(f.val).unwrap_or(""),
            v => {
                tmp.clear();
                let _ = write_scalar(&mut tmp, v);
                &tmp
            }
        };
        pair(out, f.key, v, false);
    }
    if let Some(e) = &rec.error {
        pair(out, "err", rec.str(e.message.clone()), false);
        if !e.chain.is_empty() {
            pair(out, "err_chain", rec.str(e.chain.clone()), false);
        }
    }
    if let Some(r) = rec.trace_id.clone() {
        pair(out, "trace_id", rec.str(r), false);
    }
    if let Some(r) = rec.span_id.clone() {
        pair(out, "span_id", rec.str(r), false);
    }
    if let Some(h) = ev.hash {
        pair(out, "event_hash", h, false);
    }
    out.push(b'\n');
}

fn pair(out: &mut Vec<u8>, k: &str, v: &str, first: bool) {
    if !first {
        out.push(b' ');
    }
    if k.is_empty() {
        out.push(b'_');
    }
    for &b in k.as_bytes() {
        out.push(if b <= b' ' || b == b'=' || b == b'"' || b == 0x7f {
            b'_'
        } else {
            b
        });
    }
    out.push(b'=');
    value(out, v);
}

fn value(out: &mut Vec<u8>, v: &str) {
    let needs_quotes = v.is_empty()
        || v.bytes()
            .any(|b| b <= b' ' || b == b'=' || b == b'"' || b == 0x7f);
    if !needs_quotes {
        out.extend_from_slice(v.as_bytes());
        return;
    }
    out.push(b'"');
    for c in v.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if c.is_control() => {
                let _ = write!(Utf8Sink(out), "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

struct Utf8Sink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Utf8Sink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
