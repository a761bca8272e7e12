//! Paths as the reference stack sees them: routed after percent-decoding (so `%2F` is a
//! separator), segments never empty, and a trailing slash redirected (307) to the route
//! without it.
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use super::error::ApiError;

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
pub(crate) async fn normalize(mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // Nearly every path: nothing escaped, no empty segment; already in its routed form.
    if path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b)) && !path.contains("//") {
        return next.run(req).await;
    }
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

/// Whether a decoded path names one of tessera's routes, as the router matches it. A path
/// with an empty segment names none (the router's matcher would take it for an empty id).
pub(crate) fn matches_route(path: &str) -> bool {
    if path.strip_prefix('/').is_none_or(|p| p.split('/').any(str::is_empty)) {
        return false;
    }
    static MATCHER: std::sync::OnceLock<matchit::Router<()>> = std::sync::OnceLock::new();
    MATCHER
        .get_or_init(|| {
            let mut matcher = matchit::Router::new();
            for route in super::routes::table() {
                // Several methods share a path: the first insertion is the one that counts.
                let _ = matcher.insert(route.path, ());
            }
            matcher
        })
        .at(path)
        .is_ok()
}

/// Whether a `Host` header value is a plain `host[:port]`: a name of letters, digits, `-`,
/// `.`, `_` and `~` (so also an IPv4 address), or an IPv6 address in brackets, then optionally
/// `:` and a port of 1 to 5 digits up to 65535. This is the part of RFC 3986's `host [":" port]`
/// that real names use; anything else (`/`, `?`, `#`, `@`, `%`, spaces, ...) could make a URL
/// built from it point elsewhere.
pub(crate) fn is_plain_host(value: &str) -> bool {
    let (host_ok, port) = match value.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, after)) => match after.strip_prefix(':') {
                Some(port) => (ip.parse::<std::net::Ipv6Addr>().is_ok(), Some(port)),
                None => (after.is_empty() && ip.parse::<std::net::Ipv6Addr>().is_ok(), None),
            },
            None => (false, None),
        },
        None => {
            let (name, port) = match value.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (value, None),
            };
            let name_ok = !name.is_empty()
                && name.len() <= 253
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            (name_ok, port)
        }
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

/// The answer to a request no route took: a 307 to the same path without its trailing
/// slashes when that names a route, else `404 Not Found`.
///
/// Like the reference stack, the `Location` is absolute, `http://` (`https://` on a TLS
/// listener) and the request's `Host`, when that `Host` is a plain `host[:port]`
/// ([`is_plain_host`]). Otherwise (absent, or
/// anything that could redirect elsewhere, such as `evil.example/phish?`) it is the path
/// alone, which clients resolve against the address they asked. The path is always a route's,
/// so it starts with `/` and one literal segment, never `//`.
pub(crate) async fn not_found(req: Request) -> Response {
    let path = req.uri().path();
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    if decoded.len() > 1 && decoded.ends_with('/') {
        let trimmed = decoded.trim_end_matches('/');
        if matches_route(trimmed) {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| is_plain_host(h));
            let path = utf8_percent_encode(trimmed, PATH);
            let mut location = match host {
                Some(host) => {
                    // `https` on a TLS listener (the server marks its requests), as the client asked.
                    let tls = req.extensions().get::<super::server::OverTls>().is_some();
                    format!("{}://{host}{path}", if tls { "https" } else { "http" })
                }
                None => path.to_string(),
            };
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

    #[test]
    fn plain_hosts() {
        for ok in ["localhost", "127.0.0.1:8080", "tessera.example", "a-b.c_d~e:1", "[::1]", "[2001:db8::1]:65535"] {
            assert!(is_plain_host(ok), "{ok}");
        }
        for bad in [
            "",
            ":80",
            "evil.example/phish?",
            "evil.example?",
            "evil.example#",
            "user@evil.example",
            "evil.example\\x",
            "evil.example:80/x",
            "evil.example:",
            "evil.example:http",
            "evil.example:65536",
            "evil.example:080800",
            "evil.example:80:80",
            "a b",
            "evil%2eexample",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[evil.example]",
            "[v1.x]",
        ] {
            assert!(!is_plain_host(bad), "{bad}");
        }
    }
}
