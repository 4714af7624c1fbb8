//! The read-only view of one event that an [`EventEncoder`](crate::EventEncoder) turns into
//! bytes for an output added from another crate.
//!
//! By the time an encoder sees a [`LogEvent`], the layer has collected it once: every string
//! is already redacted, span fields are merged in (the event's own value wins, then the
//! innermost span's), and the fingerprint is computed.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::Level;

use crate::encode::EventView;
use crate::record::{Record, Val};

/// The process-wide fields of every event: who logs, and where.
///
/// They come from [`LogBuilder`](crate::LogBuilder) and its defaults (`OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES`, `HOSTNAME`, ...), resolved once when the layer is built.
#[derive(Debug, Clone)]
pub struct LogResource {
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) service_environment: Option<String>,
    pub(crate) service_node_name: Option<String>,
    pub(crate) host_name: String,
    pub(crate) pid: u32,
}

impl LogResource {
    /// `service.name`.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// `service.version`, if known.
    pub fn service_version(&self) -> Option<&str> {
        self.service_version.as_deref()
    }

    /// `service.environment` (`deployment.environment.name` in OpenTelemetry terms), if known.
    pub fn service_environment(&self) -> Option<&str> {
        self.service_environment.as_deref()
    }

    /// `service.node.name` (the instance), if known.
    pub fn service_node_name(&self) -> Option<&str> {
        self.service_node_name.as_deref()
    }

    /// `host.name`.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

/// A field value, as recorded (strings already redacted).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FieldValue<'a> {
    /// Text, including `Debug`-formatted values and the redaction placeholder.
    Str(&'a str),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A wide signed integer.
    I128(i128),
    /// A wide unsigned integer.
    U128(u128),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

/// The first error recorded on an event (a `&dyn Error` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    /// The error's `Display` (`error.message`).
    pub message: &'a str,
    /// Its type, where it can be told (`error.type`); may be empty.
    pub kind: &'a str,
    /// The error and its `source()` chain, one `caused by:` line per cause
    /// (`error.stack_trace`); empty when there is no source.
    pub chain: &'a str,
}

/// One event, collected and redacted, as an [`EventEncoder`](crate::EventEncoder) sees it.
///
/// ```
/// use aiplatform_logging::{EventEncoder, FieldValue, LogEvent};
///
/// /// `LEVEL message key=value ...`
/// struct Plain;
///
/// impl EventEncoder for Plain {
///     fn encode(&self, event: &LogEvent<'_>, out: &mut Vec<u8>) {
///         out.extend_from_slice(event.level().as_str().as_bytes());
///         out.push(b' ');
///         out.extend_from_slice(event.message().as_bytes());
///         for (key, value) in event.fields() {
///             let value = match value {
///                 FieldValue::Str(s) => s.to_owned(),
///                 other => format!("{other:?}"),
///             };
///             out.extend_from_slice(format!(" {key}={value}").as_bytes());
///         }
///     }
/// }
/// # let _ = Plain;
/// ```
#[derive(Debug)]
pub struct LogEvent<'a> {
    pub(crate) view: &'a EventView<'a>,
    pub(crate) resource: &'a LogResource,
    pub(crate) captured: &'a [u8],
}

/// One event, collected and redacted on the application thread, owned so that export outputs
/// encode it on their own threads. Built once per event and shared by every such output; its
/// buffers are recycled through [`spares`](crate::spares) once the outputs are done with it.
#[derive(Debug)]
pub(crate) struct OwnedEvent {
    rec: Record,
    level: Level,
    target: &'static str,
    file: Option<&'static str>,
    line: Option<u32>,
    time: SystemTime,
    timestamp: [u8; 24],
    timestamp_len: u8,
    sequence: u64,
    hash: Option<[u8; 64]>,
    spans: String,
}

impl OwnedEvent {
    /// Copies `view` (its `target` is the event's static metadata).
    pub(crate) fn new(view: &EventView<'_>, target: &'static str) -> OwnedEvent {
        let mut event = OwnedEvent {
            rec: Record::default(),
            level: view.level,
            target,
            file: None,
            line: None,
            time: view.time,
            timestamp: [0; 24],
            timestamp_len: 0,
            sequence: 0,
            hash: None,
            spans: String::new(),
        };
        event.fill(view, target);
        event
    }

    /// Makes this event a copy of `view`, in the buffers it already has.
    pub(crate) fn fill(&mut self, view: &EventView<'_>, target: &'static str) {
        let n = view.timestamp.len().min(24);
        self.timestamp[..n].copy_from_slice(&view.timestamp.as_bytes()[..n]);
        self.timestamp_len = n as u8;
        self.hash = view.hash.and_then(|h| h.as_bytes().try_into().ok());
        self.rec.copy_from(view.rec);
        self.level = view.level;
        self.target = target;
        self.file = view.file;
        self.line = view.line;
        self.time = view.time;
        self.sequence = view.sequence;
        self.spans.clear();
        self.spans.push_str(view.spans);
    }

    /// Bytes of buffers this event holds on to.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.rec.capacity_bytes() + self.spans.capacity()
    }

    /// The view an encoder reads, as the layer built it.
    pub(crate) fn view(&self) -> EventView<'_> {
        let ts = &self.timestamp[..self.timestamp_len as usize];
        EventView {
            rec: &self.rec,
            level: self.level,
            target: self.target,
            file: self.file,
            line: self.line,
            time: self.time,
            timestamp: std::str::from_utf8(ts).unwrap_or("1970-01-01T00:00:00.000Z"),
            sequence: self.sequence,
            hash: self.hash.as_ref().and_then(|h| std::str::from_utf8(h).ok()),
            spans: &self.spans,
        }
    }
}

/// An event on its way to an export output's thread: the shared owned event and what the
/// output's encoder captured on the application thread.
#[derive(Debug)]
pub(crate) struct Deferred {
    pub(crate) event: Arc<OwnedEvent>,
    pub(crate) captured: Option<Box<[u8]>>,
}

impl<'a> LogEvent<'a> {
    /// When it happened (the layer's [`Clock`](crate::Clock)).
    pub fn time(&self) -> SystemTime {
        self.view.time
    }

    /// `@timestamp` as the JSON formats write it (`2026-01-02T03:04:05.678Z`).
    pub fn timestamp_rfc3339(&self) -> &str {
        self.view.timestamp
    }

    /// Its level.
    pub fn level(&self) -> Level {
        self.view.level
    }

    /// Its target (`log.logger`; the module path unless the event set one).
    pub fn target(&self) -> &str {
        self.view.target
    }

    /// The message, redacted; empty if the event had none.
    pub fn message(&self) -> &str {
        self.view.rec.message()
    }

    /// The event's fields and those inherited from its spans, redacted, each name once.
    /// `message`, the trace and span ids and the first error are not among them; see
    /// [`message`](Self::message), [`trace_id`](Self::trace_id) and [`error`](Self::error).
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&'static str, FieldValue<'_>)> + '_ {
        let rec = self.view.rec;
        rec.fields.iter().map(move |e| {
            let v = match e.val {
                Val::Str(a, b) => FieldValue::Str(&rec.arena[a as usize..b as usize]),
                Val::I64(x) => FieldValue::I64(x),
                Val::U64(x) => FieldValue::U64(x),
                Val::I128(x) => FieldValue::I128(x),
                Val::U128(x) => FieldValue::U128(x),
                Val::F64(x) => FieldValue::F64(x),
                Val::Bool(x) => FieldValue::Bool(x),
            };
            (e.key, v)
        })
    }

    /// The first error recorded on the event, if any.
    pub fn error(&self) -> Option<ErrorFields<'_>> {
        let rec = self.view.rec;
        rec.error.as_ref().map(|e| ErrorFields {
            message: rec.str(e.message.clone()),
            kind: rec.str(e.kind.clone()),
            chain: rec.str(e.chain.clone()),
        })
    }

    /// The trace id recorded as a field (`trace_id`, `trace.id` or `otel.trace_id`) on the
    /// event or its innermost span that has one, as given (W3C: 32 hex digits).
    pub fn trace_id(&self) -> Option<&str> {
        let rec = self.view.rec;
        rec.trace_id.clone().map(|r| rec.str(r))
    }

    /// The span id recorded as a field (`span_id`, `span.id` or `otel.span_id`), as given
    /// (W3C: 16 hex digits).
    pub fn span_id(&self) -> Option<&str> {
        let rec = self.view.rec;
        rec.span_id.clone().map(|r| rec.str(r))
    }

    /// The names of the enclosing spans from the root, joined by `>` (`request>db_query`);
    /// empty outside spans.
    pub fn span_path(&self) -> &str {
        self.view.spans
    }

    /// The source file, when the layer records origins.
    pub fn file(&self) -> Option<&'static str> {
        self.view.file
    }

    /// The source line, when the layer records origins.
    pub fn line(&self) -> Option<u32> {
        self.view.line
    }

    /// The event's number in this process (`event.sequence`), counting from 0.
    pub fn sequence(&self) -> u64 {
        self.view.sequence
    }

    /// The fingerprint (`event.hash`, 64 hex digits) when fingerprints are on: an id to
    /// deduplicate resends with.
    pub fn hash(&self) -> Option<&str> {
        self.view.hash
    }

    /// What the output's [`EventEncoder::capture`](crate::EventEncoder::capture) wrote for
    /// this event on the application thread (empty if nothing).
    pub fn captured(&self) -> &[u8] {
        self.captured
    }

    /// The service and host fields shared by every event.
    pub fn resource(&self) -> &LogResource {
        self.resource
    }
}
