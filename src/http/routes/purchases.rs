//! Purchases and retailers: the connector writes a connection's purchases
//! (`PUT /connector/connections/{connection_id}/purchases`); a client reads them with its API
//! key and an `access` connection token for the connection (`GET
//! /connections/{connection_id}/purchases`, and the older `GET /purchases` and `GET
//! /purchases/{purchase_id}`, where the token names the connection). The retailer catalogue
//! is `GET /retailers` (and `GET /merchants`, as the older generation calls it).
use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use crate::domain::connection::ConnectionStatus;
use crate::domain::ids::ConnectionId;
use crate::domain::purchase::{self, Purchase};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, ConnectionPath, Connector, connection_token};
use crate::http::json::ApiBody;
use crate::http::validation::{FieldError, Loc, RawBody, body_object};
use crate::storage::StoreError;
use crate::token::live::live_token;

/// The most purchases one connector request writes.
pub const MAX_BATCH: usize = 100;
/// The most items one purchase has.
pub const MAX_ITEMS: usize = 500;
const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: i64 = 50;

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
    let claims = live_token(&app.minter, app.store.as_ref(), caller.client_id.as_str(), &token)
        .await?
        .ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    Ok(ConnectionId::from_string(claims.sub))
}

/// `limit` as `Query(10, ge=1, le=50)` reads it, and `starting_after`, each its last value.
fn page_params(query: Option<String>) -> Result<(u32, Option<String>), ApiError> {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let last = |name: &str| params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let loc = vec![Loc::from("query"), Loc::from("limit")];
    let limit = match last("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => {
            let n: i64 = raw.trim().parse().map_err(|_| {
                ApiError::Validation(vec![FieldError {
                    kind: "int_parsing",
                    loc: loc.clone(),
                    msg: "Input should be a valid integer, unable to parse string as an integer".into(),
                    input: Value::String(raw.clone()),
                    ctx: None,
                }])
            })?;
            let bound = |kind, msg: &str, ctx| {
                ApiError::Validation(vec![FieldError {
                    kind,
                    loc: loc.clone(),
                    msg: msg.into(),
                    input: json!(raw),
                    ctx,
                }])
            };
            if n < 1 {
                return Err(bound(
                    "greater_than_equal",
                    "Input should be greater than or equal to 1",
                    Some(json!({"ge": 1})),
                ));
            }
            if n > MAX_LIMIT {
                return Err(bound(
                    "less_than_equal",
                    "Input should be less than or equal to 50",
                    Some(json!({"le": MAX_LIMIT})),
                ));
            }
            u32::try_from(n).unwrap_or(DEFAULT_LIMIT)
        }
    };
    Ok((limit, last("starting_after")))
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
        .store
        .list_purchases(&caller.client_id, connection, after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| unknown_cursor(after.as_deref().unwrap_or_default()))?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok(Json(json!({ "has_more": has_more, "purchases": rows })))
}

/// `GET /connections/{connection_id}/purchases`: the token must be for this very connection.
pub async fn list_connection_purchases(
    State(app): State<AppState>,
    caller: Caller,
    ConnectionPath(id): ConnectionPath,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    if token_connection(&app, &caller, &headers).await? != id {
        return Err(ApiError::Unauthorized(INVALID_TOKEN));
    }
    page(&app, &caller, &id, query).await
}

/// `GET /purchases` (older generation): the token names the connection.
pub async fn list_purchases(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id = token_connection(&app, &caller, &headers).await?;
    page(&app, &caller, &id, query).await
}

/// `GET /purchases/{purchase_id}` (older generation): one purchase of the token's connection,
/// with its items. Any other purchase, another client's included, is `404`.
pub async fn get_purchase(
    State(app): State<AppState>,
    caller: Caller,
    Path(purchase_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Purchase>, ApiError> {
    let id = token_connection(&app, &caller, &headers).await?;
    if !purchase::is_purchase_id(&purchase_id) {
        return Err(ApiError::NotFound(PURCHASE_NOT_FOUND));
    }
    let found = app.store.find_purchase(&caller.client_id, &id, &purchase_id).await?;
    found.map(Json).ok_or(ApiError::NotFound(PURCHASE_NOT_FOUND))
}

/// `GET /retailers`: the catalogue, `{"retailers": [{retailer_id, name}]}`.
pub async fn list_retailers(State(app): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let retailers = app.store.list_retailers().await?;
    Ok(Json(json!({ "retailers": retailers })))
}

/// `GET /merchants` (older generation): the same catalogue, `{"merchants": [{merchant_id, name}]}`.
pub async fn list_merchants(State(app): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let merchants: Vec<Value> = app
        .store
        .list_retailers()
        .await?
        .into_iter()
        .map(|r| json!({"merchant_id": r.retailer_id, "name": r.name}))
        .collect();
    Ok(Json(json!({ "merchants": merchants })))
}

/// `PUT /connector/connections/{connection_id}/purchases`: `{"purchases": [...]}`, at most
/// [`MAX_BATCH`], written in one transaction. Each is created, or replaced when the connection
/// already has its `purchase_id`; only a new one is announced (`purchase.created`).
pub async fn upsert_purchases(
    State(app): State<AppState>,
    _connector: Connector,
    path: Result<ConnectionPath, ApiError>,
    ApiBody(body): ApiBody,
) -> Result<Json<Value>, ApiError> {
    let batch = parse_batch(&body)?;
    let ConnectionPath(id) = path?;
    let connection = app.store.find_any_connection(&id).await?.ok_or(ApiError::ConnectionNotFound)?;
    if connection.status == ConnectionStatus::Disconnected {
        return Err(disconnected());
    }
    if app.store.find_retailer(&connection.retailer_id).await?.is_none() {
        return Err(ApiError::Conflict(format!(
            "Retailer {:?} is not in the retailer catalogue: purchases are taken only for catalogued retailers \
             (tessera retailer add)",
            connection.retailer_id
        )));
    }
    let batch: Vec<Purchase> = batch
        .into_iter()
        .map(|p| Purchase { connection_id: id.clone(), client_id: connection.client_id.clone(), ..p })
        .collect();
    let created = match app.store.upsert_purchases(&connection, &batch, app.clock.now()).await {
        // Deleted or disconnected since it was read: answered as a fresh request would be.
        Err(StoreError::NotFound) => {
            return Err(match app.store.find_any_connection(&id).await? {
                None => ApiError::ConnectionNotFound,
                Some(_) => disconnected(),
            });
        }
        other => other?,
    };
    let (mut new, mut replaced) = (Vec::new(), Vec::new());
    for (p, was_new) in batch.iter().zip(created) {
        if was_new { new.push(&p.purchase_id) } else { replaced.push(&p.purchase_id) }
    }
    Ok(Json(json!({ "created": new, "updated": replaced })))
}

fn disconnected() -> ApiError {
    ApiError::Conflict("Connection is disconnected: a disconnected connection takes no purchases".into())
}

/// Collects every failure of a purchase batch, each at its place in the body.
struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    fn fail(&mut self, loc: &[Loc], kind: &'static str, msg: impl Into<String>, input: &Value) {
        let mut full = vec![Loc::from("body")];
        full.extend_from_slice(loc);
        self.errors.push(FieldError { kind, loc: full, msg: msg.into(), input: input.clone(), ctx: None });
    }

    fn object<'a>(&mut self, loc: &[Loc], v: &'a Value) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            _ => {
                self.fail(loc, "dict_type", "Input should be a valid dictionary", v);
                None
            }
        }
    }

    fn at(loc: &[Loc], name: &str) -> Vec<Loc> {
        let mut l = loc.to_vec();
        l.push(Loc::from(name));
        l
    }

    /// A string field of at most `max` characters; `nullable` accepts it absent or `null`.
    fn string(
        &mut self,
        obj: &Map<String, Value>,
        loc: &[Loc],
        name: &str,
        max: usize,
        nullable: bool,
    ) -> Option<String> {
        let here = Self::at(loc, name);
        match obj.get(name) {
            None | Some(Value::Null) if nullable => None,
            None => {
                self.fail(&here, "missing", "Field required", &Value::Object(obj.clone()));
                None
            }
            Some(Value::String(s)) if s.chars().count() <= max => Some(s.clone()),
            Some(v @ Value::String(_)) => {
                self.fail(&here, "string_too_long", format!("String should have at most {max} characters"), v);
                None
            }
            Some(v) => {
                self.fail(&here, "string_type", "Input should be a valid string", v);
                None
            }
        }
    }

    /// A decimal string matching Subtotal's pattern (a JSON number is refused: it could
    /// have been rounded on its way here).
    fn decimal(&mut self, obj: &Map<String, Value>, loc: &[Loc], name: &str, nullable: bool) -> Option<String> {
        let s = self.string(obj, loc, name, purchase::MAX_DECIMAL_LEN, nullable)?;
        if purchase::is_decimal(&s) {
            return Some(s);
        }
        self.fail(
            &Self::at(loc, name),
            "string_pattern_mismatch",
            "String should match pattern '^(?!^[-+.]*$)[+-]?0*\\d*\\.?\\d*$' (a decimal such as \"12.34\")",
            &json!(s),
        );
        None
    }

    fn item(&mut self, loc: &[Loc], v: &Value) -> Option<Value> {
        let obj = self.object(loc, v)?;
        let item_id = self.string(obj, loc, "item_id", 64, false);
        let price = self.decimal(obj, loc, "price", false);
        let quantity = match obj.get("quantity") {
            None => {
                self.fail(&Self::at(loc, "quantity"), "missing", "Field required", v);
                None
            }
            // A whole number as sent, or a decimal string (a weight, say).
            Some(q @ Value::Number(n)) if n.as_u64().is_some() => Some(q.clone()),
            Some(Value::String(s)) if purchase::is_decimal(s) => Some(json!(s)),
            Some(q) => {
                self.fail(
                    &Self::at(loc, "quantity"),
                    "value_error",
                    "Value error, quantity is a non-negative whole number or a decimal string",
                    q,
                );
                None
            }
        };
        let product_loc = Self::at(loc, "product");
        let product = match obj.get("product") {
            None | Some(Value::Null) => Some(Value::Null),
            Some(p) => {
                let p = self.object(&product_loc, p)?;
                let product_id = self.string(p, &product_loc, "product_id", 64, false);
                let name = self.string(p, &product_loc, "name", 512, true);
                let description = self.string(p, &product_loc, "description", 4096, true);
                let brand = self.string(p, &product_loc, "brand", 256, true);
                let upc = self.string(p, &product_loc, "upc", 32, true);
                product_id.map(|product_id| {
                    json!({"product_id": product_id, "name": name, "description": description, "brand": brand, "upc": upc})
                })
            }
        };
        Some(json!({"item_id": item_id?, "price": price?, "quantity": quantity?, "product": product?}))
    }

    fn purchase(&mut self, loc: &[Loc], v: &Value) -> Option<Purchase> {
        let obj = self.object(loc, v)?;
        let purchase_id = self.string(obj, loc, "purchase_id", 64, false).and_then(|id| {
            if purchase::is_purchase_id(&id) {
                return Some(id);
            }
            self.fail(
                &Self::at(loc, "purchase_id"),
                "string_pattern_mismatch",
                "String should match pattern '^[A-Za-z0-9_.-]{1,64}$'",
                &json!(id),
            );
            None
        });
        let date = self.string(obj, loc, "date", 40, false);
        let date_key = date.as_deref().and_then(|d| {
            let key = purchase::parse_date(d);
            if key.is_none() {
                self.fail(
                    &Self::at(loc, "date"),
                    "datetime_from_date_parsing",
                    "Input should be a date (YYYY-MM-DD) or an RFC 3339 date-time with a time zone",
                    &json!(d),
                );
            }
            key
        });
        let total = self.decimal(obj, loc, "total", false);
        let tax = self.decimal(obj, loc, "tax", true);
        let subtotal = self.decimal(obj, loc, "subtotal", true);
        let items_loc = Self::at(loc, "items");
        let items = match obj.get("items") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(Value::Array(items)) if items.len() <= MAX_ITEMS => {
                let checked: Vec<Option<Value>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let mut l = items_loc.clone();
                        l.push(Loc::Index(i));
                        self.item(&l, item)
                    })
                    .collect();
                checked.into_iter().collect()
            }
            Some(v @ Value::Array(_)) => {
                self.fail(&items_loc, "too_long", format!("List should have at most {MAX_ITEMS} items"), v);
                None
            }
            Some(v) => {
                self.fail(&items_loc, "list_type", "Input should be a valid list", v);
                None
            }
        };
        // Checked for errors before any value is used: a failure above leaves a None.
        let items = items?;
        Some(Purchase {
            purchase_id: purchase_id?,
            connection_id: ConnectionId::from_string(""),
            client_id: crate::domain::ids::ClientId::from_string(""),
            date: date?,
            date_key: date_key?,
            total: total?,
            tax,
            subtotal,
            item_count: i64::try_from(items.len()).unwrap_or(i64::MAX),
            items: Value::Array(items),
        })
    }
}

/// A connector's batch, validated whole: every failure is reported, each at its place.
fn parse_batch(body: &RawBody) -> Result<Vec<Purchase>, ApiError> {
    let obj = body_object(body)?;
    let mut check = Check { errors: Vec::new() };
    let loc = [Loc::from("purchases")];
    let list = match obj.get("purchases") {
        None => {
            check.fail(&loc, "missing", "Field required", &Value::Object(obj.clone()));
            return Err(ApiError::Validation(check.errors));
        }
        Some(Value::Array(list)) if (1..=MAX_BATCH).contains(&list.len()) => list,
        Some(v @ Value::Array(_)) => {
            check.fail(&loc, "value_error", format!("Value error, send 1 to {MAX_BATCH} purchases per request"), v);
            return Err(ApiError::Validation(check.errors));
        }
        Some(v) => {
            check.fail(&loc, "list_type", "Input should be a valid list", v);
            return Err(ApiError::Validation(check.errors));
        }
    };
    let mut seen = HashSet::new();
    let mut batch = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let here = [Loc::from("purchases"), Loc::Index(i)];
        let repeated = v.get("purchase_id").and_then(Value::as_str).is_some_and(|id| !seen.insert(id));
        if let Some(p) = check.purchase(&here, v) {
            batch.push(p);
        }
        if repeated {
            check.fail(
                &[Loc::from("purchases"), Loc::Index(i), Loc::from("purchase_id")],
                "value_error",
                "Value error, this purchase_id is already in the batch",
                &v["purchase_id"],
            );
        }
    }
    if check.errors.is_empty() { Ok(batch) } else { Err(ApiError::Validation(check.errors)) }
}
