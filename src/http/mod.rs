//! The HTTP surface: the router, its layers, and FastAPI-compatible fallbacks.
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument as _;

pub mod body_deadline;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod idempotency;
pub(crate) mod json;
pub(crate) mod models;
pub(crate) mod oauth;
pub(crate) mod openapi;
pub(crate) mod paths;
pub mod purchase_batch;
pub(crate) mod pyjson;
pub(crate) mod query;
pub mod routes;
pub mod server;
pub(crate) mod tls;
pub mod validation;

/// What every handler reaches (kept by the service layer, shared with the console).
pub use crate::service::AppState;

use error::ApiError;

/// The request id header, taken from the client when usable and returned on every answer.
pub const REQUEST_ID: &str = "x-request-id";

/// Every route tessera serves, with its layers. `/metrics` is included unless it has a
/// listener of its own.
///
/// Two routers: the outer one sees every request first (request id, logging and metrics, the
/// header limit, path normalization before routing), the inner one routes.
pub fn router(state: AppState, serve_metrics: bool) -> Router {
    router_with(state, serve_metrics, Router::new())
}

/// [`router`] with `extra` routes served beside tessera's own, under the same layers.
pub fn router_with(state: AppState, serve_metrics: bool, extra: Router<AppState>) -> Router {
    // Methods of one path share one entry.
    let mut by_path: Vec<(&'static str, axum::routing::MethodRouter<AppState>)> = Vec::new();
    for route in routes::table() {
        if route.path == routes::METRICS && !serve_metrics {
            continue;
        }
        // What a partner token needs here travels with the request, to the extractor.
        let handler = route.handler.layer(axum::Extension(route.access));
        match by_path.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, handlers)) => *handlers = std::mem::take(handlers).merge(handler),
            None => by_path.push((route.path, handler)),
        }
    }
    let inner = by_path.into_iter().fold(Router::new(), |router, (path, handlers)| router.route(path, handlers));
    let inner = inner
        .merge(extra)
        .fallback(paths::not_found)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(json::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(middleware::from_fn(tag_route))
        .with_state(state.clone());
    let unfinished = std::sync::Arc::new(body_deadline::Unfinished::default());
    Router::new()
        .fallback_service(inner)
        .layer(middleware::from_fn_with_state((state.clone(), unfinished), observe))
        .with_state(state)
}

/// The most header bytes (names and values) one request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests whose headers add up to more than [`MAX_HEADER_BYTES`] with a 431 that
/// says so (the connection layer refuses far larger header blocks, and too many fields,
/// before they are parsed), then routes the path's decoded form.
async fn limit_headers(req: Request, next: Next) -> Response {
    let size: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge(MAX_HEADER_BYTES).into_response();
    }
    paths::normalize(req, next).await
}

/// The route template that answered, carried out on the response for [`observe`] (a shared
/// string: no copy per request).
#[derive(Clone)]
struct RouteTemplate(MatchedPath);

async fn tag_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned().map(RouteTemplate);
    let mut resp = next.run(req).await;
    if let Some(route) = route {
        resp.extensions_mut().insert(route);
    }
    resp
}

/// `/metrics` alone, for a separate metrics listener.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::metrics::metrics))
        .fallback(|| async { ApiError::NotFound("Not Found") })
        .with_state(state)
}

/// A request whose headers announce a body, with that body wrapped to note when it has been
/// read to its end; a request without one is passed as it is.
fn track_body(req: Request) -> (Request, Option<std::sync::Arc<std::sync::atomic::AtomicBool>>) {
    use axum::body::HttpBody as _;
    let announced = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) != Some(0));
    if !announced || req.body().is_end_stream() {
        return (req, None);
    }
    let read = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(ReadToEnd { inner: body, read: read.clone() });
    (Request::from_parts(parts, body), Some(read))
}

/// A request body that notes when it has been read to its end.
struct ReadToEnd {
    inner: axum::body::Body,
    read: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl http_body::Body for ReadToEnd {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            std::task::Poll::Ready(None) => true,
            std::task::Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            _ => false,
        };
        if ended {
            this.read.store(true, std::sync::atomic::Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Per request: a request id (the client's `X-Request-Id` when it is short printable ASCII,
/// else a new one) returned in the answer and attached to every log line of the request; one
/// log line with the route template (never the raw path, which can hold ids), status and
/// latency; and the request metrics.
async fn observe(
    State((app, unfinished)): State<(AppState, std::sync::Arc<body_deadline::Unfinished>)>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    // Logged and counted by label: a method is client input of any length.
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = crate::metrics::method_label(&method),
        route = tracing::field::Empty
    );
    // A body the answer was given without reading to its end (a 401 or 429 decided from the
    // headers, a 413) is not read afterwards: the connection closes after this answer, and
    // the answer says so.
    let (req, body_read) = track_body(req);
    // Every body has one deadline, whichever front end reads it; an address has a bounded
    // number of bodies waiting for their bytes at once.
    let mut fate = None;
    let req = if body_read.is_some() {
        let ip = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let (parts, body) = req.into_parts();
        let (body, f) = body_deadline::Deadline::wrap(body, app.body_timeout, ip.map(|ip| (unfinished.clone(), ip)));
        fate = Some(f);
        Request::from_parts(parts, body)
    } else {
        req
    };
    // The header limit and path normalization run inside this one layer (one layer each
    // cost a clone of the router and a boxed future per request).
    let mut resp = limit_headers(req, next).instrument(span.clone()).await;
    let late = fate.as_ref().is_some_and(|f| f.timed_out.load(std::sync::atomic::Ordering::Acquire));
    let refused = fate.as_ref().is_some_and(|f| f.refused.load(std::sync::atomic::Ordering::Acquire));
    if (late && resp.status() != axum::http::StatusCode::REQUEST_TIMEOUT)
        || (refused && resp.status() != axum::http::StatusCode::TOO_MANY_REQUESTS)
    {
        // Whatever the reader made of the failed body (a 400, a page): it was late, or could
        // not wait. The front end's own headers (a page's CSP, no framing, no caching) are kept.
        let mut late = if refused {
            ApiError::TooManyUnfinishedBodies(app.body_timeout.as_secs()).into_response()
        } else {
            ApiError::RequestTimeout(app.body_timeout.as_secs()).into_response()
        };
        for (name, value) in resp.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                late.headers_mut().entry(name).or_insert(value.clone());
            }
        }
        resp = late;
    }
    if body_read.is_some_and(|read| !read.load(std::sync::atomic::Ordering::Acquire)) {
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let latency = started.elapsed();
    let status = resp.status().as_u16();
    let route = resp.extensions_mut().remove::<RouteTemplate>();
    let nested = resp.extensions_mut().remove::<crate::metrics::RouteLabel>();
    let route = match (&route, nested) {
        (Some(r), _) => r.0.as_str(),
        (None, Some(label)) => label.0,
        (None, None) => crate::metrics::UNMATCHED_ROUTE,
    };
    span.record("route", route);
    app.metrics.observe_request(&method, route, status, latency);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    span.in_scope(|| {
        tracing::info!(status, latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), "request")
    });
    resp
}
