//! Activity: one entry of a connection's log.

/// One entry of a connection's activity log. `data` never holds a secret or a whole token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: i64,
    pub api_key_id: Option<String>,
    pub data: serde_json::Value,
}

/// A new entry for a connection's activity log, as the core makes it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewActivity {
    /// Increasing with time (a ULID), for paging.
    pub id: String,
    pub connection_id: super::ids::ConnectionId,
    pub client_id: super::ids::ClientId,
    pub kind: &'static str,
    pub at: i64,
    /// The API key that made the change, if one did.
    pub api_key_id: Option<super::ids::ApiKeyId>,
    pub data: serde_json::Value,
}
