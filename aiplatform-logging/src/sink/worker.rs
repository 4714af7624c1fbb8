//! The lifecycle every queued sink shares: a named writer thread, flush and shutdown with a
//! deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Sink;
use crate::Error;
use crate::event::Deferred;
use crate::queue::Queue;
use crate::spares::LINES;

/// What the application side and the writer thread share besides the queue.
#[derive(Debug, Default)]
pub(crate) struct Control {
    shutdown: AtomicBool,
    deadline: Mutex<Option<Instant>>,
    finished: AtomicBool,
}

impl Control {
    /// The shutdown deadline, once shutdown was requested.
    pub(crate) fn shutdown_deadline(&self) -> Option<Instant> {
        if self.shutdown.load(Ordering::Acquire) {
            *self.deadline.lock().ok()?
        } else {
            None
        }
    }
}

/// A queue plus the thread draining it.
#[derive(Debug)]
pub(crate) struct Worker<T = Vec<u8>> {
    pub(crate) queue: Arc<Queue<T>>,
    control: Arc<Control>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts `body` on a thread called `name`; `body` must return soon after the control's
    /// shutdown deadline.
    pub(crate) fn spawn(
        name: &str,
        queue: Queue<T>,
        body: impl FnOnce(Arc<Queue<T>>, Arc<Control>) + Send + 'static,
    ) -> Result<Worker<T>, Error> {
        let queue = Arc::new(queue);
        let control = Arc::new(Control::default());
        let (q, c) = (queue.clone(), control.clone());
        let handle = std::thread::Builder::new()
            .name(format!("log-{name}"))
            .spawn(move || {
                body(q, c.clone());
                c.finished.store(true, Ordering::Release);
            })
            .map_err(|e| Error::Thread(name.to_owned(), e))?;
        Ok(Worker {
            queue,
            control,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Asks the thread to deliver what it can before `timeout`, then waits for it (a little
    /// past the deadline, for the thread to wrap up) and joins it.
    pub(crate) fn shutdown(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        if let Ok(mut d) = self.control.deadline.lock() {
            *d = Some(deadline);
        }
        self.control.shutdown.store(true, Ordering::Release);
        let grace = deadline + Duration::from_millis(500);
        while !self.control.finished.load(Ordering::Acquire) && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.queue.close();
        if self.control.finished.load(Ordering::Acquire)
            && let Some(h) = self.handle.lock().ok().and_then(|mut h| h.take())
        {
            let _ = h.join();
        }
    }
}

/// What a sink's queue carries: encoded lines, and for export outputs also events.
pub(crate) trait Item: Send + 'static {
    /// Whether the sink's thread encodes events itself (an export output's queue).
    const TAKES_EVENTS: bool;
    /// A line the layer encoded.
    fn line(line: &[u8]) -> Self;
    /// An event for the sink's thread to encode; only called when `TAKES_EVENTS`.
    fn event(event: Deferred) -> Self;
}

impl Item for Vec<u8> {
    const TAKES_EVENTS: bool = false;

    fn line(line: &[u8]) -> Self {
        LINES.copy(line)
    }

    /// Never called: a writer's queue takes lines only; the event is dropped as a line
    /// nobody can write.
    fn event(_: Deferred) -> Self {
        Vec::new()
    }
}

impl<T: Item> Sink for Worker<T> {
    fn send(&self, line: &[u8]) {
        self.queue.push(T::line(line));
    }

    fn send_event(&self, make: &mut dyn FnMut() -> Deferred) {
        if T::TAKES_EVENTS {
            self.queue.push_with(|| T::event(make()));
        }
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.queue.wait_done(Instant::now() + timeout)
    }

    fn shutdown(&self, timeout: Duration) {
        Worker::shutdown(self, timeout);
    }
}
