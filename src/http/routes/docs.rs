//! `/docs` (Swagger UI) and `/redoc`: the OpenAPI document rendered for people, from assets
//! compiled into the binary, so neither the build nor a browser reaches the network.
//!
//! The assets never change within a release, so they are cached for a year
//! (`immutable`); the pages name them with the release's version, so an upgrade is fetched
//! anew. Each is gzip-compressed once, on first use, for clients that accept gzip.
use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const SWAGGER_JS: &[u8] = include_bytes!("../../../assets/docs/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../../assets/docs/swagger-ui.css");
const REDOC_JS: &[u8] = include_bytes!("../../../assets/docs/redoc.standalone.js");

pub(crate) const SWAGGER_JS_PATH: &str = "/docs/swagger-ui-bundle.js";
pub(crate) const SWAGGER_CSS_PATH: &str = "/docs/swagger-ui.css";
pub(crate) const REDOC_JS_PATH: &str = "/redoc/redoc.standalone.js";

/// How long browsers and caches keep an asset: a year, never revalidated.
pub(crate) const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The release's version, added to asset URLs so a new release is never served from cache.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `/`: the documentation is tessera's front page.
pub(crate) async fn front_page() -> Response {
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/docs")]).into_response()
}

pub(crate) async fn swagger_ui() -> Html<String> {
    Html(format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<link type="text/css" rel="stylesheet" href="{SWAGGER_CSS_PATH}?v={VERSION}">
<title>tessera - Swagger UI</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS_PATH}?v={VERSION}"></script>
<script>
const ui = SwaggerUIBundle({{
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  layout: 'BaseLayout',
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}})
</script>
</body>
</html>"#
    ))
}

pub(crate) async fn redoc() -> Html<String> {
    Html(format!(
        r#"<!DOCTYPE html>
<html>
<head>
<title>tessera - ReDoc</title>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{REDOC_JS_PATH}?v={VERSION}"></script>
</body>
</html>"#
    ))
}

/// One asset: its bytes, and the same gzip-compressed (made on first use).
struct Asset {
    content_type: &'static str,
    plain: &'static [u8],
    gzip: LazyLock<Vec<u8>>,
}

fn gzip(plain: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    encoder.write_all(plain).expect("in memory");
    encoder.finish().expect("in memory")
}

static SWAGGER_JS_ASSET: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    plain: SWAGGER_JS,
    gzip: LazyLock::new(|| gzip(SWAGGER_JS)),
};
static SWAGGER_CSS_ASSET: Asset =
    Asset { content_type: "text/css; charset=utf-8", plain: SWAGGER_CSS, gzip: LazyLock::new(|| gzip(SWAGGER_CSS)) };
static REDOC_JS_ASSET: Asset =
    Asset { content_type: "text/javascript; charset=utf-8", plain: REDOC_JS, gzip: LazyLock::new(|| gzip(REDOC_JS)) };

/// Whether an `Accept-Encoding` value accepts gzip (`gzip` or `*`, with a `q` above 0).
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
        },
    )
}

fn asset(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let common = [
        (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE_CONTROL)),
        (header::VARY, HeaderValue::from_static("accept-encoding")),
    ];
    if accepts_gzip(headers) {
        (common, [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))], asset.gzip.as_slice()).into_response()
    } else {
        (common, asset.plain).into_response()
    }
}

pub(crate) async fn swagger_js(headers: HeaderMap) -> Response {
    asset(&SWAGGER_JS_ASSET, &headers)
}

pub(crate) async fn swagger_css(headers: HeaderMap) -> Response {
    asset(&SWAGGER_CSS_ASSET, &headers)
}

pub(crate) async fn redoc_js(headers: HeaderMap) -> Response {
    asset(&REDOC_JS_ASSET, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_accept_it() {
        for yes in ["gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*", "GZIP", "deflate, gzip ; q=0.5"] {
            assert!(accepts_gzip(&with(yes)), "{yes}");
        }
        for no in ["", "identity", "br", "gzip;q=0", "gzip; q=0.0", "x-gzip-not"] {
            assert!(!accepts_gzip(&with(no)), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_compressed_assets_decompress_to_the_originals() {
        use std::io::Read as _;
        for a in [&SWAGGER_JS_ASSET, &SWAGGER_CSS_ASSET, &REDOC_JS_ASSET] {
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(a.gzip.as_slice()).read_to_end(&mut back).expect("gzip");
            assert_eq!(back, a.plain);
            assert!(a.gzip.len() * 2 < a.plain.len(), "compression pays: {} of {}", a.gzip.len(), a.plain.len());
        }
    }
}
