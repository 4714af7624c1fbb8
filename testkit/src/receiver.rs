//! An HTTP server on 127.0.0.1 that stands in for a push backend's receiver: HTTP/1.1 and
//! HTTP/2 with prior knowledge (so gRPC too), each request handed whole to the test's
//! handler, which says what to answer (status, headers, body, trailers, a delay).
//!
//! The handler keeps whatever it wants of the requests (decoded its own way), so a crate's
//! test support is left with only what its protocol needs.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: http::Method,
    /// The path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// HTTP/1.1 or HTTP/2.
    pub version: http::Version,
    /// The header fields.
    pub headers: http::HeaderMap,
    /// The body as sent (still compressed or framed).
    pub body: Vec<u8>,
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Header fields.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Trailer fields (gRPC's status); none sends no trailers.
    pub trailers: Vec<(String, String)>,
    /// How long to wait before answering.
    pub delay: Duration,
}

/// Decides the answer to each request.
pub type Handler = Arc<dyn Fn(Request) -> Answer + Send + Sync>;

/// The server; dropping it (or [`Receiver::stop`]) closes the listener and every connection.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use aiplatform_testkit::receiver::{Answer, Receiver};
///
/// let r = Receiver::start(None, Arc::new(|req| Answer {
///     status: 201,
///     headers: vec![],
///     body: req.path.into_bytes(),
///     trailers: vec![],
///     delay: Duration::ZERO,
/// }));
/// let got = aiplatform_testkit::http::get_with(r.addr.port(), "/echo", &[]);
/// assert_eq!((got.status, got.body.as_str()), (201, "/echo"));
/// ```
#[derive(Debug)]
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

/// A response body: the data, then the trailers if any.
struct WithTrailers {
    data: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
}

impl Body for WithTrailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    /// Exact without trailers, so HTTP/1.1 answers carry a `Content-Length`.
    fn size_hint(&self) -> hyper::body::SizeHint {
        match (&self.data, &self.trailers) {
            (data, None) => {
                hyper::body::SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            _ => hyper::body::SizeHint::default(),
        }
    }
}

fn header_map(pairs: &[(String, String)]) -> http::HeaderMap {
    let mut m = http::HeaderMap::new();
    for (n, v) in pairs {
        m.append(
            http::HeaderName::from_bytes(n.as_bytes()).expect("a valid header name"),
            http::HeaderValue::from_str(v).expect("a valid header value"),
        );
    }
    m
}

impl Receiver {
    /// Listens on `port` (`SO_REUSEADDR`, so a test can restart a receiver on the port it
    /// had), or on a free one, and answers every request with `handler`.
    pub fn start(port: Option<u16>, handler: Handler) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let addr = SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(0)));
        let listener = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
            socket
                .bind(addr)
                .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
            socket.listen(64).expect("listening")
        });
        let addr = listener.local_addr().expect("the bound address");
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes().to_vec())
                                .unwrap_or_default();
                            let answer = handler(Request {
                                method: parts.method,
                                path: parts.uri.path().to_owned(),
                                query: parts.uri.query().map(str::to_owned),
                                version: parts.version,
                                headers: parts.headers,
                                body,
                            });
                            tokio::time::sleep(answer.delay).await;
                            let body = WithTrailers {
                                data: (!answer.body.is_empty()).then(|| Bytes::from(answer.body)),
                                trailers: (!answer.trailers.is_empty())
                                    .then(|| header_map(&answer.trailers)),
                            };
                            let mut resp = hyper::Response::new(body);
                            *resp.status_mut() =
                                http::StatusCode::from_u16(answer.status).expect("a status code");
                            *resp.headers_mut() = header_map(&answer.headers);
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            runtime: Some(runtime),
        }
    }

    /// Closes the listener and every connection now.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}
