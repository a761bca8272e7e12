//! The operations, one function each, named after their handlers.
use serde_json::{Value, json};

use super::{
    activity_params, bad_body, error, json_schema_ref, list_params, not_found, oauth_responses, params, responses,
    timeout, token_request, too_large, webhook_not_found, webhook_params,
};

/// `POST /connections`.
pub(crate) fn create_connection() -> Value {
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
pub(crate) fn list_connections() -> Value {
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
pub(crate) fn get_connection() -> Value {
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
pub(crate) fn update_connection() -> Value {
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
pub(crate) fn delete_connection() -> Value {
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
pub(crate) fn create_connection_token() -> Value {
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
pub(crate) fn activity() -> Value {
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
pub(crate) fn introspect() -> Value {
    json!({
        "tags": ["tokens"],
        "summary": "Introspect Token",
        "description": "RFC 7662: whether a connection token of your client is live, with its claims. Any other token, including another client's, is just {\"active\": false}. Authenticate as an OAuth client (your client id, and an API key as the secret: HTTP Basic or client_id and client_secret in the body) or with an API key; errors are RFC 6749's {\"error\", \"error_description\"}.",
        "operationId": "introspect_token_tokens_introspect_post",
        "parameters": params(false),
        "requestBody": {"required": true, "content": token_request()},
        "responses": oauth_responses(
            ("200", json!({"description": "Successful Response", "content": json_schema_ref("IntrospectionResponse")})))
    })
}

/// `POST /tokens/revoke`.
pub(crate) fn revoke() -> Value {
    json!({
        "tags": ["tokens"],
        "summary": "Revoke Token",
        "description": "RFC 7009 style: revoke one of your client's tokens by token or by jti. Idempotent; the answer is the same whether or not anything was revoked. Client authentication and errors as on /tokens/introspect.",
        "operationId": "revoke_token_tokens_revoke_post",
        "parameters": params(false),
        "requestBody": {"required": true, "content": token_request()},
        "responses": oauth_responses(
            ("200", json!({"description": "Successful Response", "content": {"application/json": {"schema": {"type": "object"}}}})))
    })
}

/// `GET /.well-known/jwks.json`.
pub(crate) fn jwks() -> Value {
    json!({
        "tags": ["keys"],
        "summary": "Get JWKS",
        "description": "The public keys that verify connection tokens (RFC 7517)",
        "operationId": "get_jwks_well_known_jwks_json_get",
        "responses": {"200": {"description": "Successful Response", "content": json_schema_ref("JWKS")}}
    })
}

/// `GET /.well-known/oauth-authorization-server`.
pub(crate) fn oauth_metadata() -> Value {
    json!({
        "tags": ["keys"],
        "summary": "Get OAuth Authorization Server Metadata",
        "description": "RFC 8414: the issuer (tessera's public URL), the introspection and revocation endpoints with the client authentication they accept, and the JWKS",
        "operationId": "get_oauth_metadata_well_known_oauth_authorization_server_get",
        "responses": {"200": {"description": "Successful Response", "content": {"application/json": {"schema": {"type": "object"}}}}}
    })
}

/// `GET /account`.
pub(crate) fn account() -> Value {
    json!({
        "tags": ["account"],
        "summary": "Get Account",
        "description": "The calling client, and scopes: null for an API key (unscoped), the access token's scopes for a partner app (with the partner's issuer and client id). Any valid credential; no scope needed.",
        "operationId": "get_account_account_get",
        "parameters": params(false),
        "responses": responses(
            ("200", json!({"description": "Successful Response", "content": json_schema_ref("Account")})),
            &[])
    })
}

/// `PATCH /account`.
pub(crate) fn update_account() -> Value {
    json!({
        "tags": ["account"],
        "summary": "Rename Account",
        "description": "Rename the calling client: the name customers see on Link pages and operators see in the console. API key only (not a partner app's token). Recorded in the operators' audit log with the key's id, the old and the new name.",
        "operationId": "update_account_account_patch",
        "parameters": params(false),
        "requestBody": {"required": true, "content": json_schema_ref("UpdateAccount")},
        "responses": responses(
            ("200", json!({"description": "Successful Response", "content": json_schema_ref("Account")})),
            &[bad_body(), too_large(), timeout()])
    })
}

/// `GET /healthz`.
pub(crate) fn healthz() -> Value {
    json!({
        "tags": ["health"],
        "summary": "Liveness",
        "operationId": "healthz_healthz_get",
        "responses": {"200": {"description": "The process is alive", "content": json_schema_ref("Status")}}
    })
}

/// `GET /readyz`.
pub(crate) fn readyz() -> Value {
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
pub(crate) fn metrics() -> Value {
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
pub(crate) fn openapi() -> Value {
    json!({
        "tags": ["docs"],
        "summary": "OpenAPI document",
        "operationId": "openapi_openapi_json_get",
        "responses": {"200": {"description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}}}
    })
}

/// `PUT /connector/connections/{connection_id}/status`.
pub(crate) fn report_status() -> Value {
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
pub(crate) fn connector_get_connection() -> Value {
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
pub(crate) fn create_webhook() -> Value {
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
pub(crate) fn list_webhooks() -> Value {
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
pub(crate) fn get_webhook() -> Value {
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
pub(crate) fn update_webhook() -> Value {
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
pub(crate) fn delete_webhook() -> Value {
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
pub(crate) fn rotate_webhook_secret() -> Value {
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
pub(crate) fn webhook_deliveries() -> Value {
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
pub(crate) fn redeliver() -> Value {
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
