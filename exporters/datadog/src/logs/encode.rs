//! One `tracing` event as one Datadog log object, on the log output's own thread.

use aiplatform_logging::export::cut_to_bytes;
use aiplatform_logging::{EventEncoder, FieldValue, LogEvent};
use tracing::Level;

use crate::series::json_string;

/// A log object larger than this is cut down (the intake keeps at most 1 MB of one log).
pub const MAX_LOG_BYTES: usize = 1_000_000;

/// What replaces the end of a cut string value.
pub const TRUNCATION_MARKER: &str = "...[truncated]";

/// Attributes this encoder writes itself; an event field of the same name is written as
/// `field.<name>` so it cannot hide them.
const OWN: &[&str] = &[
    "@timestamp",
    "ddsource",
    "ddtags",
    "error.kind",
    "error.message",
    "error.stack",
    "error.stack_trace",
    "error.type",
    "event.sequence",
    "host",
    "hostname",
    "log.level",
    "log.logger",
    "message",
    "process.pid",
    "service",
    "service.environment",
    "service.version",
    "span.id",
    "span_id",
    "status",
    "timestamp",
    "trace.id",
    "trace_id",
];

/// Writes each event as one object of the `POST /api/v2/logs` array: the Datadog reserved
/// attributes (`ddsource`, `ddtags`, `hostname`, `service`, `status`, `message`,
/// `timestamp` in milliseconds), the ECS attributes (`@timestamp`, `log.level`,
/// `log.logger`, `event.sequence`, `process.pid`, `service.version`,
/// `service.environment`, `trace.id`, `span.id`, `error.message`, `error.type`,
/// `error.stack_trace`, with Datadog's `error.kind` and `error.stack` beside them), then the
/// event's own fields, already redacted by the logging layer.
///
/// An object over [`MAX_LOG_BYTES`] is written again with its longest string values cut,
/// each ending in [`TRUNCATION_MARKER`], and `"truncated":true`: the log arrives, shortened,
/// and says so.
#[derive(Debug, Clone)]
pub struct DatadogLogEncoder {
    source: String,
    tags: String,
    hostname: String,
    service: Option<String>,
    max_bytes: usize,
}

impl DatadogLogEncoder {
    /// An encoder writing `ddsource: source`, `ddtags: tags` (comma-separated), `hostname`,
    /// and `service` (else the logging layer's service name).
    pub fn new(source: &str, tags: &[String], hostname: &str, service: Option<&str>) -> Self {
        DatadogLogEncoder {
            source: source.to_owned(),
            tags: tags.join(","),
            hostname: hostname.to_owned(),
            service: service.map(str::to_owned),
            max_bytes: MAX_LOG_BYTES,
        }
    }

    /// Cuts objects at `bytes` instead of [`MAX_LOG_BYTES`] (tests, stricter receivers).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1024);
        self
    }

    fn write(&self, e: &LogEvent<'_>, cap: usize, out: &mut Vec<u8>) {
        let start = out.len();
        let res = e.resource();
        out.extend_from_slice(b"{\"ddsource\":");
        json_string(out, self.source.as_bytes());
        if !self.tags.is_empty() {
            out.extend_from_slice(b",\"ddtags\":");
            json_string(out, self.tags.as_bytes());
        }
        out.extend_from_slice(b",\"hostname\":");
        json_string(out, self.hostname.as_bytes());
        out.extend_from_slice(b",\"service\":");
        let service = self.service.as_deref().unwrap_or(res.service_name());
        json_string(out, service.as_bytes());
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(status(e.level()).as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        capped(out, e.message(), cap);
        let ms = e
            .time()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        out.extend_from_slice(b",\"timestamp\":");
        out.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
        out.extend_from_slice(b",\"@timestamp\":");
        json_string(out, e.timestamp_rfc3339().as_bytes());
        out.extend_from_slice(b",\"log.level\":\"");
        out.extend_from_slice(e.level().as_str().as_bytes());
        out.extend_from_slice(b"\",\"log.logger\":");
        json_string(out, e.target().as_bytes());
        out.extend_from_slice(b",\"event.sequence\":");
        out.extend_from_slice(itoa::Buffer::new().format(e.sequence()).as_bytes());
        out.extend_from_slice(b",\"process.pid\":");
        out.extend_from_slice(itoa::Buffer::new().format(res.pid()).as_bytes());
        let attr = |out: &mut Vec<u8>, key: &str, value: Option<&str>| {
            if let Some(v) = value {
                out.push(b',');
                json_string(out, key.as_bytes());
                out.push(b':');
                capped(out, v, cap);
            }
        };
        attr(out, "service.version", res.service_version());
        attr(out, "service.environment", res.service_environment());
        attr(out, "trace.id", e.trace_id());
        attr(out, "span.id", e.span_id());
        if let Some(err) = e.error() {
            attr(out, "error.message", Some(err.message));
            let kind = Some(err.kind).filter(|k| !k.is_empty());
            attr(out, "error.type", kind);
            attr(out, "error.kind", kind);
            let chain = Some(err.chain).filter(|c| !c.is_empty());
            attr(out, "error.stack_trace", chain);
            attr(out, "error.stack", chain);
        }
        for (key, value) in e.fields() {
            out.push(b',');
            if OWN.binary_search(&key).is_ok() {
                let mut k = String::with_capacity(key.len() + 6);
                k.push_str("field.");
                k.push_str(key);
                json_string(out, k.as_bytes());
            } else {
                json_string(out, key.as_bytes());
            }
            out.push(b':');
            write_value(out, value, cap);
        }
        if cap != usize::MAX {
            out.extend_from_slice(b",\"truncated\":true");
        }
        out.push(b'}');
        debug_assert!(out.len() > start);
    }

    /// The longest a string value may be for the object to fit, given the object as written
    /// in full (`full` bytes) and the lengths of its string values.
    fn cap_for(&self, e: &LogEvent<'_>, full: usize) -> usize {
        let mut lens: Vec<usize> = std::iter::once(e.message().len())
            .chain(e.fields().filter_map(|(_, v)| match v {
                FieldValue::Str(s) => Some(s.len()),
                _ => None,
            }))
            .chain(
                e.error()
                    .into_iter()
                    .flat_map(|err| [err.message.len(), err.chain.len(), err.chain.len()]),
            )
            .collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        // Room for markers, the flag and escaping that cut strings may still need.
        let budget = self.max_bytes.saturating_sub(256);
        let mut over = full.saturating_sub(budget) as f64;
        // Lower the cap over the longest values until the excess is gone.
        let mut cap = lens.first().copied().unwrap_or(0);
        for (i, &len) in lens.iter().enumerate() {
            let next = lens.get(i + 1).copied().unwrap_or(0);
            let n = (i + 1) as f64;
            let gain = (len - next) as f64 * n;
            if gain >= over {
                cap = len - (over / n).ceil() as usize;
                over = 0.0;
                break;
            }
            over -= gain;
            cap = next;
        }
        let _ = over;
        cap.saturating_sub(TRUNCATION_MARKER.len() + 8)
    }
}

impl EventEncoder for DatadogLogEncoder {
    fn encode(&self, event: &LogEvent<'_>, out: &mut Vec<u8>) {
        self.write(event, usize::MAX, out);
        if out.len() <= self.max_bytes {
            return;
        }
        let cap = self.cap_for(event, out.len());
        out.clear();
        self.write(event, cap, out);
        // Escaping can still exceed (a value of control characters): cut harder.
        let mut cap = cap;
        while out.len() > self.max_bytes && cap > 0 {
            cap /= 2;
            out.clear();
            self.write(event, cap, out);
        }
    }
}

/// Datadog's status for a level.
fn status(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        // Datadog has no `trace` status.
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// `s` as a JSON string, cut to `cap` bytes (at a character boundary) plus the marker.
fn capped(out: &mut Vec<u8>, s: &str, cap: usize) {
    if s.len() <= cap {
        json_string(out, s.as_bytes());
        return;
    }
    let kept = cut_to_bytes(s, cap);
    let mut cut = String::with_capacity(kept.len() + TRUNCATION_MARKER.len());
    cut.push_str(kept);
    cut.push_str(TRUNCATION_MARKER);
    json_string(out, cut.as_bytes());
}

fn write_value(out: &mut Vec<u8>, v: FieldValue<'_>, cap: usize) {
    match v {
        FieldValue::Str(s) => capped(out, s, cap),
        FieldValue::I64(x) => out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes()),
        FieldValue::U64(x) => out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes()),
        // Wider than JSON numbers keep exactly: as strings.
        FieldValue::I128(x) => json_string(out, x.to_string().as_bytes()),
        FieldValue::U128(x) => json_string(out, x.to_string().as_bytes()),
        FieldValue::F64(x) if x.is_finite() => {
            out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes());
        }
        FieldValue::F64(x) => json_string(out, x.to_string().as_bytes()),
        FieldValue::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        _ => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_attributes_are_sorted_for_the_lookup() {
        assert!(OWN.windows(2).all(|w| w[0] < w[1]));
    }
}
