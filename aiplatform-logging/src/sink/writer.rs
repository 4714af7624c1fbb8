//! Queued sink over any `io::Write`: stdout, stderr, a rotating file from `tracing-appender`.

use std::io::Write;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use super::worker::{Control, Worker};
use crate::Error;
use crate::metrics::DropReason;
use crate::notice::Notice;
use crate::queue::Queue;
use crate::spares::LINES;

/// Lines are written in batches of about this many bytes.
const BATCH: usize = 64 * 1024;

/// Starts a writer thread draining `queue` into the writer `make` returns.
pub(crate) fn start<W>(
    name: &str,
    queue: Queue,
    notice: Notice,
    make: impl FnOnce() -> W + Send + 'static,
) -> Result<Worker, Error>
where
    W: Write,
{
    Worker::spawn(name, queue, move |q, c| run(&q, &c, notice, make()))
}

fn run(q: &Queue, control: &Control, mut notice: Notice, mut w: impl Write) {
    let mut buf = Vec::with_capacity(BATCH);
    loop {
        match q.rx().recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                buf.extend_from_slice(&line);
                LINES.give_back(line);
                let mut n = 1u64;
                while buf.len() < BATCH {
                    match q.rx().try_recv() {
                        Ok(l) => {
                            buf.extend_from_slice(&l);
                            LINES.give_back(l);
                            n += 1;
                        }
                        Err(_) => break,
                    }
                }
                if w.write_all(&buf).and_then(|()| w.flush()).is_err() {
                    q.metrics.dropped(DropReason::IoError, n);
                }
                buf.clear();
                q.done(n);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        q.metrics.depth.set(q.rx().len() as f64);
        if let Some(line) = notice.poll(&q.metrics, false) {
            let _ = w.write_all(&line).and_then(|()| w.flush());
        }
        if let Some(deadline) = control.shutdown_deadline()
            && (q.rx().is_empty() || Instant::now() >= deadline)
        {
            q.drain_dropped(DropReason::Shutdown);
            // The last word: drops not yet reported, whatever the rate limit.
            if let Some(line) = notice.poll(&q.metrics, true) {
                let _ = w.write_all(&line);
            }
            let _ = w.flush();
            break;
        }
    }
}
