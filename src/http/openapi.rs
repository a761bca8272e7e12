//! The OpenAPI 3.1 document served at `/openapi.json`.
//!
//! Written out by hand rather than derived, because the seed operation must equal the
//! reference service's document field for field (operation ids, titles, `anyOf` nullable
//! headers, schema names), which derive macros do not reproduce. A test compares it with the
//! seed, and another checks every route is documented with every status it can answer.
use serde_json::{Value, json};

pub mod purchase_ops;

fn auth_headers() -> Vec<Value> {
    ["authorization", "x-api-key"]
        .iter()
        .zip(["Authorization", "X-Api-Key"])
        .map(|(name, title)| {
            json!({
                "name": name, "in": "header", "required": false,
                "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": title}
            })
        })
        .collect()
}

fn connection_id_param() -> Value {
    json!({
        "name": "connection_id", "in": "path", "required": true,
        "schema": {"type": "string", "description": "A unique identifier for the connection", "title": "Connection Id"},
        "description": "A unique identifier for the connection"
    })
}

fn json_schema_ref(name: &str) -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}})
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": json_schema_ref("HTTPError")})
}

fn validation_error() -> Value {
    json!({"description": "Validation Error", "content": json_schema_ref("HTTPValidationError")})
}

/// The error answers every authenticated route can give.
fn common_errors() -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("401".into(), error("Missing, unknown or revoked API key"));
    m.insert("422".into(), validation_error());
    m.insert("429".into(), error("Rate limit exceeded (per API key, or failed authentications per address)"));
    m.insert("503".into(), error("The database cannot be reached; retry later"));
    m
}

fn responses(success: (&str, Value), extra: &[(&str, Value)]) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(success.0.into(), success.1);
    m.extend(common_errors());
    for (code, v) in extra {
        m.insert((*code).into(), v.clone());
    }
    Value::Object(m)
}

fn params(with_path: bool) -> Vec<Value> {
    let mut p = Vec::new();
    if with_path {
        p.push(connection_id_param());
    }
    p.extend(auth_headers());
    p
}

fn token_request() -> Value {
    let schema = json!({"$ref": "#/components/schemas/TokenRequest"});
    json!({"application/json": {"schema": schema}, "application/x-www-form-urlencoded": {"schema": schema}})
}

fn activity_params() -> Vec<Value> {
    let mut p = vec![
        connection_id_param(),
        json!({"name": "limit", "in": "query", "required": false,
               "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20, "title": "Limit"}}),
        json!({"name": "starting_after", "in": "query", "required": false,
               "schema": {"type": "string", "title": "Starting After",
                          "description": "An event_id: return the events older than it (the next_cursor of the previous page)"}}),
    ];
    p.extend(auth_headers());
    p
}

fn list_params() -> Vec<Value> {
    let mut p = vec![json!({
        "name": "customer_id", "in": "query", "required": true,
        "schema": {"type": "string", "description": "The customer id to filter connections by", "title": "Customer Id"},
        "description": "The customer id to filter connections by"
    })];
    p.extend(auth_headers());
    p
}

fn too_large() -> (&'static str, Value) {
    ("413", error("Request body larger than 64 KiB"))
}

fn bad_body() -> (&'static str, Value) {
    ("400", error("The body is not text in an encoding JSON allows"))
}

fn timeout() -> (&'static str, Value) {
    ("408", error("The request body did not arrive in time"))
}

fn webhook_not_found() -> (&'static str, Value) {
    ("404", error("Webhook not found, or owned by another client"))
}

fn webhook_params() -> Vec<Value> {
    let mut p = vec![json!({
        "name": "webhook_id", "in": "path", "required": true,
        "schema": {"type": "string", "title": "Webhook Id"}
    })];
    p.extend(auth_headers());
    p
}

fn not_found() -> (&'static str, Value) {
    ("404", error("Connection not found, or owned by another client"))
}

/// The whole document, from every documented route (path, method and operation, in the
/// route table's order), with the schemas; `metrics` is the metrics page's path.
pub fn document(
    operations: impl IntoIterator<Item = (&'static str, axum::http::Method, Value)>,
    metrics: &str,
) -> Value {
    let mut paths = serde_json::Map::new();
    for (path, method, mut operation) in operations {
        if let Some(security) = security(path, &operation, metrics) {
            operation["security"] = security;
        }
        let methods = paths.entry(path).or_insert_with(|| json!({}));
        methods[method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        // The seed's `info`, as the reference service states it (the seed test compares the
        // title); tessera names itself and its version in the description.
        "info": {
            "title": "FastAPI",
            "version": "0.1.0",
            "description": format!(
                "tessera {}: Subtotal-compatible connection tokens. Authorize with an API key \
                 (X-Api-Key, or the same key as a Bearer token).",
                env!("CARGO_PKG_VERSION")
            )
        },
        "paths": paths,
        "components": {"schemas": schemas(), "securitySchemes": security_schemes()}
    })
}

/// The credentials an API key route accepts, as Swagger UI's Authorize dialog offers them:
/// the key in `X-Api-Key`, or as a bearer token. FastAPI's names for the two schemes.
fn security_schemes() -> Value {
    json!({
        "APIKeyHeader": {
            "type": "apiKey", "in": "header", "name": "X-Api-Key",
            "description": "An API key (`tsk_...`), or on /connector routes a connector credential (`tsc_...`)"
        },
        "HTTPBearer": {
            "type": "http", "scheme": "bearer",
            "description": "The same key as `Authorization: Bearer <key>`; on /metrics, the metrics token"
        }
    })
}

/// An operation's `security`: either scheme for whatever takes an API key (its parameters
/// name `x-api-key`); for `/metrics`, the metrics token when one is set (so also none).
fn security(path: &str, operation: &Value, metrics: &str) -> Option<Value> {
    if path == metrics {
        return Some(json!([{}, {"HTTPBearer": []}]));
    }
    let takes_key = operation["parameters"]
        .as_array()
        .is_some_and(|params| params.iter().any(|p| p["name"] == "x-api-key" && p["in"] == "header"));
    takes_key.then(|| json!([{"APIKeyHeader": []}, {"HTTPBearer": []}]))
}

/// The operations, one function each, named after their handlers.
pub mod operation {
    use serde_json::{Value, json};

    use super::*;

    /// `POST /connections`.
    pub fn create_connection() -> Value {
        json!({
            "tags": ["connection"],
            "summary": "Create Connection",
            "description": "Create a connection for one of your customers",
            "operationId": "create_connection_connections_post",
            "parameters": params(false),
            "requestBody": {"required": true, "content": json_schema_ref("CreateConnection")},
            "responses": responses(
                ("201", json!({"description": "Successful Response", "content": json_schema_ref("ConnectionResponse")})),
                &[bad_body(), too_large(), timeout(),
                  ("409", error("The idempotency key was used for a different request, or is in use"))])
        })
    }

    /// `GET /connections`.
    pub fn list_connections() -> Value {
        json!({
            "tags": ["connection"],
            "summary": "Get Connections",
            "description": "List a customer's connections",
            "operationId": "get_connections_connections_get",
            "parameters": list_params(),
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": json_schema_ref("GetConnectionsResponse")})),
                &[])
        })
    }

    /// `GET /connections/{connection_id}`.
    pub fn get_connection() -> Value {
        let connection_response =
            ("200", json!({"description": "Successful Response", "content": json_schema_ref("ConnectionResponse")}));
        json!({
            "tags": ["connection"],
            "summary": "Get Connection",
            "description": "Get a connection",
            "operationId": "get_connection_connections__connection_id__get",
            "parameters": params(true),
            "responses": responses(connection_response, &[not_found()])
        })
    }

    /// `PATCH /connections/{connection_id}`.
    pub fn update_connection() -> Value {
        let connection_response =
            ("200", json!({"description": "Successful Response", "content": json_schema_ref("ConnectionResponse")}));
        json!({
            "tags": ["connection"],
            "summary": "Update Connection",
            "description": "Update a connection. `status` can only be used to disconnect it.",
            "operationId": "update_connection_connections__connection_id__patch",
            "parameters": params(true),
            "requestBody": {"required": true, "content": json_schema_ref("UpdateConnection")},
            "responses": responses(connection_response, &[not_found(), bad_body(), too_large(), timeout()])
        })
    }

    /// `DELETE /connections/{connection_id}`.
    pub fn delete_connection() -> Value {
        json!({
            "tags": ["connection"],
            "summary": "Delete Connection",
            "description": "Delete a connection",
            "operationId": "delete_connection_connections__connection_id__delete",
            "parameters": params(true),
            "responses": responses(("204", json!({"description": "Successful Response"})), &[not_found()])
        })
    }

    /// `POST /connections/{connection_id}/token`.
    pub fn create_connection_token() -> Value {
        json!({
            "tags": ["connection"],
            "summary": "Create Connection Token",
            "description": "Request a new connection token",
            "operationId": "create_connection_token_connections__connection_id__token_post",
            "parameters": params(true),
            "requestBody": {"required": true, "content": json_schema_ref("CreateTokenRequest")},
            "responses": responses(
                ("201", json!({"description": "Successful Response", "content": json_schema_ref("ConnectionTokenResponse")})),
                &[not_found(), bad_body(), too_large(), timeout(),
                  ("409", error("The connection is disconnected"))])
        })
    }

    /// `GET /connections/{connection_id}/activity`.
    pub fn activity() -> Value {
        json!({
            "tags": ["connection"],
            "summary": "Get a connection's activity log, newest first",
            "description": "Created, updated, status changed, token issued, token revoked and deleted events, each with its time and the acting API key id. Accepts X-Api-Key with an optional connection token (Authorization: Bearer) for this connection.",
            "operationId": "get_connection_activity_log_connections__connection_id__activity_get",
            "parameters": activity_params(),
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": json_schema_ref("ActivityResponse")})),
                &[not_found()])
        })
    }

    /// `POST /tokens/introspect`.
    pub fn introspect() -> Value {
        json!({
            "tags": ["tokens"],
            "summary": "Introspect Token",
            "description": "RFC 7662: whether a connection token of your client is live, with its claims. Any other token, including another client's, is just {\"active\": false}.",
            "operationId": "introspect_token_tokens_introspect_post",
            "parameters": params(false),
            "requestBody": {"required": true, "content": token_request()},
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": json_schema_ref("IntrospectionResponse")})),
                &[bad_body(), too_large(), timeout()])
        })
    }

    /// `POST /tokens/revoke`.
    pub fn revoke() -> Value {
        json!({
            "tags": ["tokens"],
            "summary": "Revoke Token",
            "description": "RFC 7009 style: revoke one of your client's tokens by token or by jti. Idempotent; the answer is the same whether or not anything was revoked.",
            "operationId": "revoke_token_tokens_revoke_post",
            "parameters": params(false),
            "requestBody": {"required": true, "content": token_request()},
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": {"application/json": {"schema": {"type": "object"}}}})),
                &[bad_body(), too_large(), timeout()])
        })
    }

    /// `GET /.well-known/jwks.json`.
    pub fn jwks() -> Value {
        json!({
            "tags": ["keys"],
            "summary": "Get JWKS",
            "description": "The public keys that verify connection tokens (RFC 7517)",
            "operationId": "get_jwks_well_known_jwks_json_get",
            "responses": {"200": {"description": "Successful Response", "content": json_schema_ref("JWKS")}}
        })
    }

    /// `GET /healthz`.
    pub fn healthz() -> Value {
        json!({
            "tags": ["health"],
            "summary": "Liveness",
            "operationId": "healthz_healthz_get",
            "responses": {"200": {"description": "The process is alive", "content": json_schema_ref("Status")}}
        })
    }

    /// `GET /readyz`.
    pub fn readyz() -> Value {
        json!({
            "tags": ["health"],
            "summary": "Readiness",
            "operationId": "readyz_readyz_get",
            "responses": {
                "200": {"description": "Ready: the database answers", "content": json_schema_ref("Status")},
                "503": error("Not ready: the database cannot be reached")
            }
        })
    }

    /// `GET /metrics`.
    pub fn metrics() -> Value {
        json!({
            "tags": ["operations"],
            "summary": "Prometheus metrics",
            "description": "Served here unless a separate metrics listener is configured. With --metrics-token, only for Authorization: Bearer <token>.",
            "operationId": "metrics_metrics_get",
            "responses": {
                "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": error("A metrics token is set and the request does not carry it")
            }
        })
    }

    /// `GET /openapi.json`.
    pub fn openapi() -> Value {
        json!({
            "tags": ["docs"],
            "summary": "OpenAPI document",
            "operationId": "openapi_openapi_json_get",
            "responses": {"200": {"description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}}}
        })
    }

    /// `PUT /connector/connections/{connection_id}/status`.
    pub fn report_status() -> Value {
        json!({
            "tags": ["connector"],
            "summary": "Report Connection Status",
            "description": "For the operator's connector service, with a connector credential (tsc_...; a client's API key is refused): move any client's connection through its lifecycle. initialized -> active, active -> unauthenticated, unauthenticated -> active, any -> disconnected (final, and its tokens are revoked). Reporting the current status again changes nothing; any other move is 409 naming both statuses.",
            "operationId": "report_connection_status_connector_connections__connection_id__status_put",
            "parameters": params(true),
            "requestBody": {"required": true, "content": json_schema_ref("ReportStatus")},
            "responses": responses(
                ("200", json!({"description": "The connection as it now stands", "content": json_schema_ref("ConnectionResponse")})),
                &[not_found(), bad_body(), too_large(), timeout(),
                  ("401", error("Missing, unknown or revoked connector credential")),
                  ("409", error("The lifecycle does not allow this move"))]),
        })
    }

    /// `GET /connector/connections/{connection_id}`.
    pub fn connector_get_connection() -> Value {
        json!({
            "tags": ["connector"],
            "summary": "Get Any Connection",
            "description": "For the connector service: any client's connection.",
            "operationId": "get_connection_connector_connections__connection_id__get",
            "parameters": params(true),
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": json_schema_ref("ConnectionResponse")})),
                &[not_found(), ("401", error("Missing, unknown or revoked connector credential"))]),
        })
    }

    /// `POST /webhooks`.
    pub fn create_webhook() -> Value {
        json!({
            "tags": ["webhooks"],
            "summary": "Create Webhook",
            "description": "Register an endpoint for events about your connections. The answer carries the signing secret, shown this once.",
            "operationId": "create_webhook_webhooks_post",
            "parameters": params(false),
            "requestBody": {"required": true, "content": json_schema_ref("CreateWebhook")},
            "responses": responses(
                ("201", json!({"description": "Created, with its signing secret", "content": json_schema_ref("WebhookCreated")})),
                &[bad_body(), too_large(), timeout()]),
        })
    }

    /// `GET /webhooks`.
    pub fn list_webhooks() -> Value {
        json!({
            "tags": ["webhooks"],
            "summary": "Get Webhooks",
            "description": "Your webhooks (never their secrets).",
            "operationId": "get_webhooks_webhooks_get",
            "parameters": params(false),
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": json_schema_ref("WebhooksResponse")})),
                &[]),
        })
    }

    /// `GET /webhooks/{webhook_id}`.
    pub fn get_webhook() -> Value {
        json!({
            "tags": ["webhooks"],
            "summary": "Get Webhook",
            "operationId": "get_webhook_webhooks__webhook_id__get",
            "parameters": webhook_params(),
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": json_schema_ref("WebhookResponse")})),
                &[webhook_not_found()]),
        })
    }

    /// `PATCH /webhooks/{webhook_id}`.
    pub fn update_webhook() -> Value {
        json!({
            "tags": ["webhooks"],
            "summary": "Update Webhook",
            "description": "Change its name, url, event types, or turn it on or off (turning it on clears the reason tessera turned it off).",
            "operationId": "update_webhook_webhooks__webhook_id__patch",
            "parameters": webhook_params(),
            "requestBody": {"required": true, "content": json_schema_ref("UpdateWebhook")},
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": json_schema_ref("WebhookResponse")})),
                &[webhook_not_found(), bad_body(), too_large(), timeout()]),
        })
    }

    /// `DELETE /webhooks/{webhook_id}`.
    pub fn delete_webhook() -> Value {
        json!({
            "tags": ["webhooks"],
            "summary": "Delete Webhook",
            "description": "Delete it and its pending deliveries.",
            "operationId": "delete_webhook_webhooks__webhook_id__delete",
            "parameters": webhook_params(),
            "responses": responses(("204", json!({"description": "Successful Response"})), &[webhook_not_found()]),
        })
    }

    /// `POST /webhooks/{webhook_id}/rotate-secret`.
    pub fn rotate_webhook_secret() -> Value {
        json!({
            "tags": ["webhooks"],
            "summary": "Rotate Webhook Signing Secret",
            "description": "A new signing secret, shown once. For 24 hours deliveries carry a signature under each secret, comma-separated in X-Subtotal-Signature, newest first.",
            "operationId": "rotate_webhook_secret_webhooks__webhook_id__rotate_secret_post",
            "parameters": webhook_params(),
            "responses": responses(
                ("200", json!({"description": "The new secret", "content": json_schema_ref("SecretRotated")})),
                &[webhook_not_found()]),
        })
    }

    /// `GET /webhooks/{webhook_id}/deliveries`.
    pub fn webhook_deliveries() -> Value {
        let mut parameters = webhook_params();
        parameters.push(json!({"name": "limit", "in": "query", "required": false,
               "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20, "title": "Limit"}}));
        parameters.push(json!({"name": "starting_after", "in": "query", "required": false,
               "schema": {"type": "string", "title": "Starting After", "description": "An event_id: the deliveries of older events"}}));
        json!({
            "tags": ["webhooks"],
            "summary": "Get Webhook Deliveries",
            "description": "The delivery log, newest event first: event id and type, attempts, last status and error, next attempt, delivered or given-up time.",
            "operationId": "get_webhook_deliveries_webhooks__webhook_id__deliveries_get",
            "parameters": parameters,
            "responses": responses(
                ("200", json!({"description": "Successful Response", "content": json_schema_ref("DeliveriesResponse")})),
                &[webhook_not_found()]),
        })
    }

    /// `POST /webhooks/{webhook_id}/deliveries/{event_id}/redeliver`.
    pub fn redeliver() -> Value {
        let mut parameters = webhook_params();
        parameters.insert(
            1,
            json!({"name": "event_id", "in": "path", "required": true,
            "schema": {"type": "string", "title": "Event Id"}}),
        );
        json!({
            "tags": ["webhooks"],
            "summary": "Redeliver Event",
            "description": "Send one event to this webhook again, now, with its original id.",
            "operationId": "redeliver_event_webhooks__webhook_id__deliveries__event_id__redeliver_post",
            "parameters": parameters,
            "responses": responses(
                ("202", json!({"description": "Scheduled", "content": {"application/json": {"schema": {"type": "object"}}}})),
                &[("404", error("Webhook or delivery not found"))]),
        })
    }
}

fn webhook_response(title: &str, with_secret: bool) -> Value {
    let mut schema = json!({
        "properties": {
            "webhook_id": {"type": "string"}, "name": {"type": "string"}, "url": {"type": "string"},
            "event_types": {"type": "array", "items": {"type": "string"}}, "is_active": {"type": "boolean"},
            "created_at": {"type": "integer"}, "updated_at": {"type": "integer"},
            "disabled_reason": {"anyOf": [{"type": "string"}, {"type": "null"}]}
        },
        "type": "object",
        "required": ["webhook_id", "name", "url", "event_types", "is_active", "created_at", "updated_at", "disabled_reason"],
        "title": title
    });
    if with_secret {
        schema["properties"]["signing_secret"] = json!({"type": "string", "description": "Shown this once"});
        if let Some(required) = schema["required"].as_array_mut() {
            required.push(json!("signing_secret"));
        }
    }
    schema
}

fn schemas() -> Value {
    let mut schemas = response_schemas();
    for model in super::models::ALL {
        schemas[model.name] = model.schema();
    }
    for (name, schema) in purchase_ops::schemas() {
        schemas[name] = schema;
    }
    schemas
}

/// The answers' schemas (the requests' come from [`super::models`]).
fn response_schemas() -> Value {
    json!({
        "ConnectionTokenResponse": {
            "properties": {
                "connection_token": {
                    "type": "string", "title": "Connection Token",
                    "description": "The generated connection token",
                    "examples": ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."]
                }
            },
            "type": "object", "required": ["connection_token"], "title": "ConnectionTokenResponse"
        },
        "HTTPValidationError": {
            "properties": {
                "detail": {"items": {"$ref": "#/components/schemas/ValidationError"}, "type": "array", "title": "Detail"}
            },
            "type": "object", "title": "HTTPValidationError"
        },
        "ValidationError": {
            "properties": {
                "loc": {"items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "type": "array", "title": "Location"},
                "msg": {"type": "string", "title": "Message"},
                "type": {"type": "string", "title": "Error Type"},
                "input": {"title": "Input"},
                "ctx": {"type": "object", "title": "Context"}
            },
            "type": "object", "required": ["loc", "msg", "type"], "title": "ValidationError"
        },
        "HTTPError": {
            "properties": {"detail": {"type": "string", "title": "Detail"}},
            "type": "object", "required": ["detail"], "title": "HTTPError"
        },
        "ConnectionResponse": {
            "properties": {
                "connection_id": {"type": "string", "title": "Connection Id", "examples": ["01J51S0JYV6N7K1030CV1ZKSCA"]},
                "customer_id": {"type": "string", "title": "Customer Id"},
                "retailer_id": {"type": "string", "title": "Retailer Id"},
                "status": {"type": "string", "enum": ["active", "initialized", "unauthenticated", "disconnected"],
                    "title": "Status", "description": "The status of the connection"},
                "email": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Email"},
                "mobile": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Mobile"}
            },
            "type": "object",
            "required": ["connection_id", "customer_id", "retailer_id", "status", "email", "mobile"],
            "title": "ConnectionResponse"
        },
        "GetConnectionsResponse": {
            "properties": {
                "connections": {"items": {"$ref": "#/components/schemas/ConnectionResponse"}, "type": "array",
                    "title": "Connections", "description": "List of connections"}
            },
            "type": "object", "required": ["connections"], "title": "GetConnectionsResponse"
        },
        "JWKS": {
            "properties": {"keys": {"type": "array", "items": {"type": "object",
                "properties": {"kty": {"type": "string"}, "crv": {"type": "string"}, "x": {"type": "string"},
                               "kid": {"type": "string"}, "alg": {"type": "string"}, "use": {"type": "string"}},
                "required": ["kty", "kid", "alg", "use"]}}},
            "type": "object", "required": ["keys"], "title": "JWKS"
        },
        "ActivityResponse": {
            "properties": {
                "events": {"type": "array", "items": {"type": "object",
                    "properties": {"event_id": {"type": "string"}, "type": {"type": "string",
                        "enum": ["created", "updated", "status_changed", "token_issued", "token_revoked", "deleted"]},
                        "at": {"type": "integer"}, "api_key_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "data": {"type": "object"}},
                    "required": ["event_id", "type", "at", "api_key_id", "data"]}},
                "has_more": {"type": "boolean"},
                "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]}
            },
            "type": "object", "required": ["events", "has_more", "next_cursor"], "title": "ActivityResponse"
        },
        "IntrospectionResponse": {
            "properties": {
                "active": {"type": "boolean"},
                "scope": {"type": "string"}, "client_id": {"type": "string"}, "sub": {"type": "string"},
                "customer_id": {"type": "string"}, "iss": {"type": "string"}, "aud": {"type": "string"},
                "iat": {"type": "integer"}, "nbf": {"type": "integer"}, "exp": {"type": "integer"},
                "jti": {"type": "string"}, "token_type": {"type": "string"}
            },
            "type": "object", "required": ["active"], "title": "IntrospectionResponse"
        },
        "Status": {
            "properties": {"status": {"type": "string"}},
            "type": "object", "required": ["status"], "title": "Status"
        },
        "WebhookResponse": webhook_response("WebhookResponse", false),
        "WebhookCreated": webhook_response("WebhookCreated", true),
        "WebhooksResponse": {
            "properties": {"webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookResponse"}}},
            "type": "object", "required": ["webhooks"], "title": "WebhooksResponse"
        },
        "SecretRotated": {
            "properties": {"webhook_id": {"type": "string"}, "signing_secret": {"type": "string"},
                           "previous_secret_expires_at": {"type": "integer"}},
            "type": "object", "required": ["webhook_id", "signing_secret", "previous_secret_expires_at"], "title": "SecretRotated"
        },
        "DeliveriesResponse": {
            "properties": {
                "deliveries": {"type": "array", "items": {"type": "object",
                    "properties": {"event_id": {"type": "string"}, "type": {"type": "string"},
                        "connection_id": {"type": "string"}, "attempts": {"type": "integer"},
                        "last_status": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                        "last_error": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "next_attempt_at": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                        "delivered_at": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                        "failed_at": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                        "created_at": {"type": "integer"}},
                    "required": ["event_id", "type", "connection_id", "attempts", "created_at"]}},
                "has_more": {"type": "boolean"},
                "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]}
            },
            "type": "object", "required": ["deliveries", "has_more", "next_cursor"], "title": "DeliveriesResponse"
        }
    })
}
