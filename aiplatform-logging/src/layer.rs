//! The `tracing-subscriber` layer: collects each event with its span context, redacts it,
//! fingerprints it, encodes it once per output format and hands the lines to the sinks.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::span::{Attributes, Id, Record as SpanValues};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::clock::{Clock, rfc3339_millis};
use crate::encode::ecs::{EcsScratch, EcsStatic};
use crate::encode::{EventView, encode_format};
use crate::event::{Deferred, LogEvent, LogResource, OwnedEvent};
use crate::export::EventEncoder;
use crate::fingerprint::{Fingerprint, Occurrence};
use crate::metrics::SelfMetrics;
use crate::output::Format;
use crate::record::{Collect, Record};
use crate::redact::Redactor;
use crate::sink::Sink;
use crate::spares::EVENTS;

/// The layer. Build it with [`LogBuilder`](crate::LogBuilder); compose it like any other
/// `tracing-subscriber` layer.
#[derive(Clone)]
pub struct LogLayer {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) redactor: Redactor,
    pub(crate) ecs: Arc<EcsStatic>,
    pub(crate) fingerprint: Option<Fingerprint>,
    /// Outputs in a built-in format.
    pub(crate) outputs: Vec<(Format, Arc<dyn Sink>)>,
    /// Outputs with their own encoder, which their threads run.
    pub(crate) custom: Vec<(Arc<dyn EventEncoder>, Arc<dyn Sink>)>,
    /// The formats of `outputs`, each once.
    pub(crate) formats: Vec<Format>,
    pub(crate) resource: Arc<LogResource>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: SelfMetrics,
    pub(crate) service: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) seq: Arc<AtomicU64>,
}

impl fmt::Debug for LogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLayer")
            .field("service", &self.inner.service)
            .field("formats", &self.inner.formats)
            .field(
                "outputs",
                &(self.inner.outputs.len() + self.inner.custom.len()),
            )
            .finish_non_exhaustive()
    }
}

/// Span fields, collected and redacted when recorded.
struct SpanData {
    rec: Record,
}

#[derive(Default)]
struct Scratch {
    rec: Record,
    out: Vec<u8>,
    spans: String,
    ecs: EcsScratch,
    context: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl LogLayer {
    pub(crate) fn new(shared: Shared) -> LogLayer {
        LogLayer {
            inner: Arc::new(shared),
        }
    }

    fn event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>, s: &mut Scratch)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let sh = &*self.inner;
        let meta = event.metadata();
        let Scratch {
            rec,
            out,
            spans,
            ecs: esc,
            context,
        } = s;
        rec.clear();
        spans.clear();
        event.record(&mut Collect {
            rec,
            redactor: &sh.redactor,
        });
        // One walk from the innermost span out: inherit fields, remember names for the path.
        let mut names: [&'static str; 16] = [""; 16];
        let mut depth = 0;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(data) = span.extensions().get::<SpanData>() {
                    rec.inherit(&data.rec);
                }
                // The path keeps the 16 innermost spans.
                if depth < names.len() {
                    names[depth] = span.name();
                    depth += 1;
                }
            }
        }
        for k in (0..depth).rev() {
            if !spans.is_empty() {
                spans.push('>');
            }
            spans.push_str(names[k]);
        }
        let time = sh.clock.now();
        let mut ts = [0u8; 24];
        let ts = rfc3339_millis(time, &mut ts);
        let ts = std::str::from_utf8(ts).unwrap_or("1970-01-01T00:00:00.000Z");
        let mut view = EventView {
            time,
            rec,
            level: *meta.level(),
            target: meta.target(),
            file: meta.file(),
            line: meta.line(),
            timestamp: ts,
            sequence: sh.seq.fetch_add(1, Ordering::Relaxed),
            hash: None,
            spans,
        };
        let mut hash = [0u8; 64];
        if let Some(fp) = &sh.fingerprint {
            let occ = Occurrence {
                service: &sh.service,
                host: &sh.host,
                pid: sh.pid,
            };
            fp.compute(&view, &occ, &mut hash);
            view.hash = std::str::from_utf8(&hash).ok();
        }
        for &format in &sh.formats {
            out.clear();
            encode_format(format, &sh.ecs, &view, esc, out);
            for (f, sink) in &sh.outputs {
                if *f == format {
                    sink.send(out);
                }
            }
        }
        if !sh.custom.is_empty() {
            let event = LogEvent {
                view: &view,
                resource: &sh.resource,
                captured: &[],
            };
            // Copied once for every such output (into a spare event's buffers), and only if
            // one of them has room for it; each output's thread encodes it.
            let mut owned: Option<Arc<OwnedEvent>> = None;
            for (encoder, sink) in &sh.custom {
                context.clear();
                if !encoder.capture(&event, context) {
                    continue;
                }
                sink.send_event(&mut || Deferred {
                    event: owned
                        .get_or_insert_with(|| EVENTS.owned(&view, meta.target()))
                        .clone(),
                    captured: (!context.is_empty()).then(|| context.as_slice().into()),
                });
            }
        }
        sh.metrics.events.inc();
        if rec.redactions > 0 {
            sh.metrics.redactions.inc_by(rec.redactions as u64);
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for LogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut rec = Record::default();
        attrs.record(&mut Collect {
            rec: &mut rec,
            redactor: &self.inner.redactor,
        });
        if rec.redactions > 0 {
            self.inner.metrics.redactions.inc_by(rec.redactions as u64);
        }
        span.extensions_mut().insert(SpanData { rec });
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(data) = ext.get_mut::<SpanData>() else {
            return;
        };
        let before = data.rec.redactions;
        values.record(&mut Collect {
            rec: &mut data.rec,
            redactor: &self.inner.redactor,
        });
        let n = data.rec.redactions - before;
        if n > 0 {
            self.inner.metrics.redactions.inc_by(n as u64);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // A sink that logs from inside `send` would re-enter: give it fresh buffers.
        let handled = SCRATCH.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => {
                self.event(event, &ctx, &mut s);
                true
            }
            Err(_) => false,
        });
        if handled != Ok(true) {
            self.event(event, &ctx, &mut Scratch::default());
        }
    }
}
