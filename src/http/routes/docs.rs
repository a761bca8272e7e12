//! `/docs` (Swagger UI) and `/redoc`: the OpenAPI document rendered for people, from assets
//! compiled into the binary, so neither the build nor a browser reaches the network.
use axum::http::header;
use axum::response::{Html, IntoResponse};

const SWAGGER_JS: &[u8] = include_bytes!("../../../assets/docs/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../../assets/docs/swagger-ui.css");
const REDOC_JS: &[u8] = include_bytes!("../../../assets/docs/redoc.standalone.js");

pub const SWAGGER_JS_PATH: &str = "/docs/swagger-ui-bundle.js";
pub const SWAGGER_CSS_PATH: &str = "/docs/swagger-ui.css";
pub const REDOC_JS_PATH: &str = "/redoc/redoc.standalone.js";

pub async fn swagger_ui() -> Html<String> {
    Html(format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<link type="text/css" rel="stylesheet" href="{SWAGGER_CSS_PATH}">
<title>tessera - Swagger UI</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS_PATH}"></script>
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

pub async fn redoc() -> Html<String> {
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
<script src="{REDOC_JS_PATH}"></script>
</body>
</html>"#
    ))
}

fn asset(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], body)
}

pub async fn swagger_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SWAGGER_JS)
}

pub async fn swagger_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", SWAGGER_CSS)
}

pub async fn redoc_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", REDOC_JS)
}
