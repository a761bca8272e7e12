//! The operator's session: its cookie, and the allowances of failed sign-ins and password
//! checks.
use std::net::IpAddr;
use std::time::Instant;

use axum::http::HeaderMap;
use axum::response::Response;

use super::html;
use super::state::{BASE, ConsoleState};
use crate::rate_limit::Decision;

/// The session cookie's name.
pub const COOKIE: &str = "tessera_console";

/// The session id in the request's cookie, if any.
pub(super) fn session_secret(headers: &HeaderMap) -> Option<String> {
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
pub(super) fn session_cookie(st: &ConsoleState, headers: &HeaderMap, secret: &str) -> String {
    let secure = if secure(st, headers) { "; Secure" } else { "" };
    format!("{COOKIE}={secret}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age={}{secure}", st.settings.absolute_secs)
}

/// The `Set-Cookie` value that ends one.
pub(super) fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// `Err` (429) when `ip`'s allowance of failed sign-ins is spent.
pub(super) async fn sign_in_allowed(st: &ConsoleState, ip: IpAddr) -> Result<(), Response> {
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
/// when [`MAX_CONCURRENT_HASHES`](super::state::MAX_CONCURRENT_HASHES) checks are running; else the permit to check a password.
pub(super) async fn password_check_allowed(
    st: &ConsoleState,
    name: &str,
) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
    if let Decision::Limited { retry_after_secs } =
        st.sign_in_failures_by_name.peek(&name_key(name), Instant::now()).await
    {
        return Err(html::rate_limited(retry_after_secs));
    }
    st.hashing.clone().try_acquire_owned().map_err(|_| html::rate_limited(1))
}

pub(super) async fn sign_in_failed(st: &ConsoleState, ip: IpAddr) {
    st.metrics.auth_failed();
    let _ = st.sign_in_failures.take(&ip, Instant::now()).await;
}

/// A failed password for the operator `name`: taken from its address's and its name's allowance.
pub(super) async fn password_failed(st: &ConsoleState, ip: IpAddr, name: &str) {
    sign_in_failed(st, ip).await;
    let _ = st.sign_in_failures_by_name.take(&name_key(name), Instant::now()).await;
}
