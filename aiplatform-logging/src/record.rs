//! One event's fields, collected and redacted once, then handed to every encoder.
//!
//! Values live in one string arena per record, so collecting an event allocates nothing once
//! the thread's scratch record has warmed up. Span fields are collected the same way when the
//! span is created or recorded, and copied into the event record when an event happens inside
//! it.

use std::fmt::{self, Write as _};
use std::ops::Range;

use tracing::field::{Field, Visit};

use crate::redact::Redactor;

/// A field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val {
    /// A string in the record's arena.
    Str(u32, u32),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
}

/// A named value recorded on an event or a span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) key: &'static str,
    pub(crate) val: Val,
}

/// The first error recorded on an event (`error.*`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ErrorInfo {
    pub(crate) message: Range<usize>,
    pub(crate) kind: Range<usize>,
    pub(crate) chain: Range<usize>,
}

/// Collected fields of an event or span.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub(crate) arena: String,
    pub(crate) fields: Vec<Entry>,
    pub(crate) message: Option<Range<usize>>,
    pub(crate) error: Option<ErrorInfo>,
    pub(crate) trace_id: Option<Range<usize>>,
    pub(crate) span_id: Option<Range<usize>>,
    pub(crate) redactions: usize,
    tmp: String,
}

impl Record {
    pub(crate) fn clear(&mut self) {
        self.arena.clear();
        self.fields.clear();
        self.message = None;
        self.error = None;
        self.trace_id = None;
        self.span_id = None;
        self.redactions = 0;
    }

    /// Makes this record a copy of what an encoder reads of `other` (not the scratch space),
    /// for another thread, in this record's buffers: a recycled record copies without
    /// allocating.
    pub(crate) fn copy_from(&mut self, other: &Record) {
        self.arena.clear();
        self.arena.push_str(&other.arena);
        self.fields.clear();
        self.fields.extend_from_slice(&other.fields);
        self.message.clone_from(&other.message);
        self.error.clone_from(&other.error);
        self.trace_id.clone_from(&other.trace_id);
        self.span_id.clone_from(&other.span_id);
        self.redactions = other.redactions;
    }

    /// Bytes of text and fields this record holds room for.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.arena.capacity() + self.fields.capacity() * size_of::<Entry>()
    }

    pub(crate) fn str(&self, r: Range<usize>) -> &str {
        &self.arena[r]
    }

    pub(crate) fn val_str(&self, v: Val) -> Option<&str> {
        match v {
            Val::Str(a, b) => Some(&self.arena[a as usize..b as usize]),
            _ => None,
        }
    }

    /// Sets the message of a record the library makes itself (not redacted: no user data).
    pub(crate) fn synthetic_message(&mut self, s: &str) {
        self.message = Some(self.push_str(s));
    }

    /// Adds a field to a record the library makes itself.
    pub(crate) fn synthetic_field(&mut self, key: &'static str, val: Val) {
        self.set(key, val);
    }

    /// Adds a text field to a record the library makes itself (redacted by the caller).
    pub(crate) fn synthetic_str_field(&mut self, key: &'static str, s: &str) {
        let r = self.push_str(s);
        self.set(key, Val::Str(r.start as u32, r.end as u32));
    }

    pub(crate) fn message(&self) -> &str {
        self.message.clone().map_or("", |r| &self.arena[r])
    }

    fn push_str(&mut self, s: &str) -> Range<usize> {
        let start = self.arena.len();
        self.arena.push_str(s);
        start..self.arena.len()
    }

    /// Redacts `value` (judged by `key`) into the arena.
    fn push_redacted(
        &mut self,
        redactor: &Redactor,
        key: &'static str,
        value: &str,
    ) -> Range<usize> {
        let start = self.arena.len();
        let n = redactor.redact_static_into(key, value, &mut self.arena);
        if n == 0 {
            self.arena.truncate(start);
            self.arena.push_str(value);
        }
        self.redactions += n;
        start..self.arena.len()
    }

    /// Adds or replaces a field (the last value recorded under a key wins).
    fn set(&mut self, key: &'static str, val: Val) {
        match self.fields.iter_mut().find(|e| same_key(e.key, key)) {
            Some(e) => e.val = val,
            None => self.fields.push(Entry { key, val }),
        }
    }

    fn set_str(&mut self, redactor: &Redactor, key: &'static str, value: &str) {
        match key {
            "message" => self.message = Some(self.push_redacted(redactor, key, value)),
            "trace_id" | "trace.id" | "otel.trace_id" => {
                self.trace_id = Some(self.push_redacted(redactor, key, value))
            }
            "span_id" | "span.id" | "otel.span_id" => {
                self.span_id = Some(self.push_redacted(redactor, key, value))
            }
            _ => {
                let r = self.push_redacted(redactor, key, value);
                self.set(key, Val::Str(r.start as u32, r.end as u32));
            }
        }
    }

    fn set_scalar(&mut self, redactor: &Redactor, key: &'static str, val: Val) {
        if redactor.static_key_sensitive(key) {
            let r = self.push_str(redactor.replacement());
            self.redactions += 1;
            self.set(key, Val::Str(r.start as u32, r.end as u32));
        } else if matches!(
            key,
            "message" | "trace_id" | "span_id" | "trace.id" | "span.id"
        ) {
            // Numbers under these names are still text for the header fields.
            let mut tmp = std::mem::take(&mut self.tmp);
            tmp.clear();
            let _ = write_scalar(&mut tmp, val);
            self.set_str(redactor, key, &tmp);
            self.tmp = tmp;
        } else {
            self.set(key, val);
        }
    }

    fn set_error(
        &mut self,
        redactor: &Redactor,
        key: &'static str,
        err: &(dyn std::error::Error + 'static),
    ) {
        let mut tmp = std::mem::take(&mut self.tmp);
        tmp.clear();
        let _ = write!(tmp, "{err}");
        if self.error.is_some() || redactor.static_key_sensitive(key) {
            self.set_str(redactor, key, &tmp);
            self.tmp = tmp;
            return;
        }
        let message = self.push_redacted(redactor, "error.message", &tmp);
        tmp.clear();
        error_type(err, &mut tmp);
        let kind = self.push_str(&tmp);
        tmp.clear();
        let mut source = err.source();
        if source.is_some() {
            let _ = write!(tmp, "{err}");
            while let Some(s) = source {
                let _ = write!(tmp, "\ncaused by: {s}");
                source = s.source();
            }
        }
        let chain = self.push_redacted(redactor, "error.stack_trace", &tmp);
        self.error = Some(ErrorInfo {
            message,
            kind,
            chain,
        });
        self.tmp = tmp;
    }

    /// Copies a span's fields that the event (or an inner span) did not set.
    pub(crate) fn inherit(&mut self, span: &Record) {
        for e in &span.fields {
            if self.fields.iter().any(|f| same_key(f.key, e.key)) {
                continue;
            }
            let val = match e.val {
                Val::Str(a, b) => {
                    let r = self.push_str(&span.arena[a as usize..b as usize]);
                    Val::Str(r.start as u32, r.end as u32)
                }
                v => v,
            };
            self.fields.push(Entry { key: e.key, val });
        }
        if self.trace_id.is_none()
            && let Some(r) = span.trace_id.clone()
        {
            self.trace_id = Some(self.push_str(&span.arena[r]));
        }
        if self.span_id.is_none()
            && let Some(r) = span.span_id.clone()
        {
            self.span_id = Some(self.push_str(&span.arena[r]));
        }
    }
}

/// Field names are `'static` and usually the very same string: compare pointers first.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.as_ptr() == b.as_ptr() || a == b)
}

/// `error.type`: the error's concrete type where it can be told, else the leading type name of
/// its `Debug` form (which is the type name for derived `Debug`).
fn error_type(err: &(dyn std::error::Error + 'static), out: &mut String) {
    if err.is::<std::io::Error>() {
        out.push_str("std::io::Error");
        return;
    }
    if err.is::<std::num::ParseIntError>() {
        out.push_str("core::num::ParseIntError");
        return;
    }
    if err.is::<std::num::ParseFloatError>() {
        out.push_str("core::num::ParseFloatError");
        return;
    }
    let _ = write!(out, "{err:?}");
    let end = out
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .map_or(out.len(), |(i, _)| i);
    out.truncate(end);
    if !out.starts_with(|c: char| c.is_ascii_uppercase()) {
        out.clear();
    }
}

pub(crate) fn write_scalar(out: &mut String, v: Val) -> fmt::Result {
    match v {
        Val::Str(..) => Ok(()),
        Val::I64(x) => write!(out, "{x}"),
        Val::U64(x) => write!(out, "{x}"),
        Val::I128(x) => write!(out, "{x}"),
        Val::U128(x) => write!(out, "{x}"),
        Val::F64(x) => write!(out, "{x}"),
        Val::Bool(x) => write!(out, "{x}"),
    }
}

/// Feeds tracing field values into a [`Record`], redacting as they arrive.
pub(crate) struct Collect<'a> {
    pub(crate) rec: &'a mut Record,
    pub(crate) redactor: &'a Redactor,
}

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.rec.set_str(self.redactor, field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut tmp = std::mem::take(&mut self.rec.tmp);
        tmp.clear();
        let _ = write!(tmp, "{value:?}");
        self.rec.set_str(self.redactor, field.name(), &tmp);
        self.rec.tmp = tmp;
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.rec.set_error(self.redactor, field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.rec
            .set_scalar(self.redactor, field.name(), Val::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.rec
            .set_scalar(self.redactor, field.name(), Val::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.rec
            .set_scalar(self.redactor, field.name(), Val::I128(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.rec
            .set_scalar(self.redactor, field.name(), Val::U128(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.rec
            .set_scalar(self.redactor, field.name(), Val::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.rec
            .set_scalar(self.redactor, field.name(), Val::Bool(value));
    }
}
