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

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::auth::operator::csrf_token;
use crate::domain::operator::{Counts, Operator};
use crate::rate_limit::{Decision, Limiter};
use crate::service::{AppState, CoreError};
use crate::token::keyring::Algorithm;

mod html;
mod pages;

/// Where the console is served, on the main listener and on its own.
pub const BASE: &str = "/console";
/// The session cookie's name.
pub const COOKIE: &str = "tessera_console";
/// The Content-Security-Policy of every console answer: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";
/// The most bytes a console form may send.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// How long a one-time sign-in link works.
pub use crate::service::operators::LINK_LIFETIME_SECS;

/// The console's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A session unused this long ends.
    pub idle_secs: i64,
    /// A session ends this long after sign-in, however busy.
    pub absolute_secs: i64,
    /// Mark the session cookie `Secure` always (otherwise only when the request came over
    /// HTTPS as a proxy's `X-Forwarded-Proto: https` says).
    pub secure_cookie: bool,
    /// The algorithm of the keyring this server signs with (what a rotation rotates).
    pub algorithm: Algorithm,
    /// Seconds a scheduled signing key is published before it signs.
    pub prepublish_secs: i64,
    /// Failed sign-ins allowed per address: sustained rate per second, and burst.
    pub sign_in_rate: f64,
    pub sign_in_burst: u32,
    /// How long each retained table keeps its rows, and whether pruning runs (the overview
    /// says when each table's oldest row may go).
    pub retention: crate::retention::Settings,
}

/// What the console's handlers reach: what every handler reaches (the store, the keyring,
/// the clock, the metrics ..., through `Deref`), and the console's own settings and limits.
#[derive(Clone)]
pub struct ConsoleState {
    app: AppState,
    pub settings: Arc<Settings>,
    sign_in_failures: Arc<Limiter<IpAddr>>,
    /// Failed sign-ins per operator name (as typed, folded to lower case), wherever from.
    sign_in_failures_by_name: Arc<Limiter<String>>,
    /// Permits for the password checks running now (argon2 costs tens of ms of a core each).
    hashing: Arc<tokio::sync::Semaphore>,
    /// The overview's counts when reading them was slow (a large database): shown as of when
    /// they were read, and read again in the background once they are a few seconds old.
    counts: Arc<Mutex<CachedCounts>>,
}

impl std::ops::Deref for ConsoleState {
    type Target = crate::service::state::Shared;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

impl ConsoleState {
    pub fn new(app: AppState, settings: Settings) -> Self {
        let shared = |name: &'static str| app.limits.shared.clone().map(|s| (s, name));
        let (rate, burst) = (settings.sign_in_rate, settings.sign_in_burst);
        let sign_in_failures = Arc::new(Limiter::new(rate, burst, shared("sign-in-address")));
        let sign_in_failures_by_name = Arc::new(Limiter::new(rate, burst, shared("sign-in-operator")));
        let hashing = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_HASHES));
        Self {
            app,
            settings: Arc::new(settings),
            sign_in_failures,
            sign_in_failures_by_name,
            hashing,
            counts: Arc::new(Mutex::new(CachedCounts::default())),
        }
    }
}

/// Counts kept because reading them was slow.
#[derive(Default)]
struct CachedCounts {
    /// When they were read (Unix seconds, and for their age), and the counts.
    value: Option<(Instant, i64, Counts)>,
    /// Whether a background read is under way.
    refreshing: bool,
}

/// How long counts are shown before a background read replaces them.
const COUNTS_FRESH: std::time::Duration = std::time::Duration::from_secs(5);
/// A count slower than this is kept and refreshed in the background instead of on each view.
const COUNTS_SLOW: std::time::Duration = std::time::Duration::from_millis(20);

/// The longest the overview waits for counts it does not have yet.
const COUNTS_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

impl ConsoleState {
    /// The overview's counts, and when they were read if not just now; `None` while a first,
    /// slow count is under way. Fast counts are read on every view; slow ones (a large
    /// database) are kept, shown as of their time, and recounted in the background once a few
    /// seconds old, so no view waits more than [`COUNTS_WAIT`] for a count.
    async fn counts(&self) -> Result<Option<(Counts, Option<i64>)>, CoreError> {
        let (kept, start) = {
            let mut cache = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let start = !cache.refreshing && cache.value.as_ref().is_none_or(|(at, _, _)| at.elapsed() >= COUNTS_FRESH);
            if start {
                cache.refreshing = true;
            }
            (cache.value.as_ref().map(|(_, read_at, c)| (c.clone(), *read_at)), start)
        };
        let read = start.then(|| {
            let (core, cache, clock) = (self.core.clone(), self.counts.clone(), self.clock.clone());
            tokio::spawn(async move {
                let (started, read_at) = (Instant::now(), clock.now());
                let result = core.overview().counts().await;
                let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.refreshing = false;
                match &result {
                    Ok(c) if started.elapsed() >= COUNTS_SLOW => {
                        cache.value = Some((Instant::now(), read_at, c.clone()))
                    }
                    // Fast (again): read on every view.
                    Ok(_) => cache.value = None,
                    Err(e) => tracing::warn!(error = %crate::telemetry::Chain(e), "console: could not count"),
                }
                result
            })
        });
        if let Some((c, read_at)) = kept {
            return Ok(Some((c, Some(read_at))));
        }
        let Some(read) = read else { return Ok(None) };
        match tokio::time::timeout(COUNTS_WAIT, read).await {
            Ok(Ok(result)) => result.map(|c| Some((c, None))),
            // Still counting (it goes on in the background), or the task failed.
            _ => Ok(None),
        }
    }
}

/// The console's routes with its security layers, relative to [`BASE`]: to be nested there
/// (`nest_service(BASE, ...)`), as on the main listener.
pub fn router(state: ConsoleState) -> Router {
    pages::routes()
        .fallback(|| async { html::not_found() })
        .layer(middleware::from_fn(guard_posts))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// The console on a listener of its own: [`router`] at [`BASE`], and `/` leading to it.
pub fn standalone_router(state: ConsoleState) -> Router {
    Router::new().route("/", get(|| async { Redirect::to(BASE) })).nest_service(BASE, router(state))
}

/// Headers on every console answer: the CSP, no sniffing, no framing, no referrer (a sign-in
/// link's token must not leak), and no caching of pages that show tenant data or secrets.
async fn security_headers(req: Request, next: Next) -> Response {
    // Paths here are relative to BASE.
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A POST's form fields, parsed once by [`guard_posts`].
#[derive(Clone, Debug, Default)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A field's value, trimmed; `""` when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", str::trim)
    }
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

/// The session id in the request's cookie, if any.
fn session_secret(headers: &HeaderMap) -> Option<String> {
    crate::auth::browser::cookie(headers, COOKIE)
}

/// Whether the session cookie must be `Secure` for this request.
fn secure(st: &ConsoleState, headers: &HeaderMap) -> bool {
    st.settings.secure_cookie
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// The `Set-Cookie` value that starts a session.
fn session_cookie(st: &ConsoleState, headers: &HeaderMap, secret: &str) -> String {
    let secure = if secure(st, headers) { "; Secure" } else { "" };
    format!("{COOKIE}={secret}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age={}{secure}", st.settings.absolute_secs)
}

/// The `Set-Cookie` value that ends one.
fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// A signed-in operator: extracting one from a request without a live session redirects to
/// the sign-in page.
pub struct Signed {
    pub operator: Operator,
    /// The anti-forgery token every form of this session carries.
    pub csrf: String,
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

/// The most password checks that run at once, over every source address: past it a sign-in
/// is answered `429` at once instead of queueing more work for the CPU.
pub const MAX_CONCURRENT_HASHES: usize = 2;

/// `Err` (429) when `ip`'s allowance of failed sign-ins is spent.
async fn sign_in_allowed(st: &ConsoleState, ip: IpAddr) -> Result<(), Response> {
    match st.sign_in_failures.peek(&ip, Instant::now()).await {
        Decision::Allowed => Ok(()),
        Decision::Limited { retry_after_secs } => Err(html::rate_limited(retry_after_secs)),
    }
}

/// The key a name's allowance is kept under: what was typed, trimmed and folded, bounded.
fn name_key(name: &str) -> String {
    name.trim().chars().take(128).flat_map(char::to_lowercase).collect()
}

/// `Err` (429) when the allowance of failed sign-ins for the operator `name` is spent, or
/// when [`MAX_CONCURRENT_HASHES`] checks are running; else the permit to check a password.
async fn password_check_allowed(st: &ConsoleState, name: &str) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
    if let Decision::Limited { retry_after_secs } =
        st.sign_in_failures_by_name.peek(&name_key(name), Instant::now()).await
    {
        return Err(html::rate_limited(retry_after_secs));
    }
    st.hashing.clone().try_acquire_owned().map_err(|_| html::rate_limited(1))
}

async fn sign_in_failed(st: &ConsoleState, ip: IpAddr) {
    st.metrics.auth_failed();
    let _ = st.sign_in_failures.take(&ip, Instant::now()).await;
}

/// A failed password for the operator `name`: taken from its address's and its name's allowance.
async fn password_failed(st: &ConsoleState, ip: IpAddr, name: &str) {
    sign_in_failed(st, ip).await;
    let _ = st.sign_in_failures_by_name.take(&name_key(name), Instant::now()).await;
}
