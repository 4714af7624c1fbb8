//! Serving the router over HTTP/1.1 with the exporters' connection limits: request headers
//! must arrive within the idle timeout, counted from when the connection is ready for a
//! request, so a silent connection and an idle keep-alive one are both closed after it
//! (`axum::serve` has no such limit: both stayed open for good). On shutdown, open requests
//! finish within a grace period.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::serve::Listener as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use crate::connections::Counting;

/// How long open requests may run after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Accepts until `shutdown` completes, then drains the open connections.
pub async fn serve(
    mut listener: Counting,
    app: Router,
    idle_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            (stream, _remote) = listener.accept() => {
                let service = TowerToHyperService::new(app.clone());
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
}
