//! Operators (the people who run tessera, signed in to the console), their sessions, and the
//! record of what they did there.
use std::fmt;

use super::connection::ConnectionStatus;
use super::ids::OperatorId;

/// An operator account. Not a client: it manages every client.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Operator {
    pub id: OperatorId,
    pub name: String,
    /// An argon2id hash in PHC form; `None` for an operator who signs in by link only.
    pub password_hash: Option<String>,
    pub created_at: i64,
}

impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operator")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "<redacted>"))
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A live console session: its operator and when it began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub operator: Operator,
    pub created_at: i64,
}

/// One audited action: who did what to what, when (an operator's name, or for a rename made
/// elsewhere `api key ID` or `command line`).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    /// Increasing with time (a ULID), for paging.
    pub id: String,
    pub operator: String,
    pub action: String,
    pub target: String,
    pub at: i64,
}

/// Which connections a console search asks for; every filter is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionSearch {
    /// Exactly this customer id.
    pub customer_id: Option<String>,
    pub status: Option<ConnectionStatus>,
}

/// The console overview's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub clients: i64,
    /// API keys not revoked.
    pub live_keys: i64,
    /// Connections by status, every status listed.
    pub connections: Vec<(ConnectionStatus, i64)>,
}
