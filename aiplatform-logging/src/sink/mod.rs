//! Where encoded lines go. Every sink but [`Output::blocking_writer`](crate::Output::blocking_writer)
//! has a bounded queue and its own writer thread, so the application thread never waits on
//! I/O.

pub(crate) mod backoff;
pub(crate) mod export;
pub(crate) mod logstash;
pub(crate) mod worker;
pub(crate) mod writer;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Error;
use crate::event::Deferred;
use crate::metrics::{DropReason, SinkMetrics};
use crate::notice::Notice;
use crate::output::Target;
use crate::queue::{FullPolicy, Queue};

/// A destination for encoded lines (each ends in `\n`).
pub(crate) trait Sink: Send + Sync + 'static {
    /// Takes one line; never blocks on the network.
    fn send(&self, line: &[u8]);
    /// Takes one event for the sink's thread to encode (export outputs with their own
    /// encoder), built by `make` only when the queue can take it; never blocks on the
    /// network. Other sinks never get one.
    fn send_event(&self, make: &mut dyn FnMut() -> Deferred) {
        let _ = make;
    }
    /// Waits until everything sent so far is delivered, up to `timeout`. Returns whether it was.
    fn flush(&self, timeout: Duration) -> bool;
    /// Delivers what it can within `timeout`, then stops.
    fn shutdown(&self, timeout: Duration);
}

/// Starts the sink an output names: its writer thread and queue, or the blocking writer.
pub(crate) fn start(
    target: Target,
    name: &str,
    (capacity, policy): (usize, FullPolicy),
    notice: Notice,
    metrics: SinkMetrics,
) -> Result<Arc<dyn Sink>, Error> {
    let queue = Queue::new(capacity, policy, metrics.clone());
    let worker = match target {
        Target::Stdout => writer::start(name, queue, notice, std::io::stdout)?,
        Target::Stderr => writer::start(name, queue, notice, std::io::stderr)?,
        Target::Writer(w) => writer::start(name, queue, notice, move || w)?,
        Target::Appender(a) => writer::start(name, queue, notice, move || a)?,
        Target::RollingFile {
            dir,
            prefix,
            rotation,
            max_files,
        } => {
            let mut b = tracing_appender::rolling::Builder::new()
                .rotation(rotation)
                .filename_prefix(prefix)
                .filename_suffix("log");
            if let Some(n) = max_files {
                b = b.max_log_files(n);
            }
            let appender = b.build(&dir).map_err(|e| Error::File {
                path: dir.clone(),
                source: Box::new(e),
            })?;
            writer::start(name, queue, notice, move || appender)?
        }
        Target::Logstash(cfg) => logstash::start(name, cfg, queue, notice)?,
        // Its queue carries events as well as lines.
        Target::Export(cfg) => {
            let queue = Queue::new(capacity, policy, metrics);
            return Ok(Arc::new(export::start(name, cfg, queue, notice)?));
        }
        Target::Blocking(w) => {
            return Ok(Arc::new(BlockingSink {
                w: Mutex::new(w),
                metrics,
            }));
        }
    };
    Ok(Arc::new(worker))
}

/// Writes on the calling thread, under a lock. For tests and benches, and for writers that
/// never block (an in-memory buffer).
pub(crate) struct BlockingSink {
    pub(crate) w: Mutex<Box<dyn Write + Send>>,
    pub(crate) metrics: SinkMetrics,
}

impl Sink for BlockingSink {
    fn send(&self, line: &[u8]) {
        let ok = match self.w.lock() {
            Ok(mut w) => w.write_all(line).is_ok(),
            Err(_) => false,
        };
        if !ok {
            self.metrics.dropped(DropReason::IoError, 1);
        }
    }

    fn flush(&self, _timeout: Duration) -> bool {
        self.w
            .lock()
            .map(|mut w| w.flush().is_ok())
            .unwrap_or(false)
    }

    fn shutdown(&self, timeout: Duration) {
        self.flush(timeout);
    }
}
