//! The OpenAPI 3.1 document served at `/openapi.json`.
//!
//! Written out by hand rather than derived, because the seed operation must equal the
//! reference service's document field for field (operation ids, titles, `anyOf` nullable
//! headers, schema names), which derive macros do not reproduce. A test compares it with the
//! seed, and another checks every route is documented with every status it can answer.
use serde_json::{Value, json};

pub(crate) mod link_ops;
pub(crate) mod operation;
pub(crate) mod purchase_ops;

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

/// The answers of an OAuth endpoint: RFC 6749's errors for a client that failed to
/// authenticate (401) and a bad request (400), beside tessera's own 408, 413, 429 and 503.
fn oauth_responses(success: (&str, Value)) -> Value {
    let oauth_error = |description: &str| json!({"description": description, "content": json_schema_ref("OAuthError")});
    let mut m = serde_json::Map::new();
    m.insert(success.0.into(), success.1);
    m.insert("400".into(), oauth_error("invalid_request: a missing or malformed parameter, or an unreadable body"));
    m.insert("401".into(), oauth_error("invalid_client: missing or wrong client credentials or API key"));
    for (code, v) in [too_large(), timeout()] {
        m.insert(code.into(), v);
    }
    m.insert("429".into(), error("Rate limit exceeded (per API key, or failed authentications per address)"));
    m.insert("503".into(), error("The database cannot be reached; retry later"));
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
pub(crate) fn document(
    operations: impl IntoIterator<Item = (&'static str, axum::http::Method, Value, crate::token::partners::Access)>,
    metrics: &str,
) -> Value {
    let mut paths = serde_json::Map::new();
    for (path, method, mut operation, access) in operations {
        if let Some(mut security) = security(path, &operation, metrics) {
            // A partner app's access token, with the scope the route needs.
            let scopes = match access {
                crate::token::partners::Access::ApiKeyOnly => None,
                crate::token::partners::Access::AnyScope => Some(json!([])),
                crate::token::partners::Access::Scope(scope) => Some(json!([scope])),
            };
            if let (Some(scopes), Some(list)) = (scopes, security.as_array_mut()) {
                list.push(json!({"PartnerOAuth": scopes}));
            }
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
        },
        "PartnerOAuth": {
            "type": "oauth2",
            "description": "A partner app's access token from one of the operator's trusted authorization servers (`--oauth-issuer`), as `Authorization: Bearer <token>`, acting for the tessera client its `subtotal_client_id` claim names and only while the operator allows that partner for that client. A route's requirement names the scope it needs; a token without it gets 403 insufficient_scope. The token URL is the authorization server's own (see its metadata); the one here is a placeholder.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "https://authorization-server.invalid/token",
                    "scopes": crate::token::partners::scope::ALL.iter().map(|(s, d)| (s.to_string(), json!(d))).collect::<serde_json::Map<_, _>>()
                }
            }
        },
        "HTTPBasic": {
            "type": "http", "scheme": "basic",
            "description": "OAuth client authentication on /tokens/introspect and /tokens/revoke: your client id as the user name, an API key as the password"
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
    if takes_key && path.starts_with("/tokens/") {
        return Some(json!([{"HTTPBasic": []}, {"APIKeyHeader": []}, {"HTTPBearer": []}]));
    }
    takes_key.then(|| json!([{"APIKeyHeader": []}, {"HTTPBearer": []}]))
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
    for (name, schema) in purchase_ops::schemas().into_iter().chain(link_ops::schemas()) {
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
        "Account": {
            "properties": {
                "client_id": {"type": "string", "title": "Client Id"},
                "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Name"},
                "scopes": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}], "title": "Scopes"},
                "partner": {"anyOf": [{"type": "object", "properties": {"issuer": {"type": "string"}, "client_id": {"type": "string"}}}, {"type": "null"}], "title": "Partner"}
            },
            "type": "object", "required": ["client_id", "name", "scopes", "partner"], "title": "Account"
        },
        "OAuthError": {
            "properties": {
                "error": {"type": "string", "enum": ["invalid_client", "invalid_request"], "title": "Error"},
                "error_description": {"type": "string", "title": "Error Description"},
                "detail": {"type": "string", "title": "Detail"}
            },
            "type": "object", "required": ["error", "error_description", "detail"], "title": "OAuthError"
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
