//! The ECS JSON encoder: one event, one line.
//!
//! Layout, following the ecs-logging spec and what Logstash's `json_lines` codec needs:
//!
//! 1. `@timestamp`, `log.level`, `message` first (spec: "must be respected");
//! 2. then `ecs.version`, `service.*`, `event.dataset`, `log.logger`, `trace.id`, `span.id` as
//!    top-level dotted keys, as ecs-logging writes them;
//! 3. then every other ECS field as nested objects (`"event":{"hash":...}`, `"host":{"name":...}`,
//!    `"http":{"request":{"method":...}}`), so `host` is an object even for a Logstash input
//!    running without ECS compatibility, and `[event][hash]` is addressable in a pipeline;
//! 4. then `labels`: user fields that are not ECS names, keys de-dotted (`.`, `*`, `\` become
//!    `_`) and values stringified, as ECS requires for `labels`.
//!
//! No key is written twice: the layer's own names are reserved (a user field with such a name
//! goes to `labels`), the last value recorded under a name wins, an event's field wins over
//! the same field on a span, and an inner span wins over an outer one.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use super::EventView;
use super::fields::{is_ecs, is_reserved};
use super::json;
use crate::record::{Record, Val};

/// The ECS version written in `ecs.version`.
pub const ECS_VERSION: &str = "8.11.0";

/// Pre-rendered parts of every line, built once per layer.
#[derive(Debug, Clone)]
pub(crate) struct EcsStatic {
    /// `,"ecs.version":...,"service.name":...,...,"event.dataset":...` (escaped).
    header: Vec<u8>,
    /// `host.name` as a JSON string.
    host_json: Vec<u8>,
    id: u64,
    pid: u32,
    origin: bool,
    extra_ecs: Vec<String>,
}

impl EcsStatic {
    pub(crate) fn new(
        service: &crate::builder::ServiceInfo,
        host_name: String,
        pid: u32,
        origin: bool,
        extra_ecs: Vec<String>,
    ) -> EcsStatic {
        let mut header = Vec::new();
        let mut put = |k: &str, v: &str| {
            header.push(b',');
            json::key(&mut header, k);
            json::string(&mut header, v);
        };
        put("ecs.version", ECS_VERSION);
        put("service.name", &service.name);
        if let Some(v) = &service.version {
            put("service.version", v);
        }
        if let Some(v) = &service.environment {
            put("service.environment", v);
        }
        if let Some(v) = &service.node_name {
            put("service.node.name", v);
        }
        put("event.dataset", &service.name);
        let mut host_json = Vec::new();
        json::string(&mut host_json, &host_name);
        static NEXT: AtomicU64 = AtomicU64::new(1);
        EcsStatic {
            header,
            host_json,
            id: NEXT.fetch_add(1, AtomicOrdering::Relaxed),
            pid,
            origin,
            extra_ecs,
        }
    }

    /// Where a user field goes, remembered per thread for each `'static` name.
    fn class(&self, key: &'static str) -> KeyClass {
        const SLOTS: usize = 256;
        thread_local! {
            static CACHE: RefCell<[(u64, usize, usize, KeyClass); SLOTS]> =
                const { RefCell::new([(0, 0, 0, KeyClass::Label); SLOTS]) };
        }
        let (ptr, len) = (key.as_ptr() as usize, key.len());
        let slot = (ptr ^ (ptr >> 9) ^ len.wrapping_mul(31)) % SLOTS;
        let compute = || {
            if !is_reserved(key) && (is_ecs(key) || self.extra_ecs.iter().any(|k| k == key)) {
                KeyClass::Ecs
            } else {
                KeyClass::Label
            }
        };
        CACHE
            .try_with(|c| {
                let mut c = c.borrow_mut();
                let e = &mut c[slot];
                if e.0 == self.id && e.1 == ptr && e.2 == len {
                    return e.3;
                }
                let v = compute();
                *e = (self.id, ptr, len, v);
                v
            })
            .unwrap_or_else(|_| compute())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyClass {
    Ecs,
    Label,
}

/// A value in the nested part. No borrowed data, so the buffers can be reused across events.
#[derive(Clone, Copy)]
enum Nv {
    Val(Val),
    ErrMessage,
    ErrType,
    ErrChain,
    Hash,
    Host,
    Static(&'static str),
    U64(u64),
}

#[derive(Clone, Copy)]
struct Item {
    path: &'static str,
    v: Nv,
}

/// Per-thread buffers of the encoder, reused from event to event.
#[derive(Default)]
pub(crate) struct EcsScratch {
    items: Vec<Item>,
    labels: Vec<(&'static str, Val)>,
}

impl std::fmt::Debug for EcsScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsScratch").finish_non_exhaustive()
    }
}

/// Writes the event as one ECS JSON line (with the trailing `\n`) into `out`.
pub(crate) fn encode(st: &EcsStatic, ev: &EventView<'_>, sc: &mut EcsScratch, out: &mut Vec<u8>) {
    let rec = ev.rec;
    out.extend_from_slice(b"{\"@timestamp\":\"");
    out.extend_from_slice(ev.timestamp.as_bytes());
    out.extend_from_slice(b"\",\"log.level\":\"");
    out.extend_from_slice(super::level_upper(ev.level).as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    json::string(out, rec.message());
    out.extend_from_slice(&st.header);
    out.extend_from_slice(b",\"log.logger\":");
    json::string(out, ev.target);
    if let Some(r) = rec.trace_id.clone() {
        out.extend_from_slice(b",\"trace.id\":");
        json::string(out, rec.str(r));
    }
    if let Some(r) = rec.span_id.clone() {
        out.extend_from_slice(b",\"span.id\":");
        json::string(out, rec.str(r));
    }

    // Nested part: the layer's own fields, then user ECS fields.
    let items = &mut sc.items;
    let labels = &mut sc.labels;
    items.clear();
    labels.clear();
    // The layer's own fields, pushed in path order so only user fields need placing.
    let mut own = |path: &'static str, v: Nv| items.push(Item { path, v });
    if let Some(e) = &rec.error {
        if !e.message.is_empty() {
            own("error.message", Nv::ErrMessage);
        }
        if !e.chain.is_empty() {
            own("error.stack_trace", Nv::ErrChain);
        }
        if !e.kind.is_empty() {
            own("error.type", Nv::ErrType);
        }
    }
    if ev.hash.is_some() {
        own("event.hash", Nv::Hash);
    }
    own("event.sequence", Nv::U64(ev.sequence));
    own("host.name", Nv::Host);
    if st.origin {
        if let Some(l) = ev.line {
            own("log.origin.file.line", Nv::U64(u64::from(l)));
        }
        if let Some(f) = ev.file {
            own("log.origin.file.name", Nv::Static(f));
        }
    }
    own("process.pid", Nv::U64(u64::from(st.pid)));
    debug_assert!(
        items
            .windows(2)
            .all(|w| cmp_path(w[0].path, w[1].path) == Ordering::Less)
    );
    let ours = items.len();
    for f in &rec.fields {
        if st.class(f.key) == KeyClass::Ecs {
            // A user's error.* replaces what the layer derived from a recorded error.
            if f.key.starts_with("error.")
                && let Some(i) = items[..ours].iter().position(|it| it.path == f.key)
            {
                items[i].v = Nv::Val(f.val);
                continue;
            }
            let at = items.partition_point(|it| cmp_path(it.path, f.key) != Ordering::Greater);
            items.insert(
                at,
                Item {
                    path: f.key,
                    v: Nv::Val(f.val),
                },
            );
        } else {
            labels.push((f.key, f.val));
        }
    }
    // A path that is also an object prefix of the next one would make a duplicate key.
    let mut i = 1;
    while i < items.len() {
        let (prev, cur) = (items[i - 1].path, items[i].path);
        if cur == prev
            || (cur.len() > prev.len()
                && cur.starts_with(prev)
                && cur.as_bytes()[prev.len()] == b'.')
        {
            let it = items.remove(i);
            if let Nv::Val(v) = it.v {
                labels.push((it.path, v));
            }
        } else {
            i += 1;
        }
    }
    write_tree(out, st, ev, items);
    if !labels.is_empty() || !ev.spans.is_empty() {
        write_labels(out, rec, ev.spans, labels);
    }
    out.extend_from_slice(b"}\n");
}

/// Orders dotted paths segment by segment (`.` sorts before every other byte), so every
/// `a.b.*` follows `a.b` directly.
fn cmp_path(a: &str, b: &str) -> Ordering {
    let key = |c: u8| if c == b'.' { 0 } else { c };
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (&x, &y) in a.iter().zip(b) {
        if x != y {
            return key(x).cmp(&key(y));
        }
    }
    a.len().cmp(&b.len())
}

/// The parent part and the leaf of a dotted path (`a.b` and `c` of `a.b.c`).
fn split_leaf(path: &str) -> (&str, &str) {
    match path.bytes().rposition(|c| c == b'.') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Length of the longest common prefix of two parent paths that ends on a segment boundary.
fn common_segments(a: &str, b: &str) -> usize {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let mut last = 0;
    let mut i = 0;
    while i < x.len() && i < y.len() && x[i] == y[i] {
        i += 1;
        if x[i - 1] == b'.' {
            last = i;
        }
    }
    let whole = |s: &[u8], i: usize| i == s.len() || s[i] == b'.';
    if whole(x, i) && whole(y, i) { i } else { last }
}

fn segments(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.bytes().filter(|&c| c == b'.').count() + 1
    }
}

fn write_tree(out: &mut Vec<u8>, st: &EcsStatic, ev: &EventView<'_>, items: &[Item]) {
    let mut pp = "";
    for it in items {
        let (cp, leaf) = split_leaf(it.path);
        let common = common_segments(pp, cp);
        for _ in 0..segments(pp[common..].trim_start_matches('.')) {
            out.push(b'}');
        }
        for seg in cp[common..].split('.').filter(|s| !s.is_empty()) {
            push_member_sep(out);
            json::key(out, seg);
            out.push(b'{');
            // The first member of a fresh object must not be preceded by a comma.
            out.push(b'\x00');
        }
        push_member_sep(out);
        json::key(out, leaf);
        write_nv(out, st, ev, it.v);
        pp = cp;
    }
    for _ in 0..segments(pp) {
        out.push(b'}');
    }
}

/// Writes the separator before an object member: `,` unless the object was just opened
/// (marked by a placeholder byte, which is removed).
fn push_member_sep(out: &mut Vec<u8>) {
    if out.last() == Some(&b'\x00') {
        out.pop();
    } else {
        out.push(b',');
    }
}

fn write_nv(out: &mut Vec<u8>, st: &EcsStatic, ev: &EventView<'_>, v: Nv) {
    let rec = ev.rec;
    let err = rec.error.as_ref();
    match v {
        Nv::ErrMessage => json::string(out, err.map_or("", |e| rec.str(e.message.clone()))),
        Nv::ErrType => json::string(out, err.map_or("", |e| rec.str(e.kind.clone()))),
        Nv::ErrChain => json::string(out, err.map_or("", |e| rec.str(e.chain.clone()))),
        Nv::Hash => json::string(out, ev.hash.unwrap_or("")),
        Nv::Host => out.extend_from_slice(&st.host_json),
        Nv::Static(s) => json::string(out, s),
        Nv::U64(n) => json::int(out, n),
        Nv::Val(v) => write_val(out, rec, v),
    }
}

pub(crate) fn write_val(out: &mut Vec<u8>, rec: &Record, v: Val) {
    match v {
        Val::Str(a, b) => json::string(out, &rec.arena[a as usize..b as usize]),
        Val::I64(x) => json::int(out, x),
        Val::U64(x) => json::int(out, x),
        Val::I128(x) => json::int(out, x),
        Val::U128(x) => json::int(out, x),
        Val::F64(x) => json::float(out, x),
        Val::Bool(x) => out.extend_from_slice(if x { b"true" } else { b"false" }),
    }
}

fn write_labels(out: &mut Vec<u8>, rec: &Record, spans: &str, labels: &[(&'static str, Val)]) {
    out.extend_from_slice(b",\"labels\":{");
    let mut first = true;
    let has_spans = !spans.is_empty();
    let mut member = |out: &mut Vec<u8>, key: &str, idx: usize| -> bool {
        // Keys that collide once de-dotted: the first one wins.
        if (has_spans && idx < usize::MAX && same_label("spans", key))
            || labels[..idx.min(labels.len())]
                .iter()
                .any(|(w, _)| same_label(w, key))
        {
            return false;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        let start = out.len();
        json::string_body(out, key);
        for b in &mut out[start..] {
            if matches!(*b, b'.' | b'*') {
                *b = b'_';
            }
        }
        // A backslash in a key was escaped as `\\`; ECS wants `_` for it.
        dedupe_backslashes(out, start);
        out.extend_from_slice(b"\":");
        true
    };
    if has_spans && member(out, "spans", usize::MAX) {
        json::string(out, spans);
    }
    for (idx, &(k, v)) in labels.iter().enumerate() {
        if !member(out, k, idx) {
            continue;
        }
        match v {
            Val::Str(..) => write_val(out, rec, v),
            _ => {
                out.push(b'"');
                write_val(out, rec, v);
                out.push(b'"');
            }
        }
    }
    out.push(b'}');
}

/// Replaces each escaped backslash (`\\`) after `start` with `_`.
fn dedupe_backslashes(out: &mut Vec<u8>, start: usize) {
    if !out[start..].contains(&b'\\') {
        return;
    }
    let mut tail = out.split_off(start);
    let mut i = 0;
    while i < tail.len() {
        if tail[i] == b'\\' && tail.get(i + 1) == Some(&b'\\') {
            out.push(b'_');
            i += 2;
        } else if tail[i] == b'\\' {
            // Another escape sequence (a control character): keep both bytes.
            out.extend_from_slice(&tail[i..(i + 2).min(tail.len())]);
            i += 2;
        } else {
            out.push(tail[i]);
            i += 1;
        }
    }
    tail.clear();
}

fn same_label(a: &str, b: &str) -> bool {
    let norm = |c: u8| {
        if matches!(c, b'.' | b'*' | b'\\') {
            b'_'
        } else {
            c
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}
