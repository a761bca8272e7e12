//! The Link operations (link tokens, redirect URLs, the connector's side of Link) and their
//! answers' schemas.
use serde_json::{Value, json};

use super::{auth_headers, error, json_schema_ref, responses};
use super::{bad_body, timeout, too_large};

fn ok(code: &'static str, schema: &str) -> (&'static str, Value) {
    (code, json!({"description": "Successful Response", "content": json_schema_ref(schema)}))
}

fn connector_refused() -> (&'static str, Value) {
    ("401", error("Missing, unknown or revoked connector credential"))
}

fn with_auth(mut p: Vec<Value>) -> Vec<Value> {
    p.extend(auth_headers());
    p
}

fn link_token_param() -> Value {
    json!({
        "name": "link_token", "in": "path", "required": true,
        "schema": {"type": "string", "minLength": 49, "maxLength": 49,
                   "pattern": crate::domain::link::LINK_TOKEN_PATTERN, "title": "Link Token"},
        "description": "The link token to revoke (keep it out of your logs)"
    })
}

fn reference_param() -> Value {
    json!({
        "name": "reference", "in": "path", "required": true,
        "schema": {"type": "string", "title": "Reference"},
        "description": "The session reference Link sent to the connector's sign-in page (?session=...)"
    })
}

/// `POST /link-tokens`.
pub(crate) fn create_link_token() -> Value {
    let mut p = auth_headers();
    p.push(json!({
        "name": "x-subtotal-idempotency-key", "in": "header", "required": false,
        "schema": {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "null"}], "title": "X-Subtotal-Idempotency-Key"},
        "description": "Retrying an identical request with the same key answers the same link token"
    }));
    json!({
        "tags": ["link_tokens"],
        "summary": "Create Link Token",
        "description": "Create a link token for one of your customers: an opaque bearer secret (lt_v1_...) that opens the hosted Link flow at {public-url}/link/{link_token}. It is answered this once.",
        "operationId": "create_link_token_link_tokens_post",
        "parameters": p,
        "requestBody": {"required": true, "content": json_schema_ref("CreateLinkTokenRequest")},
        "responses": responses(ok("201", "LinkTokenCreated"),
            &[bad_body(), too_large(), timeout(),
              ("409", error("The idempotency key was used for a different request, or is in use"))])
    })
}

/// `GET /link-tokens`.
pub(crate) fn list_link_tokens() -> Value {
    json!({
        "tags": ["link_tokens"],
        "summary": "List Link Tokens",
        "description": "A customer's link tokens: metadata only, never the tokens.",
        "operationId": "list_link_tokens_link_tokens_get",
        "parameters": with_auth(vec![
            json!({"name": "customer_id", "in": "query", "required": true,
                   "schema": {"type": "string", "minLength": 1, "title": "Customer Id"}}),
            json!({"name": "status", "in": "query", "required": false,
                   "schema": {"anyOf": [{"type": "string", "enum": ["active", "expired", "revoked"]}, {"type": "null"}], "title": "Status"}}),
        ]),
        "responses": responses(ok("200", "LinkTokensResponse"), &[])
    })
}

/// `DELETE /link-tokens/{link_token}`.
pub(crate) fn revoke_link_token() -> Value {
    json!({
        "tags": ["link_tokens"],
        "summary": "Revoke Link Token",
        "description": "Revoke a link token, whatever its state: no new Link session starts with it. Connections and connection tokens it led to stay as they are.",
        "operationId": "revoke_link_token_link_tokens__link_token__delete",
        "parameters": with_auth(vec![link_token_param()]),
        "responses": responses(("204", json!({"description": "Successful Response"})),
            &[("404", error("Link token not found, or owned by another client"))])
    })
}

/// `POST /redirect-urls`.
pub(crate) fn add_redirect_url() -> Value {
    json!({
        "tags": ["link_tokens"],
        "summary": "Register Redirect URL",
        "description": "Register an exact URL Link may send your customers back to (redirect_url of a Link URL). 201 when new, 200 when it was registered already.",
        "operationId": "add_redirect_url_redirect_urls_post",
        "parameters": auth_headers(),
        "requestBody": {"required": true, "content": json_schema_ref("RedirectUrlRequest")},
        "responses": responses(ok("201", "RedirectUrl"), &[ok("200", "RedirectUrl"), bad_body(), too_large(), timeout()])
    })
}

/// `GET /redirect-urls`.
pub(crate) fn list_redirect_urls() -> Value {
    json!({
        "tags": ["link_tokens"],
        "summary": "List Redirect URLs",
        "operationId": "list_redirect_urls_redirect_urls_get",
        "parameters": auth_headers(),
        "responses": responses(ok("200", "RedirectUrlsResponse"), &[])
    })
}

/// `DELETE /redirect-urls`.
pub(crate) fn remove_redirect_url() -> Value {
    json!({
        "tags": ["link_tokens"],
        "summary": "Remove Redirect URL",
        "operationId": "remove_redirect_url_redirect_urls_delete",
        "parameters": with_auth(vec![json!({"name": "url", "in": "query", "required": true,
            "schema": {"type": "string", "title": "Url"}})]),
        "responses": responses(("204", json!({"description": "Successful Response"})),
            &[("404", error("Redirect URL not registered"))])
    })
}

/// `PUT /connector/link-url`.
pub(crate) fn put_link_url() -> Value {
    json!({
        "tags": ["connector"],
        "summary": "Register Sign-in Page",
        "description": "For the connector service: the page where customers sign in to a retailer during Link. retailer_ids null or absent: every retailer no other registration names. Replaces this credential's previous registration.",
        "operationId": "put_link_url_connector_link_url_put",
        "parameters": auth_headers(),
        "requestBody": {"required": true, "content": json_schema_ref("ConnectorLinkUrl")},
        "responses": responses(ok("200", "ConnectorLinkUrlResponse"), &[connector_refused(), bad_body(), too_large(), timeout()])
    })
}

/// `DELETE /connector/link-url`.
pub(crate) fn delete_link_url() -> Value {
    json!({
        "tags": ["connector"],
        "summary": "Remove Sign-in Page",
        "operationId": "delete_link_url_connector_link_url_delete",
        "parameters": auth_headers(),
        "responses": responses(("204", json!({"description": "Successful Response"})), &[connector_refused()])
    })
}

/// `PUT /connector/retailers/{retailer_id}`.
pub(crate) fn put_connector_retailer() -> Value {
    json!({
        "tags": ["connector"],
        "summary": "Put Retailer",
        "description": "For the connector service: add a retailer it serves to the catalogue (201), or rename it (200).",
        "operationId": "put_retailer_connector_retailers__retailer_id__put",
        "parameters": with_auth(vec![json!({"name": "retailer_id", "in": "path", "required": true,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,26}$", "title": "Retailer Id"}})]),
        "requestBody": {"required": true, "content": json_schema_ref("ConnectorRetailer")},
        "responses": responses(ok("200", "Retailer"), &[ok("201", "Retailer"), connector_refused(), bad_body(), too_large(), timeout()])
    })
}

/// `GET /connector/link-sessions/{reference}`.
pub(crate) fn get_link_session() -> Value {
    json!({
        "tags": ["connector"],
        "summary": "Get Link Session",
        "description": "For the connector service: the Link session at its sign-in page.",
        "operationId": "get_link_session_connector_link_sessions__reference__get",
        "parameters": with_auth(vec![reference_param()]),
        "responses": responses(ok("200", "LinkSessionAtConnector"),
            &[connector_refused(), ("404", error("Link session not found, completed already, or expired"))])
    })
}

/// `POST /connector/link-sessions/{reference}/complete`.
pub(crate) fn complete_link_session() -> Value {
    json!({
        "tags": ["connector"],
        "summary": "Complete Link Session",
        "description": "For the connector service: how the customer's sign-in ended. A reference completes once.",
        "operationId": "complete_link_session_connector_link_sessions__reference__complete_post",
        "parameters": with_auth(vec![reference_param()]),
        "requestBody": {"required": true, "content": json_schema_ref("CompleteLinkSession")},
        "responses": responses(ok("200", "LinkSessionCompleted"),
            &[connector_refused(), bad_body(), too_large(), timeout(),
              ("404", error("Link session not found, completed already, or expired"))])
    })
}

/// The answers' schemas.
pub(crate) fn schemas() -> Vec<(&'static str, Value)> {
    let nullable_str = json!({"anyOf": [{"type": "string"}, {"type": "null"}]});
    let meta = json!({
        "customer_id": {"type": "string", "title": "Customer Id"},
        "status": {"type": "string", "enum": ["active", "expired", "revoked"], "title": "Status"},
        "created_at": {"type": "string", "format": "date-time", "title": "Created At"},
        "expires_at": {"type": "string", "format": "date-time", "title": "Expires At"},
        "revoked_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "title": "Revoked At"}
    });
    let meta_required = json!(["customer_id", "status", "created_at", "expires_at", "revoked_at"]);
    let mut created = meta.clone();
    created["link_token"] =
        json!({"type": "string", "pattern": crate::domain::link::LINK_TOKEN_PATTERN, "title": "Link Token"});
    let mut created_required = meta_required.clone();
    if let Some(list) = created_required.as_array_mut() {
        list.push(json!("link_token"));
    }
    vec![
        ("LinkToken", json!({"properties": meta, "type": "object", "required": meta_required, "title": "LinkToken"})),
        (
            "LinkTokenCreated",
            json!({"properties": created, "type": "object", "required": created_required, "title": "LinkTokenCreated"}),
        ),
        (
            "LinkTokensResponse",
            json!({
                "properties": {"link_tokens": {"type": "array", "items": {"$ref": "#/components/schemas/LinkToken"}, "title": "Link Tokens"}},
                "type": "object", "required": ["link_tokens"], "title": "LinkTokensResponse"
            }),
        ),
        (
            "RedirectUrl",
            json!({
                "properties": {"url": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}},
                "type": "object", "required": ["url", "created_at"], "title": "RedirectUrl"
            }),
        ),
        (
            "RedirectUrlsResponse",
            json!({
                "properties": {"redirect_urls": {"type": "array", "items": {"$ref": "#/components/schemas/RedirectUrl"}}},
                "type": "object", "required": ["redirect_urls"], "title": "RedirectUrlsResponse"
            }),
        ),
        (
            "ConnectorLinkUrlResponse",
            json!({
                "properties": {"url": {"type": "string"},
                               "retailer_ids": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}},
                "type": "object", "required": ["url", "retailer_ids"], "title": "ConnectorLinkUrlResponse"
            }),
        ),
        (
            "Retailer",
            json!({
                "properties": {"retailer_id": {"type": "string"}, "name": {"type": "string"}},
                "type": "object", "required": ["retailer_id", "name"], "title": "Retailer"
            }),
        ),
        (
            "LinkSessionAtConnector",
            json!({
                "properties": {
                    "session_id": {"type": "string"}, "retailer_id": {"type": "string"}, "retailer_name": {"type": "string"},
                    "customer_id": {"type": "string"}, "email": nullable_str, "client_name": {"type": "string"},
                    "connection_id": nullable_str, "expires_at": {"type": "string", "format": "date-time"},
                    "return_url": {"type": "string"}
                },
                "type": "object",
                "required": ["session_id", "retailer_id", "retailer_name", "customer_id", "email", "client_name", "connection_id", "expires_at", "return_url"],
                "title": "LinkSessionAtConnector"
            }),
        ),
        (
            "LinkSessionCompleted",
            json!({
                "properties": {
                    "state": {"type": "string", "enum": ["completed", "failed"]},
                    "reason": nullable_str,
                    "connection": {"anyOf": [{"$ref": "#/components/schemas/ConnectionResponse"}, {"type": "null"}]},
                    "return_url": {"type": "string"}
                },
                "type": "object", "required": ["state", "reason", "connection", "return_url"], "title": "LinkSessionCompleted"
            }),
        ),
    ]
}
