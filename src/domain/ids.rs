//! Newtype identifiers, so a client id can never be passed where a connection id belongs.
use std::fmt;
use std::sync::Mutex;

/// ULIDs from one monotonic generator: within a millisecond, each is the previous plus one.
fn next_ulid() -> ulid::Ulid {
    static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    // The random part overflows only after 2^80 ids in one millisecond; fall back to a fresh one.
    generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
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
