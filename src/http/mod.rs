//! The HTTP surface: the router, its layers, and FastAPI-compatible fallbacks.
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use crate::app::AppState;

pub mod error;
pub mod extract;
pub mod json;
pub mod openapi;
pub mod pyjson;
pub mod routes;
pub mod validation;

use error::ApiError;
use routes::{connections, health, jwks, tokens};

/// Every route tessera serves, with its layers.
pub fn router(state: AppState) -> Router {
    let openapi = std::sync::Arc::new(openapi::document());
    Router::new()
        .route(
            "/connections",
            post(connections::create_connection).get(connections::list_connections),
        )
        .route(
            "/connections/{connection_id}",
            get(connections::get_connection)
                .patch(connections::update_connection)
                .delete(connections::delete_connection),
        )
        .route(
            "/connections/{connection_id}/token",
            post(tokens::create_connection_token),
        )
        .route("/.well-known/jwks.json", get(jwks::jwks))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(openapi.as_ref().clone()) }),
        )
        .fallback(|| async { ApiError::NotFound("Not Found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(json::MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_request))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("a request handler panicked".into()).into_response()
            },
        ))
        .with_state(state)
}

/// One log line per request: method, route template (never the raw path), status, latency.
async fn log_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let resp = next.run(req).await;
    tracing::info!(
        %method,
        route = route.as_deref().unwrap_or("<unmatched>"),
        status = resp.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}
