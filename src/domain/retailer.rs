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

crate::domain::name::bounded_name!(
    /// A retailer's name, as the catalogue shows it.
    RetailerName,
    "retailer",
    128
);

#[cfg(test)]
mod tests {
    use super::RetailerName;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(RetailerName::parse("  Walmart ").map(RetailerName::into_inner), Ok("Walmart".to_owned()));
        assert!(RetailerName::parse("   ").is_err());
        assert!(RetailerName::parse(&"é".repeat(128)).is_ok(), "characters, not bytes");
        let too_long = RetailerName::parse(&"x".repeat(129)).expect_err("129 characters");
        assert_eq!(too_long, "a retailer needs a name of 1 to 128 characters");
    }
}
