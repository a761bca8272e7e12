//! The hosted Link flow: the pages a customer sees to link a retailer account for an app
//! (a client). Entered at `/link/{token}` with a link token or a `link`-scope connection
//! token; the rest of the flow lives under `/link/session` and is tied to the browser by a
//! cookie, so the token leaves the address bar at the first answer.
//!
//! Every answer refuses framing, sends no referrer (the entry URL holds a token), is never
//! cached, and has a CSP without `unsafe-inline` (the pages need no script at all). Every
//! form carries an anti-forgery token derived from the session's cookie and must come from
//! this origin. Link pages have a rate limit of their own, per address.
//!
//! Rung: a front end, beside the API and the console; the use cases are `service::link`.
use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::auth::browser::{PageHeaders, security_headers};
use crate::rate_limit::Decision;

mod html;
mod pages;
mod state;

pub(crate) use state::{BASE, Form, LinkState, cookie, csrf_token};

/// The largest form a Link page takes.
const MAX_FORM_BYTES: usize = 8 * 1024;

/// No script, no inline style, no framing, forms and links to this origin and beyond (a
/// consent is answered with a redirect to the connector's sign-in page, and an exit with one
/// to the app, so `form-action` is not restricted).
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers on every Link answer: the CSP, no sniffing, no framing, no referrer (the entry
/// URL holds a token); nothing is cached but the stylesheet.
const PAGE_HEADERS: PageHeaders = PageHeaders { csp: CSP, asset_cache: Some("public, max-age=3600") };

/// The Link pages with their layers, relative to [`BASE`]: to be nested there.
pub(crate) fn router(state: LinkState) -> Router {
    Router::new()
        .route("/assets/link.css", get(pages::stylesheet))
        .route("/session", get(pages::session))
        .route("/session/retailer", post(pages::choose_retailer))
        .route("/session/consent", post(pages::consent))
        .route("/session/exit", post(pages::exit))
        .route("/return", get(pages::returned))
        .route("/{token}", get(pages::start))
        .fallback(|| async {
            html::problem_page(StatusCode::NOT_FOUND, "Not found", "There is no such Link page.", None)
        })
        .layer(middleware::from_fn(guard_posts))
        .layer(middleware::from_fn(refuse_nul))
        .layer(middleware::from_fn_with_state(state.clone(), limit))
        .layer(middleware::from_fn_with_state(PAGE_HEADERS, security_headers))
        .layer(middleware::from_fn(tag_route))
        .with_state(state)
}

/// The Link route a request is for, by its whole template, for the request log and metrics
/// (named from the path, so an answer given before routing, such as a 429, is named too).
async fn tag_route(req: Request, next: Next) -> Response {
    // Paths here are relative to BASE.
    let label = match req.uri().path() {
        "/assets/link.css" => "/link/assets/link.css",
        "/session" => "/link/session",
        "/session/retailer" => "/link/session/retailer",
        "/session/consent" => "/link/session/consent",
        "/session/exit" => "/link/session/exit",
        "/return" => "/link/return",
        p if p.len() > 1 && !p[1..].contains('/') => "/link/{token}",
        _ => crate::metrics::UNMATCHED_ROUTE,
    };
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(crate::metrics::RouteLabel(label));
    resp
}

/// The Link pages' own rate limit, per address (the stylesheet is not counted).
async fn limit(axum::extract::State(st): axum::extract::State<LinkState>, req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(ip) = ip
        && !req.uri().path().starts_with("/assets/")
        && let Decision::Limited { retry_after_secs } = st.limiter.take(&ip, Instant::now())
    {
        // The words and `Retry-After` say the same wait.
        let wait = match retry_after_secs {
            0 | 1 => "a second".to_owned(),
            n => format!("{n} seconds"),
        };
        let mut resp = html::problem_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            &format!("This device sent too many requests. Wait {wait}, then try again."),
            None,
        );
        if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    next.run(req).await
}

/// No text a Link page takes (the path, a query parameter, a form field) may hold a NUL
/// character: the API refuses one with a 400, and so do the pages, before any of it reaches
/// the database (PostgreSQL cannot store one in text).
fn holds_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0) || url::form_urlencoded::parse(bytes).any(|(k, v)| k.contains('\0') || v.contains('\0'))
}

fn bad_input() -> Response {
    html::problem_page(
        StatusCode::BAD_REQUEST,
        "This address is not valid",
        "The address or form holds a character Link does not take. Go back to the app and start again.",
        None,
    )
}

/// Refuses a path or query with a NUL character (forms are checked by [`guard_posts`]).
async fn refuse_nul(req: Request, next: Next) -> Response {
    let path_nul = percent_encoding::percent_decode_str(req.uri().path()).any(|b| b == 0);
    if path_nul || req.uri().query().is_some_and(|q| holds_nul(q.as_bytes())) {
        return bad_input();
    }
    next.run(req).await
}

/// Every POST: from this origin, at most [`MAX_FORM_BYTES`], with the anti-forgery token of
/// the session whose cookie it carries.
async fn guard_posts(req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    if !crate::auth::browser::same_origin(req.headers()) {
        return html::problem_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form was sent from another site. Go back to the app and start again.",
            None,
        );
    }
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return html::problem_page(StatusCode::PAYLOAD_TOO_LARGE, "Refused", "The form is too large.", None);
    };
    if holds_nul(&bytes) {
        return bad_input();
    }
    let form = Form(url::form_urlencoded::parse(&bytes).into_owned().collect());
    // A form of this origin without the session cookie: the browser dropped it at the
    // session's end (its `Max-Age`), so the session is over, not forged.
    let Some(session_cookie) = cookie(&parts.headers) else {
        return html::problem_page(
            StatusCode::GONE,
            "Link cannot go on",
            &crate::service::link::LinkError::SessionOver.to_string(),
            None,
        );
    };
    let ok = {
        use subtle::ConstantTimeEq as _;
        bool::from(csrf_token(&session_cookie).as_bytes().ct_eq(form.get("csrf").unwrap_or_default().as_bytes()))
    };
    if !ok {
        return html::problem_page(
            StatusCode::FORBIDDEN,
            "This page is out of date",
            "The form's security token is missing or does not match this session. Go back to the app and start again.",
            None,
        );
    }
    parts.extensions.insert(form);
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
