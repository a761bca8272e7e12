//! Webhooks: a client's endpoints, the events announced to them, and each delivery.
use std::fmt;

use serde::Serialize;

use super::connection::{Connection, ConnectionStatus};
use super::ids::{ClientId, EventId, WebhookId};

/// What an event announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A tessera extension: a client created a connection.
    ConnectionCreated,
    ConnectionActivated,
    ConnectionUnauthenticated,
    ConnectionDisconnected,
    /// A tessera extension: a client deleted a connection.
    ConnectionDeleted,
    /// The connector wrote a purchase the connection did not have.
    PurchaseCreated,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::ConnectionCreated,
        EventType::ConnectionActivated,
        EventType::ConnectionUnauthenticated,
        EventType::ConnectionDisconnected,
        EventType::ConnectionDeleted,
        EventType::PurchaseCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConnectionCreated => "connection.created",
            EventType::ConnectionActivated => "connection.activated",
            EventType::ConnectionUnauthenticated => "connection.unauthenticated",
            EventType::ConnectionDisconnected => "connection.disconnected",
            EventType::ConnectionDeleted => "connection.deleted",
            EventType::PurchaseCreated => "purchase.created",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The event a move into `status` announces.
    pub fn for_status(status: ConnectionStatus) -> Option<Self> {
        match status {
            ConnectionStatus::Active => Some(EventType::ConnectionActivated),
            ConnectionStatus::Unauthenticated => Some(EventType::ConnectionUnauthenticated),
            ConnectionStatus::Disconnected => Some(EventType::ConnectionDisconnected),
            ConnectionStatus::Initialized => None,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An event's payload: the connection as it stands after the change (before, for a deletion).
pub fn connection_payload(c: &Connection) -> serde_json::Value {
    serde_json::json!({"connection": {
        "connection_id": c.id, "customer_id": c.customer_id, "retailer_id": c.retailer_id,
        "email": c.email, "mobile": c.mobile, "status": c.status.as_str(),
    }})
}

/// A `purchase.created` payload: the connection, and the purchase without its items (read
/// them with `GET /purchases/{purchase_id}`).
pub fn purchase_payload(c: &Connection, p: &super::purchase::Purchase) -> serde_json::Value {
    let mut payload = connection_payload(c);
    payload["purchase"] = serde_json::json!(super::purchase::PurchaseSummary::from(p));
    payload
}

/// A client's webhook endpoint, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub client_id: ClientId,
    pub name: String,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub is_active: bool,
    /// The signing secret, sealed under the KEK.
    pub secret_sealed: Vec<u8>,
    /// The secret before the last rotation, still signing until `previous_expires_at`.
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_success_at: Option<i64>,
    /// Why tessera turned the endpoint off, if it did.
    pub disabled_reason: Option<String>,
}

/// A change to a webhook; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub is_active: Option<bool>,
}

/// One event as announced to webhooks: `{type, id, payload}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: EventId,
    pub kind: EventType,
    pub payload: serde_json::Value,
    pub created_at: i64,
}

impl WebhookEvent {
    /// The body every delivery of this event sends.
    pub fn body(&self) -> String {
        serde_json::json!({"type": self.kind.as_str(), "id": self.id, "payload": self.payload}).to_string()
    }
}

/// Where one delivery of one event to one webhook stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub event_id: EventId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub connection_id: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub created_at: i64,
}

/// A delivery a dispatcher has claimed: what to send, where, signed with what.
#[derive(Clone, Debug)]
pub struct ClaimedDelivery {
    pub webhook_id: WebhookId,
    pub event_seq: i64,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub event: WebhookEvent,
    pub attempts: i64,
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A `2xx`.
    Delivered { status: u16 },
    /// Anything else: retried at `retry_at`, or given up when that is past the retry window.
    Failed { status: Option<u16>, error: String, retry_at: Option<i64> },
}

/// A webhook event for the outbox: delivered to every active webhook of its client that is
/// subscribed to its type.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEvent {
    pub id: super::ids::EventId,
    pub client_id: super::ids::ClientId,
    pub connection_id: super::ids::ConnectionId,
    pub kind: EventType,
    pub at: i64,
    pub payload: serde_json::Value,
}

impl OutboxEvent {
    /// An event about `connection`, its payload the connection as it is now.
    pub fn about(connection: &Connection, kind: EventType, at: i64) -> Self {
        Self::with_payload(connection, kind, at, connection_payload(connection))
    }

    /// An event about `connection` with a payload of the caller's making.
    pub fn with_payload(connection: &Connection, kind: EventType, at: i64, payload: serde_json::Value) -> Self {
        Self {
            id: super::ids::EventId::generate(),
            client_id: connection.client_id.clone(),
            connection_id: connection.id.clone(),
            kind,
            at,
            payload,
        }
    }
}
