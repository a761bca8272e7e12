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
