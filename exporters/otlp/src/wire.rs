//! The OTLP protobuf messages this crate writes and reads, on top of
//! [`aiplatform_push::proto`]: attributes, the request envelope shared by metrics and logs,
//! and the few responses a receiver sends back.
//!
//! ```text
//! ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
//! ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
//! ScopeMetrics    { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
//! (logs: the same shape with ResourceLogs, ScopeLogs and LogRecord log_records = 2)
//! Resource        { repeated KeyValue attributes = 1; }
//! InstrumentationScope { string name = 1; string version = 2; }
//! KeyValue        { string key = 1; AnyValue value = 2; }
//! AnyValue        { oneof { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
//!                           double double_value = 4; bytes bytes_value = 7; } }
//! Export*ServiceResponse { Export*PartialSuccess partial_success = 1; }
//! Export*PartialSuccess  { int64 rejected_<items> = 1; string error_message = 2; }
//! google.rpc.Status      { int32 code = 1; string message = 2; repeated Any details = 3; }
//! ```

use aiplatform_push::{Framing, proto};

/// Content bytes of a `KeyValue` with a string value.
#[inline]
pub(crate) fn string_kv_len(key: usize, value: usize) -> usize {
    proto::field_len(1, key) + proto::field_len(2, proto::field_len(1, value))
}

/// A `KeyValue` with a string value, as field `field`.
#[inline]
pub(crate) fn string_attribute(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    string_attribute_bytes(out, field, key.as_bytes(), value.as_bytes());
}

/// [`string_attribute`] from bytes (known to be UTF-8).
#[inline]
pub(crate) fn string_attribute_bytes(out: &mut Vec<u8>, field: u32, key: &[u8], value: &[u8]) {
    proto::header(out, field, string_kv_len(key.len(), value.len()));
    proto::bytes(out, 1, key);
    proto::header(out, 2, proto::field_len(1, value.len()));
    proto::bytes(out, 1, value);
}

/// An `InstrumentationScope`'s content.
pub(crate) fn scope(name: &str, version: &str) -> Vec<u8> {
    let mut out = Vec::new();
    proto::string(&mut out, 1, name);
    proto::string(&mut out, 2, version);
    out
}

/// The envelope of an export request around its records: one `Resource*` holding the
/// resource and one `Scope*` whose repeated field 2 the records are (each record is a whole
/// field: tag, length, message). Metrics and logs requests have the same shape.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    resource: Vec<u8>,
    scope: Vec<u8>,
}

impl Envelope {
    pub(crate) fn new(resource: Vec<u8>, scope: Vec<u8>) -> Envelope {
        Envelope { resource, scope }
    }

    /// Writes a whole request body around `records` (`len` bytes in all), back to back.
    pub(crate) fn frame<'a>(
        &self,
        len: usize,
        records: impl Iterator<Item = &'a [u8]>,
        out: &mut Vec<u8>,
    ) {
        self.prefix(len, out);
        for r in records {
            out.extend_from_slice(r);
        }
    }
}

impl Framing for Envelope {
    fn prefix(&self, records_len: usize, out: &mut Vec<u8>) {
        let scoped = proto::field_len(1, self.scope.len()) + records_len;
        let resourced = proto::field_len(1, self.resource.len()) + proto::field_len(2, scoped);
        proto::header(out, 1, resourced);
        proto::bytes(out, 1, &self.resource);
        proto::header(out, 2, scoped);
        proto::bytes(out, 1, &self.scope);
    }
}

/// One field read from a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of a message, in order; stops at the first malformed one.
pub(crate) fn fields(buf: &[u8]) -> impl Iterator<Item = (u32, Value<'_>)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let key = proto::read_varint(buf, &mut pos)?;
        let field = (key >> 3) as u32;
        let v = match key & 7 {
            0 => Value::Varint(proto::read_varint(buf, &mut pos)?),
            1 => {
                let b = buf.get(pos..pos + 8)?;
                pos += 8;
                Value::Fixed64(u64::from_le_bytes(b.try_into().ok()?))
            }
            2 => {
                let len = proto::read_varint(buf, &mut pos)? as usize;
                let b = buf.get(pos..pos.checked_add(len)?)?;
                pos += len;
                Value::Bytes(b)
            }
            5 => {
                let b = buf.get(pos..pos + 4)?;
                pos += 4;
                Value::Fixed32(u32::from_le_bytes(b.try_into().ok()?))
            }
            _ => {
                pos = buf.len();
                return None;
            }
        };
        Some((field, v))
    })
}

fn first_bytes(buf: &[u8], field: u32) -> Option<&[u8]> {
    fields(buf).find_map(|(f, v)| match v {
        Value::Bytes(b) if f == field => Some(b),
        _ => None,
    })
}

/// What an `Export*PartialSuccess` says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PartialSuccess {
    pub(crate) rejected: u64,
    pub(crate) message: String,
}

/// The partial success in an `Export*ServiceResponse` body, if it reports anything.
pub(crate) fn partial_success(response: &[u8]) -> Option<PartialSuccess> {
    let ps = first_bytes(response, 1)?;
    let mut out = PartialSuccess::default();
    for (f, v) in fields(ps) {
        match (f, v) {
            (1, Value::Varint(n)) => out.rejected = (n as i64).max(0) as u64,
            (2, Value::Bytes(b)) => out.message = String::from_utf8_lossy(b).into_owned(),
            _ => {}
        }
    }
    (out.rejected > 0 || !out.message.is_empty()).then_some(out)
}

/// What a `google.rpc.Status` says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RpcStatus {
    pub(crate) code: i32,
    pub(crate) message: String,
    /// From a `google.rpc.RetryInfo` detail.
    pub(crate) retry_delay: Option<std::time::Duration>,
}

const RETRY_INFO: &[u8] = b"type.googleapis.com/google.rpc.RetryInfo";

/// Reads a `google.rpc.Status` (an OTLP/HTTP error body, gRPC's `grpc-status-details-bin`).
pub(crate) fn rpc_status(buf: &[u8]) -> Option<RpcStatus> {
    let mut out = RpcStatus::default();
    let mut any = false;
    for (f, v) in fields(buf) {
        match (f, v) {
            (1, Value::Varint(c)) => {
                out.code = c as i32;
                any = true;
            }
            (2, Value::Bytes(b)) => {
                out.message = String::from_utf8_lossy(b).into_owned();
                any = true;
            }
            (3, Value::Bytes(detail)) => {
                if first_bytes(detail, 1) == Some(RETRY_INFO)
                    && let Some(info) = first_bytes(detail, 2)
                {
                    let delay = first_bytes(info, 1).unwrap_or(&[]);
                    let mut secs = 0u64;
                    let mut nanos = 0u32;
                    for (f, v) in fields(delay) {
                        match (f, v) {
                            (1, Value::Varint(s)) => secs = (s as i64).max(0) as u64,
                            (2, Value::Varint(n)) => {
                                nanos = (n as i32).clamp(0, 999_999_999) as u32
                            }
                            _ => {}
                        }
                    }
                    out.retry_delay = Some(std::time::Duration::new(secs, nanos));
                }
            }
            _ => {}
        }
    }
    any.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_have_the_lengths_they_claim() {
        for (k, v) in [("a", "b"), ("service.name", &"x".repeat(300)[..]), ("", "")] {
            let mut out = Vec::new();
            string_attribute(&mut out, 7, k, v);
            assert_eq!(
                out.len(),
                proto::field_len(7, string_kv_len(k.len(), v.len()))
            );
            let (f, Value::Bytes(kv)) = fields(&out).next().unwrap() else {
                panic!()
            };
            assert_eq!(f, 7);
            assert_eq!(first_bytes(kv, 1), Some(k.as_bytes()));
            assert_eq!(
                first_bytes(first_bytes(kv, 2).unwrap(), 1),
                Some(v.as_bytes())
            );
        }
    }

    #[test]
    fn envelope_lengths_cover_the_records() {
        let env = Envelope::new(b"\x0a\x03abc".to_vec(), scope("s", "1"));
        let recs: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                let mut r = Vec::new();
                proto::string(&mut r, 2, &"r".repeat(i));
                r
            })
            .collect();
        let mut body = Vec::new();
        let len = recs.iter().map(Vec::len).sum();
        env.frame(len, recs.iter().map(Vec::as_slice), &mut body);
        let (1, Value::Bytes(rm)) = fields(&body).next().unwrap() else {
            panic!()
        };
        assert_eq!(rm.len() + proto::field_len(1, 0) + 2, body.len());
        let sm = first_bytes(rm, 2).unwrap();
        let n = fields(sm).filter(|(f, _)| *f == 2).count();
        assert_eq!(n, 200);
    }

    #[test]
    fn partial_success_and_status() {
        let mut ps = Vec::new();
        proto::int64(&mut ps, 1, 3);
        proto::string(&mut ps, 2, "3 points had NaN timestamps");
        let mut resp = Vec::new();
        proto::bytes(&mut resp, 1, &ps);
        assert_eq!(
            partial_success(&resp),
            Some(PartialSuccess {
                rejected: 3,
                message: "3 points had NaN timestamps".into()
            })
        );
        assert_eq!(partial_success(b""), None);
        let mut empty = Vec::new();
        proto::bytes(&mut empty, 1, b"");
        assert_eq!(partial_success(&empty), None);

        let mut dur = Vec::new();
        proto::int64(&mut dur, 1, 2);
        proto::int64(&mut dur, 2, 500_000_000);
        let mut info = Vec::new();
        proto::bytes(&mut info, 1, &dur);
        let mut any = Vec::new();
        proto::bytes(&mut any, 1, RETRY_INFO);
        proto::bytes(&mut any, 2, &info);
        let mut status = Vec::new();
        proto::int64(&mut status, 1, 8);
        proto::string(&mut status, 2, "slow down");
        proto::bytes(&mut status, 3, &any);
        let s = rpc_status(&status).unwrap();
        assert_eq!(s.code, 8);
        assert_eq!(s.message, "slow down");
        assert_eq!(s.retry_delay, Some(std::time::Duration::from_millis(2500)));
        assert_eq!(rpc_status(b"\xff"), None);
    }
}
