//! `tracing` events as OTLP log records, through an [`aiplatform_logging`] output: the
//! logging layer collects and redacts each event once on the application thread (where
//! [`LogRecordEncoder`] also notes the current span's ids), then the output's thread writes it
//! as an OTLP `LogRecord` and [`OtlpLogExporter`] sends batches of them. Redaction therefore happens before anything leaves the process,
//! with the same rules as every other output.
//!
//! | event | `LogRecord` |
//! |---|---|
//! | time | `time_unix_nano`, `observed_time_unix_nano` |
//! | level | `severity_number` (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17), `severity_text` |
//! | message | `body` (a string) |
//! | fields (the event's and its spans') | `attributes`, typed: strings, `int_value`, `double_value`, `bool_value` (integers beyond `i64` as strings) |
//! | target | attribute `code.namespace` |
//! | file, line | attributes `code.file.path`, `code.line.number` |
//! | a recorded error | attributes `exception.message`, `exception.type`, `exception.stacktrace` |
//! | `event.hash` fingerprint | attribute `log.record.uid` |
//! | trace context | `trace_id`, `span_id`, `flags`: the current span's when [`SpanLayer`](crate::SpanLayer) exports spans (`flags` 1 if the span is sampled, 0 if not), else `trace_id`/`span_id` fields (hex) of the event or its spans |
//!
//! ```text
//! LogRecord { fixed64 time_unix_nano = 1; SeverityNumber severity_number = 2; string severity_text = 3;
//!             AnyValue body = 5; repeated KeyValue attributes = 6; fixed32 flags = 8;
//!             bytes trace_id = 9; bytes span_id = 10; fixed64 observed_time_unix_nano = 11; }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use aiplatform_logging::{
    EventEncoder, ExportOutcome, FieldValue, LogBatch, LogEvent, LogExporter,
};
use aiplatform_push::{Compression, Compressor, export_outcome, proto};
use bytes::Bytes;
use tracing::Level;

use crate::io::IoThread;
use crate::transport::OtlpTransport;
use crate::wire::{self, Envelope};
use crate::{Resource, suppress};

/// Encodes events as `LogRecord` records (field 2 of `ScopeLogs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRecordEncoder {
    _private: (),
}

impl LogRecordEncoder {
    /// The encoder.
    pub fn new() -> LogRecordEncoder {
        LogRecordEncoder::default()
    }
}

fn severity(level: Level) -> (u64, &'static str) {
    match level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        Level::ERROR => (17, "ERROR"),
    }
}

/// Writes one `attributes` entry (a `KeyValue`) as field `field`, typed as OTLP types it.
pub(crate) fn typed_attribute(out: &mut Vec<u8>, field: u32, key: &str, value: FieldValue<'_>) {
    let kv = proto::begin(out, field);
    proto::string(out, 1, key);
    let any = proto::begin(out, 2);
    match value {
        FieldValue::Str(s) => proto::string(out, 1, s),
        FieldValue::Bool(b) => proto::uint64(out, 2, u64::from(b)),
        FieldValue::I64(v) => proto::int64(out, 3, v),
        FieldValue::U64(v) => match i64::try_from(v) {
            Ok(v) => proto::int64(out, 3, v),
            Err(_) => proto::string(out, 1, &v.to_string()),
        },
        FieldValue::I128(v) => match i64::try_from(v) {
            Ok(v) => proto::int64(out, 3, v),
            Err(_) => proto::string(out, 1, &v.to_string()),
        },
        FieldValue::U128(v) => match i64::try_from(v) {
            Ok(v) => proto::int64(out, 3, v),
            Err(_) => proto::string(out, 1, &v.to_string()),
        },
        FieldValue::F64(v) => proto::double(out, 4, v),
        _ => proto::string(out, 1, &format!("{value:?}")),
    }
    proto::end(out, any);
    proto::end(out, kv);
}

/// Writes one `attributes` entry of a log record.
fn attribute(out: &mut Vec<u8>, key: &str, value: FieldValue<'_>) {
    typed_attribute(out, 6, key, value);
}

/// Parses `n` bytes of lowercase or uppercase hex; `None` if malformed or all zero.
fn hex_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    (out != [0u8; N]).then_some(out)
}

/// Trace id, span id and flags of the application thread's current span, as captured.
fn captured_ids(c: &[u8]) -> Option<([u8; 16], [u8; 8], u8)> {
    if c.len() != 25 {
        return None;
    }
    Some((c[..16].try_into().ok()?, c[16..24].try_into().ok()?, c[24]))
}

impl EventEncoder for LogRecordEncoder {
    /// On the application thread: leaves out events written while exporting telemetry, and
    /// keeps the current span's ids (which only that thread knows).
    fn capture(&self, _: &LogEvent<'_>, context: &mut Vec<u8>) -> bool {
        if suppress::active() {
            return false;
        }
        if let Some(ids) = crate::traces::current_ids() {
            context.extend_from_slice(&ids.trace);
            context.extend_from_slice(&ids.span);
            context.push(ids.flags);
        }
        true
    }

    fn encode(&self, e: &LogEvent<'_>, out: &mut Vec<u8>) {
        let nanos = e
            .time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let (number, text) = severity(e.level());
        let rec = proto::begin(out, 2);
        proto::fixed64(out, 1, nanos);
        proto::uint64(out, 2, number);
        proto::string(out, 3, text);
        let body = proto::begin(out, 5);
        proto::string(out, 1, e.message());
        proto::end(out, body);
        for (k, v) in e.fields() {
            attribute(out, k, v);
        }
        if !e.target().is_empty() {
            attribute(out, "code.namespace", FieldValue::Str(e.target()));
        }
        if let Some(f) = e.file() {
            attribute(out, "code.file.path", FieldValue::Str(f));
        }
        if let Some(l) = e.line() {
            attribute(out, "code.line.number", FieldValue::I64(i64::from(l)));
        }
        if let Some(err) = e.error() {
            attribute(out, "exception.message", FieldValue::Str(err.message));
            if !err.kind.is_empty() {
                attribute(out, "exception.type", FieldValue::Str(err.kind));
            }
            if !err.chain.is_empty() {
                attribute(out, "exception.stacktrace", FieldValue::Str(err.chain));
            }
        }
        if let Some(h) = e.hash() {
            attribute(out, "log.record.uid", FieldValue::Str(h));
        }
        let ids = captured_ids(e.captured()).or_else(|| {
            let t = hex_id::<16>(e.trace_id()?)?;
            let s = e.span_id().and_then(hex_id::<8>).unwrap_or_default();
            Some((t, s, 0u8))
        });
        if let Some((trace, span, flags)) = ids {
            out.push(8 << 3 | 5);
            out.extend_from_slice(&u32::from(flags).to_le_bytes());
            proto::bytes(out, 9, &trace);
            if span != [0u8; 8] {
                proto::bytes(out, 10, &span);
            }
        }
        proto::fixed64(out, 11, nanos);
        proto::end(out, rec);
    }
}

/// Sends batches of `LogRecord`s as `ExportLogsServiceRequest`s.
pub struct OtlpLogExporter {
    transport: Arc<OtlpTransport>,
    io: Arc<IoThread>,
    envelope: Envelope,
    compression: Compression,
    compressor: Compressor,
    timeout: Duration,
    body: Vec<u8>,
}

impl std::fmt::Debug for OtlpLogExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpLogExporter")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl OtlpLogExporter {
    pub(crate) fn new(
        transport: OtlpTransport,
        io: Arc<IoThread>,
        resource: &Resource,
        compression: Compression,
        timeout: Duration,
    ) -> OtlpLogExporter {
        OtlpLogExporter {
            transport: Arc::new(transport),
            io,
            envelope: Envelope::new(
                resource.encode(),
                wire::scope("aiplatform-logging", env!("CARGO_PKG_VERSION")),
            ),
            compression,
            compressor: Compressor::new(compression),
            timeout,
            body: Vec::new(),
        }
    }
}

impl LogExporter for OtlpLogExporter {
    fn export(&mut self, batch: &LogBatch<'_>) -> ExportOutcome {
        suppress::mark_thread();
        self.body.clear();
        self.envelope
            .frame(batch.bytes(), batch.records(), &mut self.body);
        let body = match self.compressor.compress_to_vec(&self.body) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                return ExportOutcome::Rejected {
                    detail: format!("compressing: {e}"),
                };
            }
        };
        // The client's own timeout ends the request; this only guards against a stuck thread.
        let deadline = batch
            .deadline()
            .unwrap_or_else(|| Instant::now() + self.timeout + Duration::from_secs(1));
        let transport = self.transport.clone();
        let compression = self.compression;
        let sent = self.io.run_blocking(
            async move { transport.send_body(body, compression).await },
            deadline,
        );
        match sent {
            None => ExportOutcome::Retry {
                after: None,
                detail: "no answer before the deadline".into(),
            },
            Some(outcome) => export_outcome(outcome),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids() {
        assert_eq!(
            hex_id::<8>("00f067aa0ba902b7"),
            Some([0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_eq!(
            hex_id::<8>("00F067AA0BA902B7"),
            hex_id::<8>("00f067aa0ba902b7")
        );
        assert_eq!(hex_id::<8>("0000000000000000"), None);
        assert_eq!(hex_id::<8>("00f067aa0ba902"), None);
        assert_eq!(hex_id::<8>("zzf067aa0ba902b7"), None);
    }
}
