//! The response future: records when the inner future completes, or when it is dropped first.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use super::Recorder;

/// One request between `call` and its response.
pub(crate) struct InFlight {
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) method: &'static str,
    pub(crate) endpoint: Box<str>,
    pub(crate) start: Instant,
    pub(crate) done: bool,
}

impl InFlight {
    fn finish(&mut self, status: &str) {
        if self.done {
            return;
        }
        self.done = true;
        let r = &self.recorder;
        r.in_flight.dec();
        r.requests
            .apply(&[self.method, &self.endpoint, status], |c| c.inc());
        r.duration.apply(&[self.method, &*self.endpoint], |h| {
            h.observe_duration(self.start.elapsed())
        });
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // The response future went away before completing: the client hung up, or the server
        // is shutting down. Count it rather than lose it.
        self.finish("cancelled");
    }
}

pin_project! {
    /// The future of [`HttpMetricsService`](super::HttpMetricsService).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: InFlight,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, state: InFlight) -> Self {
        ResponseFuture { inner, state }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("endpoint", &self.state.endpoint)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        match &out {
            Ok(resp) => {
                let mut code = itoa::Buffer::new();
                this.state.finish(code.format(resp.status().as_u16()));
            }
            Err(_) => this.state.finish("error"),
        }
        Poll::Ready(out)
    }
}
