//! Accepting connections: TLS handshake (with the configuration current at that moment),
//! HTTP/1.1 or HTTP/2 by ALPN, and graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::app::App;

/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to send request headers, counted from when the connection is ready for a
/// request: it also closes a keep-alive connection idle that long (slow clients hold a
/// connection, not a scrape). HTTP servers elsewhere in the project use the same value.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Accepts on one listener until `shutdown` flips, then lets open connections finish their
/// current request for up to `grace`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    tls: bool,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    connections.spawn(connection(stream, remote, app.clone(), tls, shutdown.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off like Go's http.Server instead of spinning.
                    tracing::error!(err = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown grace period; closing them"
        );
    }
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Arc<App>,
    tls: bool,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    if !tls {
        return serve(stream, remote, app, false, shutdown).await;
    }
    // The configuration is looked up per connection, so certificate changes apply to the
    // next handshake (the toolkit's GetConfigForClient).
    let Ok(config) = app.config.tls() else {
        return;
    };
    let accepted =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(config).accept(stream)).await;
    let stream = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%remote, err = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    serve(stream, remote, app, h2, shutdown).await
}

async fn serve<S>(
    stream: S,
    remote: SocketAddr,
    app: Arc<App>,
    h2: bool,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    // Go serves HTTP/2 only over TLS, chosen by ALPN; plain connections speak HTTP/1.1.
    let builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%remote, err = %e, "connection error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
