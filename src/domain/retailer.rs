//! The retailer catalogue: the retailers the operator's connector supports.
use serde::Serialize;

/// One catalogued retailer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Retailer {
    pub retailer_id: String,
    pub name: String,
    #[serde(skip)]
    pub created_at: i64,
}

/// A retailer id: 1 to 26 of `a-z A-Z 0-9 _ -` (the length `retailer_id` allows).
pub fn is_retailer_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 26 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}
