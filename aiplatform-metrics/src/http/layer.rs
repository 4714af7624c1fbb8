//! The layer and the service it wraps around an inner service.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower_layer::Layer;
use tower_service::Service;

use super::future::{InFlight, ResponseFuture};
use super::{Recorder, method_label};

/// Records request counts, latencies and in-flight requests of the services it wraps. Cheap to
/// clone; every clone records into the same families. See the [module docs](super).
#[derive(Debug, Clone)]
pub struct HttpMetricsLayer {
    recorder: Arc<Recorder>,
}

impl HttpMetricsLayer {
    pub(crate) fn new(recorder: Arc<Recorder>) -> Self {
        HttpMetricsLayer { recorder }
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService {
            inner,
            recorder: self.recorder.clone(),
        }
    }
}

/// A service wrapped by [`HttpMetricsLayer`].
#[derive(Debug, Clone)]
pub struct HttpMetricsService<S> {
    inner: S,
    recorder: Arc<Recorder>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for HttpMetricsService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let r = &self.recorder;
        let method = method_label(req.method());
        let endpoint: Box<str> = (r.endpoint)(req.extensions(), req.uri())
            .unwrap_or(&r.unknown)
            .into();
        r.in_flight.inc();
        let state = InFlight {
            recorder: self.recorder.clone(),
            method,
            endpoint,
            start: Instant::now(),
            done: false,
        };
        ResponseFuture::new(self.inner.call(req), state)
    }
}
