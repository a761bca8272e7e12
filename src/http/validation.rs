//! Request validation with the reference stack's error shapes (FastAPI + Pydantic v2): each
//! failure is `{type, loc, msg, input, ctx?}`, all failures of a body are reported together,
//! in field order, and extra fields are ignored.
use super::models::{Field, Kind};
use serde::Serialize;
use serde_json::{Map, Value, json};
use whole::{Whole, whole_number};

mod whole;

/// One element of an error's location: a field name or a character position.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Loc {
    Key(String),
    Index(usize),
}

impl From<&str> for Loc {
    fn from(s: &str) -> Self {
        Loc::Key(s.to_owned())
    }
}

/// One validation failure, serialized in FastAPI's `ValidationError` shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<Loc>,
    pub msg: String,
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl FieldError {
    pub fn missing(loc: Vec<Loc>, input: Value) -> Self {
        FieldError { kind: "missing", loc, msg: "Field required".into(), input, ctx: None }
    }

    pub fn json_invalid(pos: usize, error: &str) -> Self {
        FieldError {
            kind: "json_invalid",
            loc: vec!["body".into(), Loc::Index(pos)],
            msg: "JSON decode error".into(),
            input: json!({}),
            ctx: Some(json!({ "error": error })),
        }
    }
}

/// A request body as the validator sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum RawBody {
    /// No bytes at all.
    Missing,
    /// A body sent as JSON and parsed.
    Json(Value),
    /// A body sent with a non-JSON content type: validated as an opaque string.
    Text(String),
}

/// Checks that a body is a JSON object and returns it, as Pydantic does for a model.
pub fn body_object(body: &RawBody) -> Result<&Map<String, Value>, Vec<FieldError>> {
    let input = match body {
        RawBody::Missing => {
            return Err(vec![FieldError::missing(vec!["body".into()], Value::Null)]);
        }
        RawBody::Json(Value::Object(map)) => return Ok(map),
        RawBody::Json(other) => other.clone(),
        RawBody::Text(s) => Value::String(s.clone()),
    };
    Err(vec![FieldError {
        kind: "model_attributes_type",
        loc: vec!["body".into()],
        msg: "Input should be a valid dictionary or object to extract fields from".into(),
        input,
        ctx: None,
    }])
}

/// Validates the fields of one body object, collecting every failure.
/// A literal field's values (none for a string field, which nothing then equals).
fn literals(field: &Field) -> &'static [&'static str] {
    match field.kind {
        Kind::Literal(values) | Kind::LiteralList(values) => values,
        Kind::Str { .. } | Kind::Bool | Kind::Int { .. } => &[],
    }
}

/// A use case's refusal of a body field's value, in FastAPI's shape (`value_error`).
pub fn value_error(field: &str, input: &str, why: impl std::fmt::Display) -> FieldError {
    FieldError {
        kind: "value_error",
        loc: vec![Loc::from("body"), Loc::from(field)],
        msg: format!("Value error, {why}"),
        input: Value::String(input.to_owned()),
        ctx: Some(json!({"error": why.to_string()})),
    }
}

/// Reads a request model's fields from a JSON object, collecting every failure.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Self { obj, errors: Vec::new() }
    }

    fn loc(name: &str) -> Vec<Loc> {
        vec!["body".into(), name.into()]
    }

    /// A required string field. On failure the returned value is
    /// empty and [`Fields::finish`] reports the error.
    pub fn required_str(&mut self, field: &Field) -> String {
        let (name, max_len) = (field.name, field.max_len());
        match self.obj.get(name) {
            None => {
                self.errors.push(FieldError::missing(Self::loc(name), Value::Object(self.obj.clone())));
                String::new()
            }
            Some(v) => self.string(name, v, max_len).and_then(|s| self.at_least(field, v, s)).unwrap_or_default(),
        }
    }

    /// `s` when it is as long as the field's least length; else the error is noted.
    fn at_least(&mut self, field: &Field, v: &Value, s: String) -> Option<String> {
        let Kind::Str { min, .. } = field.kind else { return Some(s) };
        if s.chars().count() >= min {
            return Some(s);
        }
        let unit = if min == 1 { "character" } else { "characters" };
        self.errors.push(FieldError {
            kind: "string_too_short",
            loc: Self::loc(field.name),
            msg: format!("String should have at least {min} {unit}"),
            input: v.clone(),
            ctx: Some(json!({ "min_length": min })),
        });
        None
    }

    /// An optional whole number with bounds, read as Pydantic reads one; `None` when absent
    /// (the caller's default applies) or invalid (noted). `null` is invalid: the field has a
    /// default, not a null.
    pub fn optional_int(&mut self, field: &Field) -> Option<i64> {
        let Kind::Int { min, max } = field.kind else { return None };
        let v = self.obj.get(field.name)?;
        let fail = |kind: &'static str, msg: String, ctx: Option<Value>| FieldError {
            kind,
            loc: Self::loc(field.name),
            msg,
            input: v.clone(),
            ctx,
        };
        let read = match whole_number(v) {
            Ok(n) => n,
            Err(kind) => {
                let msg = match kind {
                    "int_parsing" => "Input should be a valid integer, unable to parse string as an integer",
                    "int_from_float" => "Input should be a valid integer, got a number with a fractional part",
                    "finite_number" => "Input should be a finite number",
                    _ => "Input should be a valid integer",
                };
                self.errors.push(fail(kind, msg.into(), None));
                return None;
            }
        };
        if read.below(min) {
            self.errors.push(fail(
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
                Some(json!({ "ge": min })),
            ));
            return None;
        }
        if read.above(max) {
            self.errors.push(fail(
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
                Some(json!({ "le": max })),
            ));
            return None;
        }
        match read {
            Whole::Small(n) => Some(n),
            Whole::Huge { .. } => None,
        }
    }

    /// An optional, nullable string field. `None`: absent; `Some(None)`: explicitly null.
    pub fn optional_str(&mut self, field: &Field) -> Option<Option<String>> {
        let (name, max_len) = (field.name, field.max_len());
        match self.obj.get(name)? {
            Value::Null => Some(None),
            v => self.string(name, v, max_len).map(Some),
        }
    }

    /// A required field that must equal one of its literals.
    pub fn required_literal(&mut self, field: &Field) -> Option<&'static str> {
        let (name, allowed) = (field.name, literals(field));
        match self.obj.get(name) {
            None => {
                self.errors.push(FieldError::missing(Self::loc(name), Value::Object(self.obj.clone())));
                None
            }
            Some(v) => self.literal(name, v, allowed),
        }
    }

    /// An optional, nullable literal. `None`: absent or null.
    pub fn optional_literal(&mut self, field: &Field) -> Option<&'static str> {
        let (name, allowed) = (field.name, literals(field));
        match self.obj.get(name)? {
            Value::Null => None,
            v => self.literal(name, v, allowed),
        }
    }

    /// An optional boolean, read as Pydantic reads one.
    pub fn optional_bool(&mut self, field: &Field) -> Option<bool> {
        let v = self.obj.get(field.name)?;
        let read = match v {
            Value::Bool(b) => Some(*b),
            Value::Number(n) if n.as_i64() == Some(0) => Some(false),
            Value::Number(n) if n.as_i64() == Some(1) => Some(true),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
                "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
                _ => None,
            },
            _ => None,
        };
        if read.is_none() {
            let (kind, msg) = if v.is_string() {
                ("bool_parsing", "Input should be a valid boolean, unable to interpret input")
            } else {
                ("bool_type", "Input should be a valid boolean")
            };
            self.errors.push(FieldError {
                kind,
                loc: Self::loc(field.name),
                msg: msg.into(),
                input: v.clone(),
                ctx: None,
            });
        }
        read
    }

    /// A required non-empty list whose items are each one of the field's literals.
    pub fn required_literal_list(&mut self, field: &Field) -> Vec<&'static str> {
        match self.obj.get(field.name) {
            None => {
                self.errors.push(FieldError::missing(Self::loc(field.name), Value::Object(self.obj.clone())));
                Vec::new()
            }
            Some(v) => self.literal_list(field, v),
        }
    }

    /// An optional list of literals: `None` when absent.
    pub fn optional_literal_list(&mut self, field: &Field) -> Option<Vec<&'static str>> {
        let v = self.obj.get(field.name)?;
        Some(self.literal_list(field, v))
    }

    fn literal_list(&mut self, field: &Field, v: &Value) -> Vec<&'static str> {
        let Value::Array(items) = v else {
            self.errors.push(FieldError {
                kind: "list_type",
                loc: Self::loc(field.name),
                msg: "Input should be a valid list".into(),
                input: v.clone(),
                ctx: None,
            });
            return Vec::new();
        };
        if items.is_empty() {
            self.errors.push(FieldError {
                kind: "too_short",
                loc: Self::loc(field.name),
                msg: "List should have at least 1 item after validation, not 0".into(),
                input: v.clone(),
                ctx: Some(json!({"field_type": "List", "min_length": 1, "actual_length": 0})),
            });
            return Vec::new();
        }
        let allowed = literals(field);
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str().and_then(|s| allowed.iter().find(|a| **a == s)) {
                Some(hit) => out.push(*hit),
                None => {
                    let expected = expected_list(allowed);
                    self.errors.push(FieldError {
                        kind: "literal_error",
                        loc: vec!["body".into(), field.name.into(), Loc::Index(i)],
                        msg: format!("Input should be {expected}"),
                        input: item.clone(),
                        ctx: Some(json!({ "expected": expected })),
                    });
                }
            }
        }
        out
    }

    /// The values read, or every failure found.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() { Ok(value) } else { Err(self.errors) }
    }

    fn string(&mut self, name: &str, v: &Value, max_len: usize) -> Option<String> {
        let Value::String(s) = v else {
            self.errors.push(FieldError {
                kind: "string_type",
                loc: Self::loc(name),
                msg: "Input should be a valid string".into(),
                input: v.clone(),
                ctx: None,
            });
            return None;
        };
        if s.chars().count() > max_len {
            let unit = if max_len == 1 { "character" } else { "characters" };
            self.errors.push(FieldError {
                kind: "string_too_long",
                loc: Self::loc(name),
                msg: format!("String should have at most {max_len} {unit}"),
                input: v.clone(),
                ctx: Some(json!({ "max_length": max_len })),
            });
            return None;
        }
        Some(s.clone())
    }

    fn literal(&mut self, name: &str, v: &Value, allowed: &[&'static str]) -> Option<&'static str> {
        if let Value::String(s) = v
            && let Some(hit) = allowed.iter().find(|a| **a == s)
        {
            return Some(hit);
        }
        let expected = expected_list(allowed);
        self.errors.push(FieldError {
            kind: "literal_error",
            loc: Self::loc(name),
            msg: format!("Input should be {expected}"),
            input: v.clone(),
            ctx: Some(json!({ "expected": expected })),
        });
        None
    }
}

/// Pydantic's wording: `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`.
fn expected_list(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::models::create_connection;

    #[test]
    fn literal_wording() {
        assert_eq!(expected_list(&["access"]), "'access'");
        assert_eq!(expected_list(&["a", "b", "c"]), "'a', 'b' or 'c'");
    }

    #[test]
    fn collects_all_errors_in_field_order() {
        let body = RawBody::Json(json!({"customer_id": 5, "email": "x".repeat(65)}));
        let obj = body_object(&body).expect("object");
        let mut f = Fields::new(obj);
        f.required_str(&create_connection::CUSTOMER_ID);
        f.required_str(&create_connection::RETAILER_ID);
        f.optional_str(&create_connection::EMAIL);
        let errors = f.finish(()).expect_err("invalid");
        let kinds: Vec<_> = errors.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["string_type", "missing", "string_too_long"]);
        assert_eq!(errors[2].ctx, Some(json!({"max_length": 64})));
    }
}
