//! The Log API output: `tracing` events, collected and redacted by `aiplatform-logging`, as New
//! Relic log objects, batched and sent by the logging crate's export thread.
//!
//! Each event, redacted on the application thread, is encoded on the output's own thread
//! ([`LogEncoder`]) into one log object:
//!
//! ```text
//! {"timestamp":1767322800123,"message":"payment accepted",
//!  "attributes":{"level":"INFO","logger.name":"billing::pay","trace.id":"4bf9...","order.id":42}}
//! ```
//!
//! and the output's thread sends batches of them ([`LogSender`]) as
//! `[{"common":{"attributes":{...}},"logs":[...]}]`, gzip-compressed, where the common block
//! holds what every event of the process shares (service, host, pid, your attributes).

use std::sync::{Arc, OnceLock};
use std::time::UNIX_EPOCH;

use aiplatform_logging::export::cut_to_bytes;
use aiplatform_logging::{ExportOutcome, FieldValue, LogBatch, LogEvent, LogExporter};
use aiplatform_push::{
    Compression, Compressor, HttpTransport, LogRuntime, Outcome, export_outcome,
};
use bytes::Bytes;
use http::header::CONTENT_ENCODING;
use http::{HeaderValue, Method};

use crate::attributes::{MAX_NAME_CHARS, is_reserved};
use crate::config::MAX_PAYLOAD_BYTES;
use crate::json;

/// Most attributes New Relic keeps on a log event (common ones included).
pub const MAX_LOG_ATTRIBUTES: usize = 255;

/// Characters of a string attribute New Relic stores searchable, in the attribute itself.
pub const MAX_LOG_SEARCHABLE_CHARS: usize = 4094;

/// Bytes New Relic keeps past the searchable part, as a blob in `newrelic.ext.<name>`;
/// anything past that it drops. Values longer than both together are cut here instead, at
/// the same point, on a character boundary, the last bytes replaced by
/// `…[truncated: <kept> of <total> bytes]`, so the cut shows in New Relic.
pub const MAX_LOG_BLOB_BYTES: usize = 128_000;

/// Names this encoder writes itself; an event field of one of these names (or of a name New
/// Relic reserves) is sent as `field.<name>`.
const OWN: &[&str] = &[
    "message",
    "level",
    "logger.name",
    "trace.id",
    "span.id",
    "error.message",
    "error.class",
    "error.stack",
    "code.filepath",
    "code.lineno",
    "spans",
    "event.sequence",
    "event.hash",
    "aiplatform.dropped_attributes",
];

/// Attributes New Relic keeps for its browser and mobile integrations on log events.
const LOG_RESERVED: &[&str] = &[
    "instrumentation.name",
    "instrumentation.provider",
    "instrumentation.version",
];

/// The `common` block: configured attributes plus what the logging layer knows about the
/// process (its [`LogResource`](aiplatform_logging::LogResource)), learned from the first
/// event and fixed from then on.
#[derive(Debug)]
pub(crate) struct Common {
    configured: Vec<(String, String)>,
    service_name: Option<String>,
    host_name: Option<String>,
    /// `[{"common":{"attributes":{...}},"logs":[`, and how many attributes it holds.
    prefix: OnceLock<(Box<[u8]>, usize)>,
}

impl Common {
    pub(crate) fn new(
        configured: Vec<(String, String)>,
        service_name: Option<String>,
        host_name: Option<String>,
    ) -> Common {
        Common {
            configured,
            service_name: service_name.filter(|s| !s.is_empty()),
            host_name,
            prefix: OnceLock::new(),
        }
    }

    fn learn(&self, event: &LogEvent<'_>) -> &(Box<[u8]>, usize) {
        self.prefix.get_or_init(|| {
            let r = event.resource();
            let mut attrs: Vec<(&str, String)> = Vec::new();
            let service = self
                .service_name
                .clone()
                .unwrap_or_else(|| r.service_name().to_owned());
            attrs.push(("service.name", service));
            if let Some(v) = r.service_version() {
                attrs.push(("service.version", v.to_owned()));
            }
            if let Some(e) = r.service_environment() {
                attrs.push(("service.environment", e.to_owned()));
            }
            if let Some(n) = r.service_node_name() {
                attrs.push(("service.node.name", n.to_owned()));
            }
            let host = match &self.host_name {
                Some(h) => h.clone(),
                None => r.host_name().to_owned(),
            };
            if !host.is_empty() {
                attrs.push(("host.name", host));
            }
            attrs.push(("process.pid", r.pid().to_string()));
            for (k, v) in &self.configured {
                attrs.retain(|(n, _)| n != k);
                attrs.push((k, v.clone()));
            }
            let mut prefix = b"[{\"common\":{\"attributes\":{".to_vec();
            for (i, (k, v)) in attrs.iter().enumerate() {
                if i > 0 {
                    prefix.push(b',');
                }
                json::string(&mut prefix, k);
                prefix.push(b':');
                if *k == "process.pid" {
                    prefix.extend_from_slice(v.as_bytes());
                } else {
                    json::string(&mut prefix, v);
                }
            }
            prefix.extend_from_slice(b"}},\"logs\":[");
            (prefix.into(), attrs.len())
        })
    }

    /// The prefix once an event was seen (always, for a batch: batches hold encoded events).
    fn prefix(&self) -> &[u8] {
        self.prefix.get().map_or(b"[{\"logs\":[", |(p, _)| &p[..])
    }
}

/// Encodes each event as one New Relic log object, on the log output's own thread.
///
/// | event | log object |
/// |---|---|
/// | time | `timestamp` (ms since the epoch) |
/// | message | `message` |
/// | level | `level` (`ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`) |
/// | target | `logger.name` |
/// | `trace_id` / `span_id` fields | `trace.id`, `span.id` (New Relic links logs to traces by them) |
/// | first `&dyn Error` field | `error.message`, `error.class`, `error.stack` |
/// | source file and line | `code.filepath`, `code.lineno` |
/// | enclosing spans | `spans` (`request>db_query`) |
/// | fingerprint, sequence | `event.hash`, `event.sequence` |
/// | every other field (the event's and its spans') | an attribute of the same name and type; strings redacted |
///
/// A field named like one of the above or like an attribute New Relic reserves is sent as
/// `field.<name>`. Integers beyond the range of a Java `long` and non-finite floats are sent
/// as strings. Values longer than New Relic stores are cut where it would cut them, with a
/// marker (see [`MAX_LOG_BLOB_BYTES`]). An event with more fields than fit New Relic's 255
/// attributes keeps those closest to it (the innermost span's before the outer ones') and
/// says how many it left out in `aiplatform.dropped_attributes`.
#[derive(Debug, Clone)]
pub struct LogEncoder {
    pub(crate) common: Arc<Common>,
}

impl aiplatform_logging::EventEncoder for LogEncoder {
    fn encode(&self, event: &LogEvent<'_>, out: &mut Vec<u8>) {
        let (_, common_count) = self.common.learn(event);
        let budget = MAX_LOG_ATTRIBUTES.saturating_sub(common_count + 1);
        let ms = event
            .time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        out.extend_from_slice(b"{\"timestamp\":");
        json::i64(out, ms);
        out.extend_from_slice(b",\"message\":");
        value(out, event.message());
        out.extend_from_slice(b",\"attributes\":{\"level\":\"");
        out.extend_from_slice(event.level().as_str().as_bytes());
        out.push(b'"');
        let mut used = 1;
        let mut attr = |out: &mut Vec<u8>, key: &str| {
            out.push(b',');
            name(out, key);
            out.push(b':');
            used += 1;
        };
        attr(out, "logger.name");
        value(out, event.target());
        if let Some(id) = event.trace_id() {
            attr(out, "trace.id");
            value(out, id);
        }
        if let Some(id) = event.span_id() {
            attr(out, "span.id");
            value(out, id);
        }
        if let Some(e) = event.error() {
            attr(out, "error.message");
            value(out, e.message);
            if !e.kind.is_empty() {
                attr(out, "error.class");
                value(out, e.kind);
            }
            if !e.chain.is_empty() {
                attr(out, "error.stack");
                value(out, e.chain);
            }
        }
        if let Some(file) = event.file() {
            attr(out, "code.filepath");
            value(out, file);
        }
        if let Some(line) = event.line() {
            attr(out, "code.lineno");
            json::u64(out, u64::from(line));
        }
        if !event.span_path().is_empty() {
            attr(out, "spans");
            value(out, event.span_path());
        }
        attr(out, "event.sequence");
        json::u64(out, event.sequence());
        if let Some(h) = event.hash() {
            attr(out, "event.hash");
            value(out, h);
        }
        let mut left_out = 0u64;
        for (key, v) in event.fields() {
            if used >= budget {
                left_out += 1;
                continue;
            }
            out.push(b',');
            if OWN.contains(&key) || is_reserved(key) || LOG_RESERVED.contains(&key) {
                let mut renamed = String::with_capacity(key.len() + 6);
                renamed.push_str("field.");
                renamed.push_str(key);
                name(out, &renamed);
            } else {
                name(out, key);
            }
            out.push(b':');
            field(out, v);
            used += 1;
        }
        if left_out > 0 {
            out.extend_from_slice(b",\"aiplatform.dropped_attributes\":");
            json::u64(out, left_out);
        }
        out.extend_from_slice(b"}}");
    }
}

/// An attribute name, cut to New Relic's 255 characters.
fn name(out: &mut Vec<u8>, key: &str) {
    json::string(out, json::cut_chars(key, MAX_NAME_CHARS).0);
}

/// A string value, cut with a marker where New Relic would cut it silently (see
/// [`MAX_LOG_BLOB_BYTES`]).
fn value(out: &mut Vec<u8>, s: &str) {
    let keep = kept_bytes(s);
    if s.len() <= keep {
        json::string(out, s);
        return;
    }
    let total = s.len();
    let marker = |kept: usize| format!("…[truncated: {kept} of {total} bytes]");
    let kept = cut_to_bytes(s, keep.saturating_sub(marker(keep).len()));
    out.push(b'"');
    json::escaped(out, kept);
    json::escaped(out, &marker(kept.len()));
    out.push(b'"');
}

/// How many bytes of `s` New Relic stores: its first [`MAX_LOG_SEARCHABLE_CHARS`]
/// characters and [`MAX_LOG_BLOB_BYTES`] more.
fn kept_bytes(s: &str) -> usize {
    let searchable = json::cut_chars(s, MAX_LOG_SEARCHABLE_CHARS).0.len();
    searchable + MAX_LOG_BLOB_BYTES
}

fn field(out: &mut Vec<u8>, v: FieldValue<'_>) {
    match v {
        FieldValue::Str(s) => value(out, s),
        FieldValue::I64(x) => json::i64(out, x),
        FieldValue::U64(x) if x <= i64::MAX as u64 => json::u64(out, x),
        FieldValue::I128(x) if i64::try_from(x).is_ok() => json::i64(out, x as i64),
        FieldValue::U128(x) if x <= i64::MAX as u128 => json::i64(out, x as i64),
        FieldValue::F64(x) if x.is_finite() => json::f64(out, x),
        FieldValue::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        // Out of a Java long's range (New Relic would drop the value), or not finite.
        FieldValue::U64(x) => json::string(out, &x.to_string()),
        FieldValue::I128(x) => json::string(out, &x.to_string()),
        FieldValue::U128(x) => json::string(out, &x.to_string()),
        FieldValue::F64(x) => json::string(out, &x.to_string()),
        other => json::string(out, &format!("{other:?}")),
    }
}

/// Sends batches of encoded events to the Log API, on the logging output's own thread: one
/// attempt per call, the output applying the retry, split and drop rules to the answer.
///
/// A `403` (or `401`) means the key was refused: the sender says so once (an ERROR event,
/// key not shown) and from then on refuses every batch without sending it, so the records
/// are dropped and counted (`aiplatform_log_events_dropped_total{sink="newrelic",reason="rejected"}`).
pub struct LogSender {
    transport: HttpTransport,
    runtime: LogRuntime,
    compressor: Compressor,
    common: Arc<Common>,
    body: Vec<u8>,
    compressed: Vec<u8>,
    stopped: Option<String>,
}

impl std::fmt::Debug for LogSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSender")
            .field("transport", &self.transport)
            .field("stopped", &self.stopped.is_some())
            .finish_non_exhaustive()
    }
}

impl LogSender {
    pub(crate) fn new(transport: HttpTransport, common: Arc<Common>) -> LogSender {
        LogSender {
            transport,
            runtime: LogRuntime::new(),
            compressor: Compressor::new(Compression::Gzip),
            common,
            body: Vec::new(),
            compressed: Vec::new(),
            stopped: None,
        }
    }

    fn frame(&mut self, batch: &LogBatch<'_>) {
        self.body.clear();
        self.body.extend_from_slice(self.common.prefix());
        for (i, record) in batch.records().enumerate() {
            if i > 0 {
                self.body.push(b',');
            }
            self.body.extend_from_slice(record);
        }
        self.body.extend_from_slice(b"]}]");
    }
}

impl LogExporter for LogSender {
    fn export(&mut self, batch: &LogBatch<'_>) -> ExportOutcome {
        if let Some(detail) = &self.stopped {
            return ExportOutcome::Rejected {
                detail: detail.clone(),
            };
        }
        self.frame(batch);
        if let Err(e) = self.compressor.compress(&self.body, &mut self.compressed) {
            return ExportOutcome::Rejected {
                detail: format!("compressing a batch: {e}"),
            };
        }
        if self.compressed.len() > MAX_PAYLOAD_BYTES {
            return ExportOutcome::TooLarge {
                detail: format!(
                    "{} bytes compressed, over the Log API's {MAX_PAYLOAD_BYTES}",
                    self.compressed.len()
                ),
            };
        }
        let body = Bytes::copy_from_slice(&self.compressed);
        let uri = self.transport.endpoint().clone();
        let mut request = match self.transport.request(Method::POST, uri, body) {
            Ok(r) => r,
            Err(outcome) => return export_outcome(outcome),
        };
        request
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        let outcome = self
            .runtime
            .run(batch.deadline(), self.transport.exchange(request));
        if let Outcome::Stop { detail, .. } = &outcome {
            tracing::error!(
                sink = "newrelic",
                detail = %detail,
                "newrelic: the Log API refuses this sender; log shipping to New Relic stops (fix the key and restart)"
            );
            self.stopped = Some(format!(
                "log shipping to New Relic stopped after the key was refused: {detail}"
            ));
        }
        export_outcome(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_where_new_relic_cuts_them_with_a_marker() {
        let decode = |s: &str| {
            let mut out = Vec::new();
            value(&mut out, s);
            serde_json::from_slice::<String>(&out).unwrap()
        };
        // 4094 two-byte characters are searchable, then 128 000 bytes of blob.
        let limit = 4094 * 2 + MAX_LOG_BLOB_BYTES;
        let long = "é".repeat(100_000); // 200 000 bytes
        let back = decode(&long);
        assert!(back.len() <= limit, "{}", back.len());
        assert!(back.len() > limit - 60, "{}", back.len());
        let tail = &back[back.len() - 60..];
        assert!(tail.ends_with(" of 200000 bytes]"), "{tail}");
        let kept: usize = tail
            .split("truncated: ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(&back[..kept], &long[..kept]);
        // Exactly what New Relic keeps goes whole; one character more is cut.
        let fits = "é".repeat(limit / 2);
        assert_eq!(decode(&fits), fits);
        assert!(decode(&format!("{fits}x")).contains("…[truncated: "));
        assert_eq!(decode("short"), "short");
    }

    #[test]
    fn field_values_keep_their_types_within_javas_range() {
        let enc = |v| {
            let mut o = Vec::new();
            field(&mut o, v);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(enc(FieldValue::I64(-3)), "-3");
        assert_eq!(enc(FieldValue::U64(u64::MAX)), "\"18446744073709551615\"");
        assert_eq!(enc(FieldValue::U128(7)), "7");
        assert_eq!(enc(FieldValue::F64(0.5)), "0.5");
        assert_eq!(enc(FieldValue::F64(f64::NAN)), "\"NaN\"");
        assert_eq!(enc(FieldValue::Bool(true)), "true");
        assert_eq!(enc(FieldValue::Str("a\"b")), "\"a\\\"b\"");
    }
}
