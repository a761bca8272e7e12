//! The HTTP/1.1 server loop, with the limits a public listener needs: a deadline for request
//! headers (slow or idle clients are closed), a cap on header count and size (431), and a
//! graceful shutdown that lets in-flight requests finish within a grace period; over TLS
//! when the listener has a certificate (see [`super::tls`]).
use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Connection-level limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest wait for a request's headers, including on an idle kept-alive connection.
    pub header_timeout: Duration,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Largest read buffer, which bounds the header block's size.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_timeout: Duration::from_secs(10), max_headers: 64, max_header_bytes: 64 * 1024 }
    }
}

/// Marks a request that came over TLS (a request extension), for the absolute URLs answers give.
#[derive(Clone, Copy, Debug)]
pub struct OverTls;

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// up to `grace` for open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    serve_on(listener, None, router, limits, shutdown, grace).await
}

/// [`serve`], over TLS when an acceptor is given. The TLS handshake has the header deadline.
pub async fn serve_on(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // Handlers can see who connected (for per-address limits).
                let over_tls = tls.is_some();
                let service = TowerToHyperService::new(router.clone().map_request(
                    move |mut req: axum::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                        if over_tls {
                            req.extensions_mut().insert(OverTls);
                        }
                        req
                    },
                ));
                let Some(acceptor) = tls.clone() else {
                    let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection closed with an error");
                        }
                    });
                    continue;
                };
                let watcher = graceful.watcher();
                let builder = builder.clone();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection closed with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over: closing the connections still open");
        }
    }
}
