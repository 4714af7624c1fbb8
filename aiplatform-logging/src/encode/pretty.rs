//! Human-readable lines for development:
//! `2026-01-02T03:04:05.678Z  INFO request>db app::store: message key=value`.
//!
//! Same fields and the same redaction as the JSON output; only the layout differs. Colours
//! (ANSI) are optional.

use super::EventView;
use crate::record::{Val, write_scalar};

/// Writes the event as one human-readable line (with the trailing `\n`) into `out`.
pub(crate) fn encode(ev: &EventView<'_>, ansi: bool, out: &mut Vec<u8>) {
    let rec = ev.rec;
    let (dim, reset) = if ansi {
        ("\x1b[2m", "\x1b[0m")
    } else {
        ("", "")
    };
    let color = match ev.level {
        tracing::Level::ERROR => "\x1b[31m",
        tracing::Level::WARN => "\x1b[33m",
        tracing::Level::INFO => "\x1b[32m",
        tracing::Level::DEBUG => "\x1b[34m",
        tracing::Level::TRACE => "\x1b[35m",
    };
    push(out, dim);
    push(out, ev.timestamp);
    push(out, reset);
    out.push(b' ');
    if ansi {
        push(out, color);
    }
    let level = super::level_upper(ev.level);
    for _ in level.len()..5 {
        out.push(b' ');
    }
    push(out, level);
    push(out, reset);
    out.push(b' ');
    if !ev.spans.is_empty() {
        one_line(out, ev.spans);
        out.push(b' ');
    }
    push(out, dim);
    push(out, ev.target);
    push(out, ":");
    push(out, reset);
    out.push(b' ');
    one_line(out, rec.message());
    let mut tmp = String::new();
    for f in &rec.fields {
        out.push(b' ');
        push(out, dim);
        push(out, f.key);
        push(out, "=");
        push(out, reset);
        match f.val {
            Val::Str(..) => one_line(out, rec.val_str(f.val).unwrap_or("")),
            v => {
                tmp.clear();
                let _ = write_scalar(&mut tmp, v);
                push(out, &tmp);
            }
        }
    }
    if let Some(e) = &rec.error {
        push(out, " error=");
        let chain = rec.str(e.chain.clone());
        one_line(
            out,
            if chain.is_empty() {
                rec.str(e.message.clone())
            } else {
                chain
            },
        );
    }
    if let Some(r) = rec.trace_id.clone() {
        push(out, " trace.id=");
        one_line(out, rec.str(r));
    }
    out.push(b'\n');
}

fn push(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// Copies `s` with line breaks and other control characters escaped, so one event stays on
/// one line (and a logged string cannot forge a second event).
fn one_line(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '\n' => push(out, "\\n"),
            '\r' => push(out, "\\r"),
            '\t' => push(out, "\\t"),
            c if c.is_control() => push(out, &format!("\\u{{{:x}}}", c as u32)),
            c => {
                let mut b = [0u8; 4];
                push(out, c.encode_utf8(&mut b));
            }
        }
    }
}
