//! Query strings as FastAPI reads them: a parameter given twice counts by its last value, and
//! a bounded integer (`Query(20, ge=1, le=100)`) is refused with FastAPI's own errors.
use serde_json::{Value, json};

use crate::http::error::ApiError;
use crate::http::validation::{FieldError, Loc};

/// A query string's parameters, decoded.
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub(crate) fn parse(query: Option<String>) -> Self {
        Self(url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect())
    }

    /// The last value given for `name`.
    pub(crate) fn last(&self, name: &str) -> Option<String> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// The parameter `name` as `Query(default, ge=1, le=max)` reads it.
    pub(crate) fn limit(&self, name: &'static str, default: u32, max: u32) -> Result<u32, ApiError> {
        let Some(raw) = self.last(name) else { return Ok(default) };
        let loc = vec![Loc::from("query"), Loc::from(name)];
        let n: i64 = raw.trim().parse().map_err(|_| {
            ApiError::Validation(vec![FieldError {
                kind: "int_parsing",
                loc: loc.clone(),
                msg: "Input should be a valid integer, unable to parse string as an integer".into(),
                input: Value::String(raw.clone()),
                ctx: None,
            }])
        })?;
        let bound = |kind, msg: String, ctx| {
            ApiError::Validation(vec![FieldError { kind, loc: loc.clone(), msg, input: json!(raw), ctx }])
        };
        if n < 1 {
            return Err(bound(
                "greater_than_equal",
                "Input should be greater than or equal to 1".into(),
                Some(json!({"ge": 1})),
            ));
        }
        if n > i64::from(max) {
            return Err(bound(
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
                Some(json!({"le": max})),
            ));
        }
        // Within 1..=max, checked above.
        Ok(u32::try_from(n).unwrap_or(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(q: &str) -> Result<u32, String> {
        QueryParams::parse(Some(q.to_owned())).limit("limit", 20, 100).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn a_limit_reads_as_fastapi_reads_it() {
        assert_eq!(limit(""), Ok(20));
        assert_eq!(limit("limit=5&limit=7"), Ok(7), "the last value counts");
        assert_eq!(limit("limit=%2042"), Ok(42));
        assert!(limit("limit=x").expect_err("refused").contains("int_parsing"));
        assert!(limit("limit=0").expect_err("refused").contains("greater_than_equal"));
        let over = limit("limit=101").expect_err("refused");
        assert!(over.contains("less_than_equal") && over.contains("less than or equal to 100"), "{over}");
    }
}
