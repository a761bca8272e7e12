//! Connections and their lifecycle statuses.
use std::fmt;
use std::str::FromStr;

use super::ids::{ClientId, ConnectionId};

/// Where a connection is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionStatus {
    Active,
    Initialized,
    Unauthenticated,
    Disconnected,
}

impl ConnectionStatus {
    pub const ALL: [ConnectionStatus; 4] = [
        ConnectionStatus::Active,
        ConnectionStatus::Initialized,
        ConnectionStatus::Unauthenticated,
        ConnectionStatus::Disconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::Initialized => "initialized",
            ConnectionStatus::Unauthenticated => "unauthenticated",
            ConnectionStatus::Disconnected => "disconnected",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectionStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| format!("unknown connection status {s:?}"))
    }
}

impl ConnectionStatus {
    /// Whether the lifecycle allows a connection in this status to move to `to`:
    /// `initialized -> active`, `active <-> unauthenticated`, anything -> `disconnected`;
    /// `disconnected` is final (a client creates a new connection).
    pub fn can_move_to(self, to: ConnectionStatus) -> bool {
        use ConnectionStatus::*;
        matches!(
            (self, to),
            (Initialized, Active)
                | (Active, Unauthenticated)
                | (Unauthenticated, Active)
                | (Initialized | Active | Unauthenticated, Disconnected)
        )
    }
}

impl TryFrom<String> for ConnectionStatus {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A stored connection, owned by exactly one client.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Connection {
    pub id: ConnectionId,
    pub client_id: ClientId,
    pub customer_id: String,
    pub retailer_id: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: ConnectionStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fields a client supplies to create a connection, already validated.
#[derive(Clone, Debug)]
pub struct NewConnection {
    pub customer_id: String,
    pub retailer_id: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

/// A partial update. `None` leaves a field as it is; for `email` and `mobile`,
/// `Some(None)` clears the field.
#[derive(Clone, Debug, Default)]
pub struct ConnectionPatch {
    pub customer_id: Option<String>,
    pub email: Option<Option<String>>,
    pub mobile: Option<Option<String>>,
    pub status: Option<ConnectionStatus>,
}

impl ConnectionPatch {
    /// Applies the patch to a connection, returning the updated value.
    pub fn apply(&self, mut c: Connection, now: i64) -> Connection {
        if let Some(v) = &self.customer_id {
            c.customer_id = v.clone();
        }
        if let Some(v) = &self.email {
            c.email = v.clone();
        }
        if let Some(v) = &self.mobile {
            c.mobile = v.clone();
        }
        if let Some(st) = self.status {
            c.status = st;
        }
        c.updated_at = now;
        c
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::ConnectionStatus::{self, *};

    #[test]
    fn the_lifecycle_is_the_documented_machine() {
        let allowed = [
            (Initialized, Active),
            (Active, Unauthenticated),
            (Unauthenticated, Active),
            (Initialized, Disconnected),
            (Active, Disconnected),
            (Unauthenticated, Disconnected),
        ];
        for from in ConnectionStatus::ALL {
            for to in ConnectionStatus::ALL {
                assert_eq!(from.can_move_to(to), allowed.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }
}
