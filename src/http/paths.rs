//! Paths as the reference stack sees them: routed after percent-decoding (so `%2F` is a
//! separator), segments never empty, and a trailing slash redirected (307) to the route
//! without it.
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use super::error::ApiError;

/// Every route template; `{}` is one non-empty segment.
pub const ROUTES: [&str; 16] = [
    "/connections",
    "/connections/{}",
    "/connections/{}/token",
    "/connections/{}/activity",
    "/tokens/introspect",
    "/tokens/revoke",
    "/.well-known/jwks.json",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/metrics",
    "/docs",
    "/docs/swagger-ui-bundle.js",
    "/docs/swagger-ui.css",
    "/redoc",
    "/redoc/redoc.standalone.js",
];

/// What must stay escaped when a decoded path is written back into a URI.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// Rewrites the request path to its decoded form (re-escaped only where a URI requires), so
/// routing sees the separators the client meant; a path with an empty segment names no route.
pub async fn normalize(mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    if decoded.len() > 1 && decoded.trim_end_matches('/').contains("//") {
        return ApiError::NotFound("Not Found").into_response();
    }
    let encoded = utf8_percent_encode(&decoded, PATH).to_string();
    if encoded != path {
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{encoded}?{q}"),
            None => encoded,
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    next.run(req).await
}

/// Whether a decoded path names one of tessera's routes.
pub fn matches_route(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES.iter().any(|template| {
        let t: Vec<&str> = template.split('/').collect();
        t.len() == segments.len()
            && t.iter().zip(&segments).all(|(t, s)| if *t == "{}" { !s.is_empty() } else { t == s })
    })
}

/// The answer to a request no route took: a 307 to the same path without its trailing
/// slashes when that names a route, else `404 Not Found`.
pub async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    if decoded.len() > 1 && decoded.ends_with('/') {
        let trimmed = decoded.trim_end_matches('/');
        if matches_route(trimmed) {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_owned();
            let mut location = format!("http://{host}{}", utf8_percent_encode(trimmed, PATH));
            if let Some(q) = req.uri().query() {
                location.push('?');
                location.push_str(q);
            }
            if let Ok(v) = HeaderValue::from_str(&location) {
                return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, v)]).into_response();
            }
        }
    }
    ApiError::NotFound("Not Found").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_matching() {
        assert!(matches_route("/connections"));
        assert!(matches_route("/connections/abc/token"));
        assert!(!matches_route("/connections//token"));
        assert!(!matches_route("/connections/a/b"));
        assert!(!matches_route("/nope"));
    }
}
