//! The operator console: server-rendered HTML pages under `/console`, for operators (people
//! who run tessera, created with `tessera operator create`), never for clients.
//!
//! Every page works without JavaScript (plain links and forms, POST then redirect); a small
//! script only adds conveniences (a copy button, times in the viewer's zone). Security:
//! - a session is a random id in an `HttpOnly; SameSite=Strict; Path=/console` cookie
//!   (`Secure` when served over HTTPS), kept in the database only as a SHA-256 digest, with an
//!   idle and an absolute expiry; signing out deletes it;
//! - every POST must come from the console's own origin (`Sec-Fetch-Site` / `Origin`) and,
//!   once signed in, carry the session's anti-forgery token;
//! - failed sign-ins are rate-limited per address and per operator name, and at most
//!   [`MAX_CONCURRENT_HASHES`] password checks run at once, so that neither guessing one
//!   operator's password nor the CPU it costs grows with the number of source addresses;
//! - tenant data is escaped by the template engine everywhere, and a Content-Security-Policy
//!   allows scripts and styles only from the console's own files;
//! - every action is recorded (operator, action, target, time) and shown on the audit page.
// A handler's failure is a whole page (a response) like its success: returned by value.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use self::session::{cleared_cookie, session_secret};
use crate::auth::browser::{PageHeaders, security_headers};
use crate::auth::operator::csrf_token;

mod html;
mod pages;
mod session;
mod state;

pub use session::COOKIE;
pub use state::{BASE, ConsoleState, FormFields, MAX_CONCURRENT_HASHES, Settings, Signed};

/// The Content-Security-Policy of every console answer: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";
/// The headers on every console answer: the CSP, no sniffing, no framing, no referrer (a
/// sign-in link's token must not leak), and no caching of pages that show tenant data or
/// secrets; the console's files keep the caching their handler gives them.
const PAGE_HEADERS: PageHeaders = PageHeaders { csp: CSP, asset_cache: None };
/// The most bytes a console form may send.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// How long a one-time sign-in link works.
pub use crate::service::operators::LINK_LIFETIME_SECS;

/// The console's routes with its security layers, relative to [`BASE`]: to be nested there
/// (`nest_service(BASE, ...)`), as on the main listener.
pub fn router(state: ConsoleState) -> Router {
    pages::routes()
        .fallback(|| async { html::not_found() })
        .layer(middleware::from_fn(guard_posts))
        .layer(middleware::from_fn_with_state(PAGE_HEADERS, security_headers))
        .with_state(state)
}

/// The console on a listener of its own: [`router`] at [`BASE`], and `/` leading to it.
pub fn standalone_router(state: ConsoleState) -> Router {
    Router::new().route("/", get(|| async { Redirect::to(BASE) })).nest_service(BASE, router(state))
}

/// Every POST: refused (403) unless it comes from the console's own origin; its form read
/// (at most [`MAX_FORM_BYTES`]); and, outside the sign-in forms, refused unless it carries the
/// anti-forgery token of the session it is sent with.
async fn guard_posts(req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    if !crate::auth::browser::same_origin(req.headers()) {
        return html::refused(
            StatusCode::FORBIDDEN,
            "Refused: this form was sent from another site. Use the console itself.",
        );
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => return html::refused(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
    };
    let fields = FormFields(url::form_urlencoded::parse(&bytes).into_owned().collect());
    let path = parts.uri.path();
    // Relative to BASE: the two sign-in forms are posted before there is a session.
    let open = path == "/sign-in" || path == "/sign-in/link";
    if !open {
        let expected = session_secret(&parts.headers).map(|s| csrf_token(&s));
        let given = fields.get("csrf").unwrap_or_default();
        let ok = expected.is_some_and(|e| {
            use subtle::ConstantTimeEq as _;
            e.as_bytes().ct_eq(given.as_bytes()).into()
        });
        if !ok {
            // No session at all: sign in first. A session but no (or a wrong) token: forged.
            if session_secret(&parts.headers).is_none() {
                return Redirect::to(pages::SIGN_IN).into_response();
            }
            return html::refused(
                StatusCode::FORBIDDEN,
                "Refused: the form's anti-forgery token is missing or wrong. Reload the page and try again.",
            );
        }
    }
    parts.extensions.insert(fields);
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &ConsoleState) -> Result<Self, Self::Rejection> {
        let Some(secret) = session_secret(&parts.headers) else {
            return Err(Redirect::to(pages::SIGN_IN).into_response());
        };
        let now = st.clock.now();
        let (idle_since, born_after) = (now - st.settings.idle_secs, now - st.settings.absolute_secs);
        let session =
            st.core.operators().touch_session(&secret, now, idle_since, born_after).await.map_err(pages::refused)?;
        match session {
            Some(s) => Ok(Signed { operator: s.operator, csrf: csrf_token(&secret) }),
            None => Err(([(header::SET_COOKIE, cleared_cookie())], Redirect::to(pages::SIGN_IN)).into_response()),
        }
    }
}
