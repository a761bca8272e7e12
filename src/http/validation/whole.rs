//! Whole numbers read as Pydantic's lax integer reads them, for the validator's integer fields.
use serde_json::Value;

/// A whole number as read: one that fits, or only the sign of one that does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Whole {
    Small(i64),
    Huge { negative: bool },
}

impl Whole {
    pub(super) fn below(self, min: i64) -> bool {
        match self {
            Whole::Small(n) => n < min,
            Whole::Huge { negative } => negative,
        }
    }

    pub(super) fn above(self, max: i64) -> bool {
        match self {
            Whole::Small(n) => n > max,
            Whole::Huge { negative } => !negative,
        }
    }
}

/// Reads a JSON value as Pydantic's lax integer does: a JSON integer of any size; a number
/// with no fractional part (`30.0`, `1E2`); `true`/`false` as 1/0; a string of digits, with
/// surrounding whitespace, a sign, single `_` between digits and a `.0...` tail allowed.
/// The error is Pydantic's error type.
pub(super) fn whole_number(v: &Value) -> Result<Whole, &'static str> {
    match v {
        Value::Bool(b) => Ok(Whole::Small(i64::from(*b))),
        Value::Number(n) => {
            let text = n.to_string();
            if let Some(whole) = integer_text(&text) {
                return Ok(whole);
            }
            let f: f64 = text.parse().map_err(|_| "int_type")?;
            if !f.is_finite() {
                return Err("finite_number");
            }
            if f.fract() != 0.0 {
                return Err("int_from_float");
            }
            Ok(if f.abs() < 9.0e18 {
                #[allow(clippy::cast_possible_truncation)]
                Whole::Small(f as i64)
            } else {
                Whole::Huge { negative: f < 0.0 }
            })
        }
        Value::String(s) => {
            let t = s.trim_matches(|c: char| c.is_whitespace());
            let int_part = match t.split_once('.') {
                Some((i, f)) if !f.is_empty() && f.bytes().all(|b| b == b'0') => i,
                Some(_) => return Err("int_parsing"),
                None => t,
            };
            let (negative, digits) = match int_part.as_bytes().first() {
                Some(b'-') => (true, &int_part[1..]),
                Some(b'+') => (false, &int_part[1..]),
                _ => (false, int_part),
            };
            let ok = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
                && !digits.starts_with('_')
                && !digits.ends_with('_')
                && !digits.contains("__");
            if !ok {
                return Err("int_parsing");
            }
            let clean: String = digits.chars().filter(|c| *c != '_').collect();
            let signed = if negative { format!("-{clean}") } else { clean };
            integer_text(&signed).ok_or("int_parsing")
        }
        _ => Err("int_type"),
    }
}

/// A JSON integer's text (`-12`, `0030`) as a [`Whole`]; `None` when it is not one.
fn integer_text(text: &str) -> Option<Whole> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match text.parse::<i64>() {
        Ok(n) => Whole::Small(n),
        Err(_) => Whole::Huge { negative: negative && digits.bytes().any(|b| b != b'0') },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn integers_read_as_pydantic_reads_them() {
        for (v, want) in [
            (json!(30), Ok(Whole::Small(30))),
            (json!("30"), Ok(Whole::Small(30))),
            (json!(" +1_0.0 "), Ok(Whole::Small(10))),
            (json!("30.000"), Ok(Whole::Small(30))),
            (json!(30.0), Ok(Whole::Small(30))),
            (json!(true), Ok(Whole::Small(1))),
            (json!("-0"), Ok(Whole::Small(0))),
            (json!(30.5), Err("int_from_float")),
            (json!("30."), Err("int_parsing")),
            (json!("3__0"), Err("int_parsing")),
            (json!("1e2"), Err("int_parsing")),
            (json!(null), Err("int_type")),
            (json!([]), Err("int_type")),
        ] {
            assert_eq!(whole_number(&v), want, "{v}");
        }
        let huge: Value = serde_json::from_str("1000000000000000000000000000000").expect("json");
        assert_eq!(whole_number(&huge), Ok(Whole::Huge { negative: false }));
        let big_float: Value = serde_json::from_str("1E2").expect("json");
        assert_eq!(whole_number(&big_float), Ok(Whole::Small(100)));
    }
}
