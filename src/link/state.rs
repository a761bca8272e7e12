//! What the Link pages share: their state, the session cookie and its anti-forgery token,
//! the form a POST carried.
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use crate::rate_limit::RateLimiter;
use crate::service::AppState;

/// Where the Link pages live.
pub(crate) const BASE: &str = "/link";
/// The session cookie's name.
pub(crate) const COOKIE: &str = "tessera_link";
/// The stylesheet, served by the binary.
pub(crate) const CSS: &str = include_str!("../../assets/link/link.css");

/// What the Link pages reach.
#[derive(Clone)]
pub(crate) struct LinkState {
    pub app: AppState,
    /// Requests per address.
    pub(super) limiter: Arc<RateLimiter<IpAddr>>,
}

impl std::ops::Deref for LinkState {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.app
    }
}

impl LinkState {
    /// `rate` pages a second per address, after a burst of `burst`.
    pub(crate) fn new(app: AppState, rate: f64, burst: u32) -> Self {
        Self { app, limiter: Arc::new(RateLimiter::new(rate, burst)) }
    }
}

/// A POST's form fields, read once by the router's `guard_posts`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Form(pub(super) Vec<(String, String)>);

impl Form {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The session cookie the request carries.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    crate::auth::browser::cookie(headers, COOKIE)
}

/// The anti-forgery token of a session's forms, derived from its cookie (never the cookie).
pub(crate) fn csrf_token(cookie: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tessera link csrf\0");
    h.update(cookie.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}
