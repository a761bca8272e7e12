//! Newtype identifiers, so a client id can never be passed where a connection id belongs.
use std::fmt;
use std::sync::Mutex;

/// ULIDs from one monotonic generator: within a millisecond, each is the previous plus one.
/// Their time is [`super::time::id_time`], which a stepped system clock does not move.
fn next_ulid() -> ulid::Ulid {
    static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    // The random part overflows only after 2^80 ids in one millisecond; fall back to a fresh one.
    generator
        .generate_from_datetime(super::time::id_time())
        .unwrap_or_else(|_| ulid::Ulid::from_datetime(super::time::id_time()))
}

/// A fresh ULID as text, from the same monotonic generator as the ids: for rows that need an
/// order of creation finer than their timestamps.
pub fn ordered_id() -> String {
    next_ulid().to_string()
}

/// The characters of a generated id.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh identifier: a 26-character Crockford ULID, increasing within this
            /// process, so ordering by id is ordering by creation here.
            pub fn generate() -> Self {
                Self(next_ulid().to_string())
            }

            /// Wraps a stored or user-supplied identifier; no format is imposed, since an
            /// unknown id must simply not be found.
            pub fn from_string(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether this could be an id tessera made: 26 characters of Crockford's
            /// base32, as generated. Anything else names nothing, and need not be looked up.
            pub fn is_well_formed(&self) -> bool {
                self.0.len() == 26 && self.0.bytes().all(|b| CROCKFORD.contains(&b))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ulid_id!(
    /// A connection: one customer's linked retailer account.
    ConnectionId
);
ulid_id!(
    /// A client: a tenant of the service, owner of API keys and connections.
    ClientId
);
ulid_id!(
    /// An API key's public identifier (the secret part is never an id).
    ApiKeyId
);
ulid_id!(
    /// A token's unique id (`jti`).
    TokenId
);
ulid_id!(
    /// A signing key's id (`kid` in JWS headers and the JWKS).
    Kid
);
ulid_id!(
    /// A connector credential's public identifier.
    ConnectorId
);
ulid_id!(
    /// A webhook endpoint of a client.
    WebhookId
);
ulid_id!(
    /// A webhook event: the same across every retry and redelivery of it.
    EventId
);
ulid_id!(
    /// An operator: a person who runs tessera, signed in to the console.
    OperatorId
);
ulid_id!(
    /// A Link session: one customer's pass through the hosted Link flow.
    LinkSessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_generated_shapes_are_well_formed() {
        assert!(ConnectionId::generate().is_well_formed());
        let ok = ConnectionId::generate().to_string();
        assert!(!ConnectionId::from_string(ok.to_lowercase()).is_well_formed());
        for bad in ["", "conn_123", "\0", "01J\u{0}AAAAAAAAAAAAAAAAAAAAAA", &format!("{ok}0"), &ok[1..]] {
            assert!(!ConnectionId::from_string(bad).is_well_formed(), "{bad:?}");
        }
        let with_u = format!("U{}", &ok[1..]);
        assert!(!ConnectionId::from_string(with_u).is_well_formed());
    }
}
