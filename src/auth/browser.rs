//! What the browser-facing pages (the console, Link) check of a request: whether a form came
//! from a page of this origin, and a cookie's value; and the headers on their every answer.
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Whether a request was sent by a page of this very origin, as the browser says: by
/// `Sec-Fetch-Site` when sent, else by `Origin` against `Host`. A request with neither (not
/// from a browser) passes here; the anti-forgery token still applies.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let Ok(origin) = origin.to_str() else { return false };
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|r| r.eq_ignore_ascii_case(host))
}

/// The non-empty value of cookie `name` the request carries, if any.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// What sets one front end's pages apart in [`security_headers`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageHeaders {
    /// The Content-Security-Policy of every answer.
    pub csp: &'static str,
    /// The `Cache-Control` of the front end's own files (paths under `/assets/`), or `None` to
    /// leave the one their handler sets.
    pub asset_cache: Option<&'static str>,
}

/// Headers on every answer of a browser-facing front end (to be layered with
/// `middleware::from_fn_with_state`, paths relative to where it is nested): its CSP, no
/// sniffing, no framing, no referrer (a URL may hold a token), and no caching of anything but
/// its own files (pages show tenant data or secrets).
pub(crate) async fn security_headers(State(page): State<PageHeaders>, req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(page.csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    match (is_asset, page.asset_cache) {
        (false, _) => {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        (true, Some(cache)) => {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        }
        (true, None) => {}
    }
    resp
}
