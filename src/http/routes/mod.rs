//! Route handlers, one file per area of the API.
pub(crate) mod account;
pub(crate) mod activity;
pub(crate) mod connections;
pub(crate) mod connector;
pub(crate) mod connector_link;
pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod introspection;
pub(crate) mod jwks;
pub(crate) mod legacy;
pub(crate) mod link;
pub(crate) mod metrics;
pub(crate) mod oauth_metadata;
pub(crate) mod purchases;
pub(crate) mod tokens;
pub(crate) mod webhooks;

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use serde_json::Value;

use super::openapi::link_ops;
use super::openapi::operation as doc;
use crate::service::AppState;
use crate::token::partners::{Access, scope};

/// One operation tessera serves.
pub struct Route {
    pub method: Method,
    /// The path template, in the router's syntax (`{connection_id}` is one segment).
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
    /// Its OpenAPI operation; `None` for the documentation pages' own assets.
    pub operation: Option<fn() -> Value>,
    /// What a partner app's access token needs here.
    pub access: Access,
}

fn route(method: Method, path: &'static str, handler: MethodRouter<AppState>, operation: fn() -> Value) -> Route {
    Route { method, path, handler, operation: Some(operation), access: Access::ApiKeyOnly }
}

fn asset(path: &'static str, handler: MethodRouter<AppState>) -> Route {
    Route { method: Method::GET, path, handler, operation: None, access: Access::ApiKeyOnly }
}

impl Route {
    /// A partner token needs `scope` here.
    fn scoped(self, scope: &'static str) -> Self {
        Route { access: Access::Scope(scope), ..self }
    }

    /// Any partner token will do here.
    fn any_scope(self) -> Self {
        Route { access: Access::AnyScope, ..self }
    }
}

/// The OpenAPI document of every documented route of [`table`].
pub fn document() -> Value {
    let operations = table().into_iter().filter_map(|r| r.operation.map(|op| (r.path, r.method, op(), r.access)));
    super::openapi::document(operations, METRICS)
}

/// Every route, once: the router, the trailing-slash matcher and the OpenAPI document are all
/// built from this table.
pub fn table() -> Vec<Route> {
    let openapi = || async { axum::Json(document()) };
    let mut table = vec![
        route(Method::POST, "/connections", post(connections::create_connection), doc::create_connection)
            .scoped(scope::CONNECTIONS_WRITE),
        route(Method::GET, "/connections", get(connections::list_connections), doc::list_connections)
            .scoped(scope::CONNECTIONS_READ),
        route(Method::GET, "/connections/{connection_id}", get(connections::get_connection), doc::get_connection)
            .scoped(scope::CONNECTIONS_READ),
        route(
            Method::PATCH,
            "/connections/{connection_id}",
            patch(connections::update_connection),
            doc::update_connection,
        )
        .scoped(scope::CONNECTIONS_WRITE),
        route(
            Method::DELETE,
            "/connections/{connection_id}",
            delete(connections::delete_connection),
            doc::delete_connection,
        )
        .scoped(scope::CONNECTIONS_WRITE),
        route(
            Method::POST,
            "/connections/{connection_id}/token",
            post(tokens::create_connection_token),
            doc::create_connection_token,
        )
        .scoped(scope::CONNECTIONS_WRITE),
        route(Method::GET, "/connections/{connection_id}/activity", get(activity::activity), doc::activity)
            .scoped(scope::CONNECTIONS_READ),
        route(Method::POST, "/link-tokens", post(link::create), link_ops::create_link_token)
            .scoped(scope::CONNECTIONS_WRITE),
        route(Method::GET, "/link-tokens", get(link::list), link_ops::list_link_tokens).scoped(scope::CONNECTIONS_READ),
        route(Method::DELETE, "/link-tokens/{link_token}", delete(link::revoke), link_ops::revoke_link_token)
            .scoped(scope::CONNECTIONS_WRITE),
        route(Method::POST, "/redirect-urls", post(link::add_redirect), link_ops::add_redirect_url),
        route(Method::GET, "/redirect-urls", get(link::list_redirects), link_ops::list_redirect_urls),
        route(Method::DELETE, "/redirect-urls", delete(link::remove_redirect), link_ops::remove_redirect_url),
        route(Method::PUT, "/connector/link-url", put(connector_link::put_link_url), link_ops::put_link_url),
        route(
            Method::DELETE,
            "/connector/link-url",
            delete(connector_link::delete_link_url),
            link_ops::delete_link_url,
        ),
        route(
            Method::PUT,
            "/connector/retailers/{retailer_id}",
            put(connector_link::put_retailer),
            link_ops::put_connector_retailer,
        ),
        route(
            Method::GET,
            "/connector/link-sessions/{reference}",
            get(connector_link::get_session),
            link_ops::get_link_session,
        ),
        route(
            Method::POST,
            "/connector/link-sessions/{reference}/complete",
            post(connector_link::complete_session),
            link_ops::complete_link_session,
        ),
        route(Method::POST, "/tokens/introspect", post(introspection::introspect), doc::introspect),
        route(Method::POST, "/tokens/revoke", post(introspection::revoke), doc::revoke),
        route(Method::GET, "/.well-known/jwks.json", get(jwks::jwks), doc::jwks),
        route(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            get(oauth_metadata::metadata),
            doc::oauth_metadata,
        ),
        route(Method::GET, "/account", get(account::account), doc::account).any_scope(),
        route(Method::PATCH, "/account", patch(account::update_account), doc::update_account),
        route(Method::GET, "/healthz", get(health::healthz), doc::healthz),
        route(Method::GET, "/readyz", get(health::readyz), doc::readyz),
        route(
            Method::PUT,
            "/connector/connections/{connection_id}/status",
            put(connector::report_status),
            doc::report_status,
        ),
        route(
            Method::GET,
            "/connector/connections/{connection_id}",
            get(connector::get_connection),
            doc::connector_get_connection,
        ),
        route(Method::POST, "/webhooks", post(webhooks::create_webhook), doc::create_webhook)
            .scoped(scope::WEBHOOKS_WRITE),
        route(Method::GET, "/webhooks", get(webhooks::list_webhooks), doc::list_webhooks).scoped(scope::WEBHOOKS_READ),
        route(Method::GET, "/webhooks/{webhook_id}", get(webhooks::get_webhook), doc::get_webhook)
            .scoped(scope::WEBHOOKS_READ),
        route(Method::PATCH, "/webhooks/{webhook_id}", patch(webhooks::update_webhook), doc::update_webhook)
            .scoped(scope::WEBHOOKS_WRITE),
        route(Method::DELETE, "/webhooks/{webhook_id}", delete(webhooks::delete_webhook), doc::delete_webhook)
            .scoped(scope::WEBHOOKS_WRITE),
        route(
            Method::POST,
            "/webhooks/{webhook_id}/rotate-secret",
            post(webhooks::rotate_secret),
            doc::rotate_webhook_secret,
        )
        .scoped(scope::WEBHOOKS_WRITE),
        route(Method::GET, "/webhooks/{webhook_id}/deliveries", get(webhooks::deliveries), doc::webhook_deliveries)
            .scoped(scope::WEBHOOKS_READ),
        route(
            Method::POST,
            "/webhooks/{webhook_id}/deliveries/{event_id}/redeliver",
            post(webhooks::redeliver),
            doc::redeliver,
        )
        .scoped(scope::WEBHOOKS_WRITE),
        route(Method::GET, METRICS, get(metrics::metrics), doc::metrics),
        route(Method::GET, "/openapi.json", get(openapi), doc::openapi),
        asset("/", get(docs::front_page)),
        asset("/docs", get(docs::swagger_ui)),
        asset(docs::SWAGGER_JS_PATH, get(docs::swagger_js)),
        asset(docs::SWAGGER_CSS_PATH, get(docs::swagger_css)),
        asset("/redoc", get(docs::redoc)),
        asset(docs::REDOC_JS_PATH, get(docs::redoc_js)),
    ];
    table.extend(purchase_routes());
    table
}

/// Purchases, retailers and the older generation's paths (which Subtotal's SDK speaks).
fn purchase_routes() -> Vec<Route> {
    use super::openapi::purchase_ops as ops;
    vec![
        route(
            Method::PUT,
            "/connector/connections/{connection_id}/purchases",
            put(purchases::upsert_purchases),
            ops::upsert_purchases,
        ),
        route(
            Method::GET,
            "/connections/{connection_id}/purchases",
            get(purchases::list_connection_purchases),
            ops::list_connection_purchases,
        )
        .scoped(scope::PURCHASES),
        route(Method::GET, "/retailers", get(purchases::list_retailers), ops::list_retailers)
            .scoped(scope::CONNECTIONS_READ),
        route(Method::POST, "/connection", post(legacy::create_connection), ops::legacy_create_connection),
        route(Method::GET, "/connection/{connection_id}", get(legacy::get_connection), ops::legacy_get_connection),
        route(
            Method::POST,
            "/connection/{connection_id}/token",
            post(legacy::create_connection_token),
            ops::legacy_create_token,
        ),
        route(Method::GET, "/merchants", get(purchases::list_merchants), ops::list_merchants),
        route(Method::GET, "/purchases", get(purchases::list_purchases), ops::list_purchases),
        route(Method::GET, "/purchases/{purchase_id}", get(purchases::get_purchase), ops::get_purchase),
    ]
}

/// The metrics page's path: left out of the main router when it has a listener of its own.
pub const METRICS: &str = "/metrics";
