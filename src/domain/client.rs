//! Clients: the tenants of the service.
use super::ids::ClientId;

/// A tenant of the service.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub created_at: i64,
}
