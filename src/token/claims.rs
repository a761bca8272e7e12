//! The claims of a connection token.
use serde::{Deserialize, Serialize};

/// The scope of a token that reads a connection's data.
pub const SCOPE_ACCESS: &str = "access";
/// The scope of a token for a Link page (the older API generation's `scope: "link"`): it
/// unlocks no data route.
pub const SCOPE_LINK: &str = "link";

/// A connection token's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The connection id.
    pub sub: String,
    pub client_id: String,
    pub customer_id: String,
    pub scope: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

#[cfg(test)]
impl Claims {
    /// A fixed set of claims for unit tests.
    pub(crate) fn example() -> Self {
        Claims {
            iss: "tessera".into(),
            aud: "subtotal".into(),
            sub: "conn".into(),
            client_id: "client".into(),
            customer_id: "cust".into(),
            scope: SCOPE_ACCESS.into(),
            iat: 1_000,
            nbf: 1_000,
            exp: 1_900,
            jti: "jti".into(),
        }
    }
}
