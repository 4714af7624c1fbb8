//! `tracing` spans as OTLP spans: the layer ([`SpanLayer`], where the mapping, sampling,
//! `traceparent` and self-metrics are described) and its sending thread.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aiplatform_logging::{FieldValue, Redactor};
use aiplatform_metrics::Registry;
use aiplatform_push::{
    Backoff, Compression, Compressor, DropReason, Exposed, Failure, Outcome, SenderStats, proto,
};
use bytes::Bytes;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{SignalConfig, Vars, batching};
use crate::error::ConfigError;
use crate::io::IoThread;
use crate::logs::typed_attribute;
use crate::sampling::{Decider, RemoteParent, Sampler, TRACEPARENT_FIELD, parse_traceparent};
use crate::transport::OtlpTransport;
use crate::wire::{self, Envelope};
use crate::{Resource, suppress};

/// Events kept per span at most.
const MAX_EVENTS: u32 = 128;
/// How long a batch is retried before it is given up (flush and shutdown use their deadline).
const RETRY_WINDOW: Duration = Duration::from_secs(30);

/// The ids of an exported span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanIds {
    pub(crate) trace: [u8; 16],
    pub(crate) span: [u8; 8],
    pub(crate) flags: u8,
}

thread_local! {
    /// The spans entered on this thread, innermost last (`None` for spans not exported).
    static ENTERED: RefCell<Vec<Option<SpanIds>>> = const { RefCell::new(Vec::new()) };
}

/// The ids of the innermost span entered on this thread, if it is exported.
pub(crate) fn current_ids() -> Option<SpanIds> {
    ENTERED
        .try_with(|e| e.borrow().last().copied().flatten())
        .ok()
        .flatten()
}

/// What an unsampled span keeps (in its extensions): its ids, for its children and its logs.
struct NotSampled(SpanIds);

/// `flags` bit: whether the parent is remote is known.
const HAS_IS_REMOTE: u32 = 0x100;
/// `flags` bit: the parent is remote.
const IS_REMOTE: u32 = 0x200;

/// What a sampled span keeps until it closes (in its extensions).
struct SpanData {
    ids: SpanIds,
    parent: Option<[u8; 8]>,
    remote_parent: bool,
    name: String,
    kind: u64,
    start: u64,
    /// Encoded `attributes` entries (field 9).
    attributes: Vec<u8>,
    /// Encoded `events` entries (field 11).
    events: Vec<u8>,
    n_events: u32,
    status: u64,
    status_message: String,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn random_nonzero<const N: usize>() -> [u8; N] {
    loop {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let r = fastrand::u64(..).to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        if out != [0u8; N] {
            return out;
        }
    }
}

/// Records fields as OTLP attributes, picking out the `otel.*` ones.
struct Fields<'a> {
    data: &'a mut SpanData,
    redactor: &'a Redactor,
}

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: FieldValue<'_>) {
        typed_attribute(&mut self.data.attributes, 9, field.name(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "otel.name" => self.data.name = value.to_owned(),
            "otel.kind" => {
                self.data.kind = match value.to_ascii_lowercase().as_str() {
                    "server" => 2,
                    "client" => 3,
                    "producer" => 4,
                    "consumer" => 5,
                    _ => 1,
                }
            }
            "otel.status_code" => {
                self.data.status = match value.to_ascii_lowercase().as_str() {
                    "ok" => 1,
                    "error" => 2,
                    _ => 0,
                }
            }
            "otel.status_message" => {
                self.data.status_message = self.redactor.redact(value).into_owned();
            }
            // Read at creation as the remote parent; not an attribute.
            TRACEPARENT_FIELD => {}
            name => {
                let v = self.redactor.redact_field(name, value);
                let v = self.redactor.redact(&v).into_owned();
                self.put(field, FieldValue::Str(&v));
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, FieldValue::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, FieldValue::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, FieldValue::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.data.status = 2;
        let message = self.redactor.redact(&value.to_string()).into_owned();
        self.put(field, FieldValue::Str(&message));
        if self.data.status_message.is_empty() {
            self.data.status_message = message;
        }
    }
}

/// Records an event's fields as a span `Event`'s attributes; the message is its name.
struct EventFields<'a> {
    out: &'a mut Vec<u8>,
    message: String,
    redactor: &'a Redactor,
}

impl Visit for EventFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = self.redactor.redact(value).into_owned();
        } else {
            let v = self.redactor.redact_field(field.name(), value);
            let v = self.redactor.redact(&v).into_owned();
            typed_attribute(self.out, 3, field.name(), FieldValue::Str(&v));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        typed_attribute(self.out, 3, field.name(), FieldValue::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        typed_attribute(self.out, 3, field.name(), FieldValue::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        typed_attribute(self.out, 3, field.name(), FieldValue::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        typed_attribute(self.out, 3, field.name(), FieldValue::Bool(value));
    }
}

/// Reads the `traceparent` field, and nothing else.
struct FindTraceparent(Option<RemoteParent>);

impl Visit for FindTraceparent {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == TRACEPARENT_FIELD {
            self.0 = parse_traceparent(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == TRACEPARENT_FIELD {
            self.0 = parse_traceparent(&format!("{value:?}"));
        }
    }
}

/// Spans waiting: queued by the layer, not yet delivered or dropped by the sending thread.
#[derive(Debug, Default)]
struct Queued {
    spans: AtomicU64,
    bytes: AtomicU64,
}

impl Queued {
    fn add(&self, bytes: usize) {
        self.spans.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn remove(&self, spans: &[Vec<u8>]) {
        let bytes: usize = spans.iter().map(Vec::len).sum();
        self.spans.fetch_sub(spans.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
    }
}

/// The counters shared by the layer, the sending thread and the guard.
#[derive(Debug, Clone, Default)]
struct Shared {
    stats: SenderStats,
    queued: Arc<Queued>,
}

enum Msg {
    Span(Vec<u8>),
    Flush {
        deadline: Instant,
        reply: SyncSender<bool>,
    },
    Shutdown {
        deadline: Instant,
        reply: SyncSender<bool>,
    },
}

/// `tracing` spans as OTLP spans: [`SpanLayer`] gives every span a trace and span id, keeps
/// its fields and events, and at close writes it as an OTLP `Span`; a thread of its own sends
/// batches of them (`OTEL_BSP_*`) over the same transport as metrics and logs.
///
/// | `tracing` | OTLP `Span` |
/// |---|---|
/// | span name, or an `otel.name` field | `name` |
/// | parent span (explicit or current) | same `trace_id`, `parent_span_id`; a root span starts a new random trace |
/// | a `traceparent` field given at creation (W3C `00-<trace id>-<parent id>-<flags>`) | the caller's `trace_id`, its span as `parent_span_id` (see below) |
/// | new, close | `start_time_unix_nano`, `end_time_unix_nano` |
/// | fields (recorded at creation or later) | `attributes`, typed; strings redacted by the logging crate's default [`Redactor`] |
/// | `otel.kind` = `server`, `client`, `producer`, `consumer`, `internal` | `kind` (default `INTERNAL`) |
/// | `otel.status_code` = `ok` / `error`, `otel.status_message`; an ERROR event inside | `status` |
/// | events inside the span (at most 128) | `events`: time, the message as name, the other fields as attributes |
/// | the sampler's decision | `flags`: W3C trace flags (`0x01` sampled), and `0x100` \| `0x200` when the parent is remote (`0x100` alone when it is not) |
///
/// **Sampling.** Every span gets ids; the sampler (`OTEL_TRACES_SAMPLER`, see
/// [`Sampler`](crate::Sampler)) decides at creation whether it is sampled. A sampled span is
/// recorded and exported; an unsampled one keeps its ids and nothing else (its fields and
/// events are not even read), and is never queued. Log records written inside a span carry
/// its trace and span ids with its flags (see [`LogRecordEncoder`](crate::LogRecordEncoder)):
/// `flags` 1 inside a sampled span, 0 inside an unsampled one, so logs can still be joined on
/// the trace id when its spans were not kept.
///
/// **Continuing a caller's trace.** A span created with a field named `traceparent` (see
/// [`TRACEPARENT_FIELD`](crate::TRACEPARENT_FIELD)) holding the caller's W3C `traceparent`
/// header, as a string (`traceparent = value` or `traceparent = %value`), becomes a child of
/// the caller's span: same trace id, the caller's span id as `parent_span_id`, and the
/// caller's sampled flag is the parent's for the parent-based samplers. A valid value wins over
/// a local parent (it says where the request came from); an invalid one (version `ff`, an
/// all-zero id, uppercase hex, a malformed value) is ignored as the W3C rules require, and the
/// span is a root or the child of its local parent as if the field were absent. The field is
/// read at creation only (recording it later changes nothing) and is not exported as an
/// attribute.
///
/// Spans are kept when the queue is full only until it holds `OTEL_BSP_MAX_QUEUE_SIZE`; past
/// that they are dropped and counted ([`TraceGuard::spans_dropped`]). Spans made on the
/// exporters' own threads are not exported.
///
/// **Self-metrics.** With a registry
/// ([`Otlp::traces_with_registry`](crate::Otlp::traces_with_registry)), the sending thread
/// counts into the push pipeline's `aiplatform_push_*` families with
/// `backend="otlp_traces"` ([`TRACES_BACKEND`](crate::TRACES_BACKEND)), a span being a sample:
///
/// | family | here |
/// |---|---|
/// | `samples_sent_total`, `batches_sent_total`, `sent_bytes_total` | spans, export requests and request bytes the receiver accepted |
/// | `failures_total{reason}` | failed attempts (`connect`, `timeout`, `http_5xx`, ...) |
/// | `retries_total` | attempts made again |
/// | `dropped_samples_total{reason}` | `queue_full`: the queue held `OTEL_BSP_MAX_QUEUE_SIZE` spans, or a batch was still not delivered when its retry window (30 s, or a flush's timeout) ended; `rejected`: refused by the receiver, or its partial success; `too_large`: one span alone refused with 413; `stopped`: the receiver refuses this sender; `shutdown`: not delivered by the guard's 5 s at drop, or closed after the exporter stopped |
/// | `queue_bytes`, `queue_batches` | encoded spans waiting (queue and batch being sent), and the export requests they make |
/// | `last_success_timestamp_seconds`, `send_duration_seconds` | as for the pipeline |
/// | `queue_limit_bytes`, `collections_total`, `cycle_duration_seconds`, `superseded_batches_total` | 0: the bound is counted in spans, and nothing is collected |
///
/// ```text
/// Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; SpanKind kind = 6;
///        fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
///        repeated Event events = 11; Status status = 15; fixed32 flags = 16; }
/// Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
/// Status { string message = 2; StatusCode code = 3; }   (UNSET 0, OK 1, ERROR 2)
/// ```
///
/// Made by [`Otlp::traces`](crate::Otlp::traces) or
/// [`Otlp::traces_with_registry`](crate::Otlp::traces_with_registry).
pub struct SpanLayer {
    tx: SyncSender<Msg>,
    shared: Shared,
    sampler: Decider,
    redactor: Redactor,
    /// The self-metrics' registration, shared with the guard: the series stay while either
    /// lives, so spans dropped after the guard stopped the exporter are still seen.
    _exposed: Option<Arc<Exposed>>,
}

impl std::fmt::Debug for SpanLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanLayer").finish_non_exhaustive()
    }
}

impl<S> tracing_subscriber::Layer<S> for SpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if suppress::active() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let remote = if attrs.metadata().fields().field(TRACEPARENT_FIELD).is_some() {
            let mut find = FindTraceparent(None);
            attrs.record(&mut find);
            find.0
        } else {
            None
        };
        let local = if remote.is_some() || attrs.is_root() {
            None
        } else if let Some(p) = attrs.parent() {
            ctx.span(p)
        } else {
            ctx.lookup_current()
        };
        let (trace, parent, parent_sampled) = match (remote, local.and_then(|p| ids_of(&p))) {
            (Some(r), _) => (r.trace, Some(r.span), Some(r.sampled)),
            (None, Some(p)) => (p.trace, Some(p.span), Some(p.flags & 1 == 1)),
            (None, None) => (random_nonzero::<16>(), None, None),
        };
        let sampled = self.sampler.sampled(&trace, parent_sampled);
        let ids = SpanIds {
            trace,
            span: random_nonzero::<8>(),
            flags: u8::from(sampled),
        };
        if !sampled {
            span.extensions_mut().insert(NotSampled(ids));
            return;
        }
        let mut data = SpanData {
            ids,
            parent,
            remote_parent: remote.is_some(),
            name: attrs.metadata().name().to_owned(),
            kind: 1,
            start: now_nanos(),
            attributes: Vec::new(),
            events: Vec::new(),
            n_events: 0,
            status: 0,
            status_message: String::new(),
        };
        attrs.record(&mut Fields {
            data: &mut data,
            redactor: &self.redactor,
        });
        span.extensions_mut().insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>() {
            values.record(&mut Fields {
                data,
                redactor: &self.redactor,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(data) = ext.get_mut::<SpanData>() else {
            return;
        };
        if *event.metadata().level() == Level::ERROR && data.status == 0 {
            data.status = 2;
        }
        if data.n_events >= MAX_EVENTS {
            return;
        }
        data.n_events += 1;
        let mut attributes = Vec::new();
        let mut fields = EventFields {
            out: &mut attributes,
            message: String::new(),
            redactor: &self.redactor,
        };
        event.record(&mut fields);
        let name = std::mem::take(&mut fields.message);
        let ev = proto::begin(&mut data.events, 11);
        proto::fixed64(&mut data.events, 1, now_nanos());
        proto::string(&mut data.events, 2, &name);
        data.events.extend_from_slice(&attributes);
        proto::end(&mut data.events, ev);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let ids = ctx.span(id).and_then(|s| ids_of(&s));
        let _ = ENTERED.try_with(|e| e.borrow_mut().push(ids));
    }

    fn on_exit(&self, _id: &Id, _ctx: Context<'_, S>) {
        let _ = ENTERED.try_with(|e| e.borrow_mut().pop());
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(data) = span.extensions_mut().remove::<SpanData>() else {
            return;
        };
        let record = encode(&data, now_nanos());
        let len = record.len();
        // Counted before it is sent, so the thread never takes off more than was added.
        self.shared.queued.add(len);
        let dropped = match self.tx.try_send(Msg::Span(record)) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => DropReason::QueueFull,
            Err(TrySendError::Disconnected(_)) => DropReason::Shutdown,
        };
        self.shared.queued.spans.fetch_sub(1, Ordering::Relaxed);
        self.shared
            .queued
            .bytes
            .fetch_sub(len as u64, Ordering::Relaxed);
        self.shared.stats.dropped(dropped, 1);
    }
}

/// The ids of a span, sampled or not; `None` for one this layer did not see (made on an
/// exporter's thread).
fn ids_of<S>(span: &tracing_subscriber::registry::SpanRef<'_, S>) -> Option<SpanIds>
where
    S: for<'a> LookupSpan<'a>,
{
    let ext = span.extensions();
    ext.get::<SpanData>()
        .map(|d| d.ids)
        .or_else(|| ext.get::<NotSampled>().map(|n| n.0))
}

/// A `Span` record (field 2 of `ScopeSpans`).
fn encode(d: &SpanData, end: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + d.name.len() + d.attributes.len() + d.events.len());
    let span = proto::begin(&mut out, 2);
    proto::bytes(&mut out, 1, &d.ids.trace);
    proto::bytes(&mut out, 2, &d.ids.span);
    if let Some(p) = d.parent {
        proto::bytes(&mut out, 4, &p);
    }
    proto::string(&mut out, 5, &d.name);
    proto::uint64(&mut out, 6, d.kind);
    proto::fixed64(&mut out, 7, d.start);
    proto::fixed64(&mut out, 8, end.max(d.start));
    out.extend_from_slice(&d.attributes);
    out.extend_from_slice(&d.events);
    if d.status != 0 {
        let st = proto::begin(&mut out, 15);
        if !d.status_message.is_empty() {
            proto::string(&mut out, 2, &d.status_message);
        }
        proto::uint64(&mut out, 3, d.status);
        proto::end(&mut out, st);
    }
    // flags: the W3C trace flags (sampled), and whether the parent is remote.
    let mut flags = u32::from(d.ids.flags) | HAS_IS_REMOTE;
    if d.remote_parent {
        flags |= IS_REMOTE;
    }
    proto::varint(&mut out, 16 << 3 | 5);
    out.extend_from_slice(&flags.to_le_bytes());
    proto::end(&mut out, span);
    out
}

/// Flushes exported spans and, when dropped, delivers what it can within 5 s and stops the
/// sending thread.
pub struct TraceGuard {
    tx: SyncSender<Msg>,
    shared: Shared,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The self-metrics' registration, shared with the layer.
    _exposed: Option<Arc<Exposed>>,
}

impl std::fmt::Debug for TraceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceGuard")
            .field("spans_sent", &self.spans_sent())
            .field("spans_dropped", &self.spans_dropped())
            .finish()
    }
}

impl TraceGuard {
    /// Sends every span closed so far and waits for the receiver's answer, at most
    /// `timeout`; whether everything was delivered.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (reply, done) = mpsc::sync_channel(1);
        let deadline = Instant::now() + timeout;
        if self.tx.send(Msg::Flush { deadline, reply }).is_err() {
            return false;
        }
        done.recv_timeout(timeout + Duration::from_millis(100))
            .unwrap_or(false)
    }

    /// Spans the receiver accepted.
    pub fn spans_sent(&self) -> u64 {
        self.shared.stats.samples_sent()
    }

    /// Spans given up: queue full, refused by the receiver, or not delivered in time.
    /// Unsampled spans are not counted: they were never to be exported.
    pub fn spans_dropped(&self) -> u64 {
        self.shared.stats.dropped_total()
    }

    /// Spans given up for `reason` (the `reason` label of
    /// `aiplatform_push_dropped_samples_total{backend="otlp_traces"}`).
    pub fn spans_dropped_for(&self, reason: DropReason) -> u64 {
        self.shared.stats.dropped_samples(reason)
    }
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        let (reply, done) = mpsc::sync_channel(1);
        let timeout = Duration::from_secs(5);
        let deadline = Instant::now() + timeout;
        if self.tx.send(Msg::Shutdown { deadline, reply }).is_ok() {
            let _ = done.recv_timeout(timeout + Duration::from_millis(100));
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// The sending thread's state.
struct Sender {
    transport: OtlpTransport,
    io: IoThread,
    envelope: Envelope,
    compression: Compression,
    compressor: Compressor,
    timeout: Duration,
    backoff: Backoff,
    stats: SenderStats,
    body: Vec<u8>,
}

impl Sender {
    /// Delivers `spans`, retrying until `deadline` (then dropping them for `late`); whether
    /// they were all delivered.
    fn deliver(&mut self, spans: &[Vec<u8>], deadline: Instant, late: DropReason) -> bool {
        if spans.is_empty() {
            return true;
        }
        let n = spans.len() as u64;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                self.stats.retried();
            }
            self.body.clear();
            let len = spans.iter().map(Vec::len).sum();
            self.envelope
                .frame(len, spans.iter().map(Vec::as_slice), &mut self.body);
            let body = match self.compressor.compress_to_vec(&self.body) {
                Ok(b) => Bytes::from(b),
                Err(_) => {
                    // In-memory compression does not fail in practice; if it did, the batch
                    // could never be sent.
                    self.stats.failed(Failure::Io, Duration::ZERO);
                    self.stats.dropped(DropReason::Rejected, n);
                    return false;
                }
            };
            let bytes = body.len() as u64;
            let transport = self.transport.clone();
            let compression = self.compression;
            let wait_until = deadline.min(Instant::now() + self.timeout + Duration::from_secs(1));
            let started = Instant::now();
            let outcome = self.io.run_blocking(
                async move { transport.send_body(body, compression).await },
                wait_until,
            );
            let took = started.elapsed();
            let after = match outcome {
                Some(Outcome::Delivered) => {
                    self.stats.sent(n, bytes, took);
                    return true;
                }
                Some(Outcome::PartlyDelivered { rejected, .. }) => {
                    let rejected = rejected.min(n);
                    self.stats.sent(n - rejected, bytes, took);
                    self.stats.dropped(DropReason::Rejected, rejected);
                    return rejected == 0;
                }
                Some(Outcome::TooLarge { .. }) => {
                    self.stats.failed(Failure::Status(413), took);
                    if spans.len() == 1 {
                        self.stats.dropped(DropReason::TooLarge, 1);
                        return false;
                    }
                    let (a, b) = spans.split_at(spans.len() / 2);
                    let first = self.deliver(a, deadline, late);
                    return self.deliver(b, deadline, late) && first;
                }
                Some(Outcome::Retry { failure, after, .. }) => {
                    self.stats.failed(failure, took);
                    after
                }
                None => {
                    self.stats.failed(Failure::Timeout, took);
                    None
                }
                Some(Outcome::Rejected { failure, .. }) => {
                    self.stats.failed(failure, took);
                    self.stats.dropped(DropReason::Rejected, n);
                    return false;
                }
                Some(Outcome::Stop { failure, .. }) => {
                    self.stats.failed(failure, took);
                    self.stats.dropped(DropReason::Stopped, n);
                    return false;
                }
                Some(_) => {
                    self.stats.dropped(DropReason::Rejected, n);
                    return false;
                }
            };
            let wait = after.unwrap_or_else(|| self.backoff.delay(attempt));
            if Instant::now() + wait >= deadline {
                self.stats.dropped(late, n);
                return false;
            }
            std::thread::sleep(wait);
        }
    }
}

fn run(rx: Receiver<Msg>, mut sender: Sender, queued: &Queued, delay: Duration, batch: usize) {
    suppress::mark_thread();
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(batch);
    let mut due = Instant::now() + delay;
    loop {
        let msg = rx.recv_timeout(due.saturating_duration_since(Instant::now()));
        let (send_now, reply, stop) = match msg {
            Ok(Msg::Span(s)) => {
                pending.push(s);
                (pending.len() >= batch, None, None)
            }
            Ok(Msg::Flush { deadline, reply }) => (true, Some((deadline, reply)), None),
            Ok(Msg::Shutdown { deadline, reply }) => (true, Some((deadline, reply)), Some(())),
            Err(RecvTimeoutError::Timeout) => (true, None, None),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if !send_now {
            continue;
        }
        // A flush also takes what the layer queued before it.
        if reply.is_some() {
            while let Ok(m) = rx.try_recv() {
                match m {
                    Msg::Span(s) => pending.push(s),
                    Msg::Flush { reply, .. } | Msg::Shutdown { reply, .. } => {
                        let _ = reply.try_send(true);
                    }
                }
            }
        }
        let deadline = reply
            .as_ref()
            .map_or(Instant::now() + RETRY_WINDOW, |(d, _)| *d);
        let late = if stop.is_some() {
            DropReason::Shutdown
        } else {
            DropReason::QueueFull
        };
        let mut ok = true;
        for chunk in pending.chunks(batch.max(1)) {
            ok &= sender.deliver(chunk, deadline, late);
            queued.remove(chunk);
        }
        pending.clear();
        due = Instant::now() + delay;
        if stop.is_some() {
            // What the layer sent after the shutdown began is not delivered: counted here,
            // since the channel closes with this thread.
            while let Ok(m) = rx.try_recv() {
                if let Msg::Span(s) = m {
                    sender.stats.dropped(DropReason::Shutdown, 1);
                    queued.remove(std::slice::from_ref(&s));
                }
            }
        }
        if let Some((_, reply)) = reply {
            let _ = reply.try_send(ok);
        }
        if stop.is_some() {
            return;
        }
    }
}

/// Starts the sending thread; the layer and its guard. With `registry`, the thread's counts
/// are exposed there as `aiplatform_push_*{backend="otlp_traces"}`.
pub(crate) fn start(
    cfg: &SignalConfig,
    resource: &Resource,
    vars: &Vars,
    sampler: Sampler,
    registry: Option<&Registry>,
) -> Result<(SpanLayer, TraceGuard), ConfigError> {
    let b = batching(vars, "BSP", Duration::from_secs(5))?;
    let (tx, rx) = mpsc::sync_channel(b.queue);
    let shared = Shared::default();
    let exposed = registry.map(|r| {
        let queued = shared.queued.clone();
        let batch = b.batch.max(1) as u64;
        Arc::new(
            shared
                .stats
                .expose_with_queue(r, crate::TRACES_BACKEND, move || {
                    let spans = queued.spans.load(Ordering::Relaxed);
                    (queued.bytes.load(Ordering::Relaxed), spans.div_ceil(batch))
                }),
        )
    });
    let sender = Sender {
        transport: OtlpTransport::new(cfg)?,
        io: IoThread::start()?,
        envelope: Envelope::new(
            resource.encode(),
            wire::scope("aiplatform-otlp", env!("CARGO_PKG_VERSION")),
        ),
        compression: cfg.compression,
        compressor: Compressor::new(cfg.compression),
        timeout: cfg.timeout,
        backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        stats: shared.stats.clone(),
        body: Vec::new(),
    };
    let queued = shared.queued.clone();
    let thread = std::thread::Builder::new()
        .name("otlp-spans".into())
        .spawn(move || run(rx, sender, &queued, b.delay, b.batch))
        .map_err(ConfigError::Thread)?;
    Ok((
        SpanLayer {
            tx: tx.clone(),
            shared: shared.clone(),
            sampler: sampler.decider(),
            redactor: Redactor::default(),
            _exposed: exposed.clone(),
        },
        TraceGuard {
            tx,
            shared,
            thread: Mutex::new(Some(thread)),
            _exposed: exposed,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_not_zero_and_differ() {
        let a = random_nonzero::<16>();
        let b = random_nonzero::<16>();
        assert_ne!(a, [0; 16]);
        assert_ne!(a, b);
    }
}
