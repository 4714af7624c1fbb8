//! The thread the log and span exporters' requests run on.
//!
//! The push client's connection pool spawns its connection tasks on the runtime that makes a
//! request, so every request of a client must come from one runtime, and that runtime must
//! keep running between requests (an HTTP/2 connection answers pings, and notices that the
//! peer went away, only while it is polled). The log output's thread and the span
//! processor's thread are plain threads, so both hand their requests to this one.

use std::future::Future;
use std::sync::mpsc;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::error::ConfigError;
use crate::suppress;

/// A thread running a single-threaded tokio runtime until dropped.
#[derive(Debug)]
pub(crate) struct IoThread {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IoThread {
    pub(crate) fn start() -> Result<IoThread, ConfigError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ConfigError::Thread)?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("otlp-io".into())
            .spawn(move || {
                suppress::mark_thread();
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(ConfigError::Thread)?;
        Ok(IoThread {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `fut` on the thread and waits for its result, at most until `deadline` (then the
    /// request is abandoned and `None` returned).
    pub(crate) fn run_blocking<F>(&self, fut: F, deadline: Instant) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let task = self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        let r = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok();
        if r.is_none() {
            task.abort();
        }
        r
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}
