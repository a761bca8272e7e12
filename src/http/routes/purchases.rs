//! Purchases and retailers: the connector writes a connection's purchases
//! (`PUT /connector/connections/{connection_id}/purchases`); a client reads them with its API
//! key and an `access` connection token for the connection (`GET
//! /connections/{connection_id}/purchases`, and the older `GET /purchases` and `GET
//! /purchases/{purchase_id}`, where the token names the connection). The retailer catalogue
//! is `GET /retailers` (and `GET /merchants`, as the older generation calls it).
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::domain::ids::ConnectionId;
use crate::domain::purchase::{self, Purchase};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, ConnectionPath, Connector, KeyBesideToken, connection_token};
use crate::http::json::ApiBody;
use crate::http::purchase_batch::parse_batch;
use crate::http::validation::{FieldError, Loc};
use crate::service::AppState;
use crate::service::purchases::Upserted;

const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: u32 = 50;

const MISSING_TOKEN: &str =
    "Not authenticated: send an access connection token as Authorization: Bearer <token> beside X-Api-Key";
const INVALID_TOKEN: &str = "Invalid connection token";
const PURCHASE_NOT_FOUND: &str = "Purchase not found";

/// The connection an `access` token sent beside the API key is for. No token is `401`; a
/// token that is not a live `access` token of the key's client (expired, revoked, of scope
/// `link`, another client's, for a disconnected or deleted connection) is `401` exactly as the
/// other token-gated routes answer it.
async fn token_connection(app: &AppState, caller: &Caller, headers: &HeaderMap) -> Result<ConnectionId, ApiError> {
    let token = connection_token(headers).ok_or(ApiError::Unauthorized(MISSING_TOKEN))?;
    let claims =
        app.core.tokens().live(&caller.client_id, &token).await?.ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    Ok(ConnectionId::from_string(claims.sub))
}

/// `limit` as `Query(10, ge=1, le=50)` reads it, and `starting_after`, each its last value.
fn page_params(query: Option<String>) -> Result<(u32, Option<String>), ApiError> {
    let params = crate::http::query::QueryParams::parse(query);
    let limit = params.limit("limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok((limit, params.last("starting_after")))
}

/// One page of a connection's purchases, newest first.
async fn page(
    app: &AppState,
    caller: &Caller,
    connection: &ConnectionId,
    query: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let (limit, after) = page_params(query)?;
    let unknown_cursor = |input: &str| {
        ApiError::Validation(vec![FieldError {
            kind: "value_error",
            loc: vec![Loc::from("query"), Loc::from("starting_after")],
            msg: "Value error, no purchase of this connection has this purchase_id".into(),
            input: json!(input),
            ctx: None,
        }])
    };
    // An id that cannot be a purchase id names no purchase, and is not looked up.
    if let Some(after) = after.as_deref().filter(|a| !purchase::is_purchase_id(a)) {
        return Err(unknown_cursor(after));
    }
    let mut rows = app
        .core
        .purchases()
        .page(&caller.client_id, connection, after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| unknown_cursor(after.as_deref().unwrap_or_default()))?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok(Json(json!({ "has_more": has_more, "purchases": rows })))
}

/// `GET /connections/{connection_id}/purchases`: the token must be for this very connection.
pub(crate) async fn list_connection_purchases(
    State(app): State<AppState>,
    KeyBesideToken(caller): KeyBesideToken,
    ConnectionPath(id): ConnectionPath,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    // A partner app's token (with purchases:brand_products, checked on the way in) names its
    // client, so it reads any of that client's connections; an API key needs a connection
    // token for this very connection beside it.
    if caller.partner.is_some() {
        if app.core.connections().find(&caller.client_id, &id).await?.is_none() {
            return Err(ApiError::ConnectionNotFound);
        }
    } else if token_connection(&app, &caller, &headers).await? != id {
        return Err(ApiError::Unauthorized(INVALID_TOKEN));
    }
    page(&app, &caller, &id, query).await
}

/// `GET /purchases` (older generation): the token names the connection.
pub(crate) async fn list_purchases(
    State(app): State<AppState>,
    KeyBesideToken(caller): KeyBesideToken,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id = token_connection(&app, &caller, &headers).await?;
    page(&app, &caller, &id, query).await
}

/// `GET /purchases/{purchase_id}` (older generation): one purchase of the token's connection,
/// with its items. Any other purchase, another client's included, is `404`.
pub(crate) async fn get_purchase(
    State(app): State<AppState>,
    KeyBesideToken(caller): KeyBesideToken,
    Path(purchase_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Purchase>, ApiError> {
    let id = token_connection(&app, &caller, &headers).await?;
    if !purchase::is_purchase_id(&purchase_id) {
        return Err(ApiError::NotFound(PURCHASE_NOT_FOUND));
    }
    let found = app.core.purchases().find(&caller.client_id, &id, &purchase_id).await?;
    found.map(Json).ok_or(ApiError::NotFound(PURCHASE_NOT_FOUND))
}

/// `GET /retailers`: the catalogue, `{"retailers": [{retailer_id, name}]}`.
pub(crate) async fn list_retailers(State(app): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let retailers = app.core.retailers().list().await?;
    Ok(Json(json!({ "retailers": retailers })))
}

/// `GET /merchants` (older generation): the same catalogue, `{"merchants": [{merchant_id, name}]}`.
pub(crate) async fn list_merchants(State(app): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let merchants: Vec<Value> = app
        .core
        .retailers()
        .list()
        .await?
        .into_iter()
        .map(|r| json!({"merchant_id": r.retailer_id, "name": r.name}))
        .collect();
    Ok(Json(json!({ "merchants": merchants })))
}

/// `PUT /connector/connections/{connection_id}/purchases`: `{"purchases": [...]}`, at most
/// [`MAX_BATCH`], written in one transaction. Each is created, or replaced when the connection
/// already has its `purchase_id`; only a new one is announced (`purchase.created`).
pub(crate) async fn upsert_purchases(
    State(app): State<AppState>,
    _connector: Connector,
    path: Result<ConnectionPath, ApiError>,
    ApiBody(body): ApiBody,
) -> Result<Json<Value>, ApiError> {
    let batch = parse_batch(&body)?;
    let ConnectionPath(id) = path?;
    match app.core.purchases().upsert(&id, batch, app.clock.now()).await? {
        Upserted::Written { created, replaced } => Ok(Json(json!({ "created": created, "updated": replaced }))),
        Upserted::NoConnection => Err(ApiError::ConnectionNotFound),
        Upserted::Disconnected => Err(disconnected()),
        Upserted::NotCatalogued(retailer) => Err(ApiError::Conflict(format!(
            "Retailer {retailer:?} is not in the retailer catalogue: purchases are taken only for catalogued retailers \
             (tessera retailer add)"
        ))),
    }
}

fn disconnected() -> ApiError {
    ApiError::Conflict("Connection is disconnected: a disconnected connection takes no purchases".into())
}
