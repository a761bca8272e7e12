//! A connector's purchase batch, read into [`Purchase`]s: every failure is reported at once,
//! each at its place in the body, with Pydantic's shapes.
use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::validation::{FieldError, Loc, RawBody, body_object};
use crate::domain::ids::{ClientId, ConnectionId};
use crate::domain::purchase::{self, Purchase};

/// The most purchases one connector request writes.
pub const MAX_BATCH: usize = 100;
/// The most items one purchase has.
pub const MAX_ITEMS: usize = 500;

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
            // "." and ".." match the pattern; they are refused because, in a path, they name
            // a folder rather than a purchase, and the message must say that.
            let (kind, msg) = if id == "." || id == ".." {
                (
                    "value_error",
                    "Value error, a purchase id cannot be \".\" or \"..\": in a URL path they name a folder",
                )
            } else {
                ("string_pattern_mismatch", "String should match pattern '^[A-Za-z0-9_.-]{1,64}$'")
            };
            self.fail(&Self::at(loc, "purchase_id"), kind, msg, &json!(id));
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
            client_id: ClientId::from_string(""),
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
pub fn parse_batch(body: &RawBody) -> Result<Vec<Purchase>, ApiError> {
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
