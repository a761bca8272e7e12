//! The purchases, retailers and older-generation operations, and their schemas.
use serde_json::{Value, json};

use super::{auth_headers, connection_id_param, error, json_schema_ref, not_found, params, responses};
use super::{bad_body, timeout, too_large};

fn api_key_id_header() -> Value {
    json!({
        "name": "x-api-key-id", "in": "header", "required": false,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "X-Api-Key-Id"},
        "description": "Sent by the older generation's clients; accepted and not needed"
    })
}

fn legacy_params(with_path: bool) -> Vec<Value> {
    let mut p = params(with_path);
    p.push(api_key_id_header());
    p
}

fn page_params(with_path: bool) -> Vec<Value> {
    let mut p = Vec::new();
    if with_path {
        p.push(connection_id_param());
    }
    p.push(json!({"name": "limit", "in": "query", "required": false,
        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10, "title": "Limit"},
        "description": "The maximum number of purchases to return"}));
    p.push(json!({"name": "starting_after", "in": "query", "required": false,
        "schema": {"type": "string", "title": "Starting After"},
        "description": "A purchase_id: the purchases after it, newest first (the last purchase of the previous page)"}));
    p.extend(auth_headers());
    p
}

fn token_refused() -> (&'static str, Value) {
    (
        "401",
        error(
            "Missing, unknown or revoked API key; or no live access connection token of your client for this connection",
        ),
    )
}

fn ok(schema: &str) -> (&'static str, Value) {
    ("200", json!({"description": "Successful Response", "content": json_schema_ref(schema)}))
}

fn deprecated(mut op: Value) -> Value {
    op["deprecated"] = json!(true);
    op
}

/// `GET /connections/{connection_id}/purchases`.
pub(crate) fn list_connection_purchases() -> Value {
    json!({
        "tags": ["purchases"],
        "summary": "Get Connection Purchases",
        "description": "Get purchases for a connection with X-Api-Key plus a connection access token (Authorization: Bearer <token>) for this connection. Newest first (by date, then purchase_id); has_more says whether another page follows.",
        "operationId": "get_connection_purchases",
        "parameters": page_params(true),
        "responses": responses(ok("PurchasesResponse"), &[not_found(), token_refused()])
    })
}

/// `GET /purchases`.
pub(crate) fn list_purchases() -> Value {
    deprecated(json!({
        "tags": ["purchases"],
        "summary": "Get Purchases",
        "description": "The older path: the purchases of the connection the access token (Authorization: Bearer <token>, beside X-Api-Key) was issued for, newest first.",
        "operationId": "get_purchases_purchases_get",
        "parameters": page_params(false),
        "responses": responses(ok("PurchasesResponse"), &[token_refused()])
    }))
}

/// `GET /purchases/{purchase_id}`.
pub(crate) fn get_purchase() -> Value {
    let mut parameters = vec![json!({
        "name": "purchase_id", "in": "path", "required": true,
        "schema": {"type": "string", "title": "Purchase Id"}
    })];
    parameters.extend(auth_headers());
    deprecated(json!({
        "tags": ["purchases"],
        "summary": "Get Purchase",
        "description": "The older path: one purchase of the access token's connection, with its items.",
        "operationId": "get_purchase_purchases__purchase_id__get",
        "parameters": parameters,
        "responses": responses(ok("PurchaseDetail"),
            &[token_refused(), ("404", error("No purchase with this id in the token's connection"))])
    }))
}

/// `GET /retailers`.
pub(crate) fn list_retailers() -> Value {
    json!({
        "tags": ["merchant"],
        "summary": "Get Retailers",
        "description": "Get configured retailers: the catalogue the operator manages (tessera retailer add|list|remove).",
        "operationId": "get_retailers_retailers_get",
        "parameters": auth_headers(),
        "responses": responses(ok("RetailersResponse"), &[])
    })
}

/// `GET /merchants`.
pub(crate) fn list_merchants() -> Value {
    deprecated(json!({
        "tags": ["merchant"],
        "summary": "Get Merchants",
        "description": "The older path: the retailer catalogue, each retailer as a merchant.",
        "operationId": "get_merchants_merchants_get",
        "parameters": legacy_params(false),
        "responses": responses(ok("MerchantsResponse"), &[])
    }))
}

/// `POST /connection`.
pub(crate) fn legacy_create_connection() -> Value {
    deprecated(json!({
        "tags": ["connection"],
        "summary": "Create Connection (older path)",
        "description": "The older generation of POST /connections: {merchant_id, customer_id}, answered {connection_id}.",
        "operationId": "create_connection_connection_post",
        "parameters": legacy_params(false),
        "requestBody": {"required": true, "content": json_schema_ref("CreateLegacyConnection")},
        "responses": responses(
            ("201", json!({"description": "Successful Response", "content": json_schema_ref("LegacyConnectionCreated")})),
            &[bad_body(), too_large(), timeout()])
    }))
}

/// `GET /connection/{connection_id}`.
pub(crate) fn legacy_get_connection() -> Value {
    deprecated(json!({
        "tags": ["connection"],
        "summary": "Get Connection (older path)",
        "description": "The older generation of GET /connections/{connection_id}: status is Pending Link, Active, Unauthenticated or Disconnected.",
        "operationId": "get_connection_connection__connection_id__get",
        "parameters": legacy_params(true),
        "responses": responses(ok("LegacyConnectionResponse"), &[not_found()])
    }))
}

/// `POST /connection/{connection_id}/token`.
pub(crate) fn legacy_create_token() -> Value {
    deprecated(json!({
        "tags": ["connection"],
        "summary": "Create Connection Token (older path)",
        "description": "The older generation of the token endpoint: scope link (for a Link page; it reads no data) or access.",
        "operationId": "create_connection_token_connection__connection_id__token_post",
        "parameters": legacy_params(true),
        "requestBody": {"required": true, "content": json_schema_ref("CreateLegacyTokenRequest")},
        "responses": responses(
            ("201", json!({"description": "Successful Response", "content": json_schema_ref("ConnectionTokenResponse")})),
            &[not_found(), bad_body(), too_large(), timeout(), ("409", error("The connection is disconnected"))])
    }))
}

/// `PUT /connector/connections/{connection_id}/purchases`.
pub(crate) fn upsert_purchases() -> Value {
    json!({
        "tags": ["connector"],
        "summary": "Write Connection Purchases",
        "description": "For the connector service, with a connector credential (tsc_...): write 1 to 100 purchases of a connection in one transaction. A purchase_id the connection already has is replaced; each new one is announced as a purchase.created webhook event. Money is decimal strings, kept exactly as sent.",
        "operationId": "write_connection_purchases_connector_connections__connection_id__purchases_put",
        "parameters": params(true),
        "requestBody": {"required": true, "content": json_schema_ref("PurchaseBatch")},
        "responses": responses(ok("PurchaseBatchResult"),
            &[not_found(), bad_body(), too_large(), timeout(),
              ("401", error("Missing, unknown or revoked connector credential")),
              ("409", error("The connection is disconnected, or its retailer is not in the catalogue"))])
    })
}

const DECIMAL: &str = r"^(?!^[-+.]*$)[+-]?0*\d*\.?\d*$";

fn decimal(description: &str) -> Value {
    json!({"type": "string", "pattern": DECIMAL, "maxLength": 64, "description": description, "examples": ["12.34"]})
}

fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

fn nullable_str(max: usize) -> Value {
    nullable(json!({"type": "string", "maxLength": max}))
}

/// The schemas of these operations.
pub(crate) fn schemas() -> Vec<(&'static str, Value)> {
    let summary_props = json!({
        "purchase_id": {"type": "string", "title": "Purchase Id"},
        "date": {"type": "string", "title": "Date", "description": "YYYY-MM-DD or an RFC 3339 date-time, as the connector sent it"},
        "total": decimal("The purchase's total"),
        "tax": nullable(decimal("Tax")),
        "subtotal": nullable(decimal("Subtotal")),
        "item_count": {"type": "integer", "title": "Item Count", "description": "How many items the purchase has"}
    });
    let summary_required = json!(["purchase_id", "date", "total", "tax", "subtotal", "item_count"]);
    let product = json!({
        "type": "object", "title": "Product",
        "properties": {
            "product_id": {"type": "string", "maxLength": 64}, "name": nullable_str(512),
            "description": nullable_str(4096), "brand": nullable_str(256), "upc": nullable_str(32)
        },
        "required": ["product_id"]
    });
    let item = json!({
        "type": "object", "title": "PurchaseItem",
        "properties": {
            "item_id": {"type": "string", "maxLength": 64},
            "price": decimal("The item's price"),
            "quantity": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": DECIMAL}]},
            "product": nullable(product)
        },
        "required": ["item_id", "price", "quantity"]
    });
    let mut detail_props = summary_props.clone();
    detail_props["items"] = json!({"type": "array", "items": item});
    let mut detail_required = summary_required.clone();
    if let Some(r) = detail_required.as_array_mut() {
        r.push(json!("items"));
    }
    let mut input_props = detail_props.clone();
    input_props["purchase_id"] = json!({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"});
    if let Some(props) = input_props.as_object_mut() {
        props.remove("item_count");
    }
    vec![
        (
            "PurchaseSummary",
            json!({"type": "object", "title": "PurchaseSummary", "properties": summary_props, "required": summary_required}),
        ),
        (
            "PurchaseDetail",
            json!({"type": "object", "title": "PurchaseDetail", "properties": detail_props, "required": detail_required}),
        ),
        (
            "PurchasesResponse",
            json!({
                "type": "object", "title": "PurchasesResponse",
                "properties": {
                    "has_more": {"type": "boolean"},
                    "purchases": {"type": "array", "items": {"$ref": "#/components/schemas/PurchaseSummary"}}
                },
                "required": ["has_more", "purchases"]
            }),
        ),
        (
            "PurchaseBatch",
            json!({
                "type": "object", "title": "PurchaseBatch",
                "properties": {"purchases": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
                    "type": "object", "title": "PurchaseIn", "properties": input_props,
                    "required": ["purchase_id", "date", "total"]
                }}},
                "required": ["purchases"]
            }),
        ),
        (
            "PurchaseBatchResult",
            json!({
                "type": "object", "title": "PurchaseBatchResult",
                "properties": {
                    "created": {"type": "array", "items": {"type": "string"}, "description": "The purchase ids the connection did not have"},
                    "updated": {"type": "array", "items": {"type": "string"}, "description": "The purchase ids it had, now replaced"}
                },
                "required": ["created", "updated"]
            }),
        ),
        (
            "RetailersResponse",
            json!({
                "type": "object", "title": "RetailersResponse",
                "properties": {"retailers": {"type": "array", "items": {"type": "object", "title": "ConfiguredRetailer",
                    "properties": {"retailer_id": {"type": "string"}, "name": {"type": "string"}},
                    "required": ["retailer_id", "name"]}}},
                "required": ["retailers"]
            }),
        ),
        (
            "MerchantsResponse",
            json!({
                "type": "object", "title": "MerchantsResponse",
                "properties": {"merchants": {"type": "array", "items": {"type": "object", "title": "Merchant",
                    "properties": {"merchant_id": {"type": "string"}, "name": {"type": "string"}},
                    "required": ["merchant_id", "name"]}}},
                "required": ["merchants"]
            }),
        ),
        (
            "LegacyConnectionCreated",
            json!({
                "type": "object", "title": "LegacyConnectionCreated",
                "properties": {"connection_id": {"type": "string"}}, "required": ["connection_id"]
            }),
        ),
        (
            "LegacyConnectionResponse",
            json!({
                "type": "object", "title": "LegacyConnectionResponse",
                "properties": {
                    "connection_id": {"type": "string"}, "customer_id": {"type": "string"}, "merchant_id": {"type": "string"},
                    "status": {"type": "string", "enum": ["Pending Link", "Active", "Unauthenticated", "Disconnected"]}
                },
                "required": ["connection_id", "customer_id", "merchant_id", "status"]
            }),
        ),
    ]
}
