//! The application core (the service layer): each use case written once, for every front end (the HTTP API, the
//! operator console, the command line). A use case validates with the domain's types, acts for
//! an [`Actor`], records what the console's audit log must show, and calls storage; the front
//! ends parse their input, call one function here, and render its answer.
//!
//! Rung: above storage, tokens and webhooks, below the front ends (`http`, `console`, `cli`).
use crate::domain::ids::ApiKeyId;
use crate::domain::operator::{AuditEntry, Operator};
use crate::storage::{Store, StoreError};

pub(crate) mod backup;
pub(crate) mod clients;
pub(crate) mod connections;
pub(crate) mod connectors;
pub mod core;
pub mod error;
pub(crate) mod health;
pub(crate) mod idempotency;
pub(crate) mod keyring;
pub(crate) mod keys;
pub mod link;
pub(crate) mod operators;
pub(crate) mod overview;
pub(crate) mod partners;
pub mod purchases;
pub(crate) mod retailers;
pub(crate) mod state;
pub(crate) mod tokens;
pub(crate) mod webhooks;

pub use core::Core;
pub use error::{CoreError, Invalid, Missing};
pub use state::AppState;

/// Who acts.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// An operator in the console: every change is recorded in the audit log.
    Operator(&'a Operator),
    /// A client's API key, over the HTTP API: its changes are recorded in the connection's
    /// activity log (which names the key), not in the console's audit log.
    ApiKey(&'a ApiKeyId),
    /// The command line, run by whoever may open the database.
    CommandLine,
    /// tessera itself (the first start's default client).
    System,
}

/// Records `action` on `target` when an operator did it.
pub async fn audit(store: &dyn Store, actor: Actor<'_>, action: &str, target: &str, at: i64) -> Result<(), StoreError> {
    match audit_entry(actor, action, target, at) {
        Some(entry) => store.record_audit(&entry).await,
        None => Ok(()),
    }
}

/// Records `action` on `target` whoever did it (see [`audit_entry_any`]). For changes a
/// client's own API key or the command line may also make, whose record belongs with the
/// console's.
pub async fn audit_any(
    store: &dyn Store,
    actor: Actor<'_>,
    action: &str,
    target: &str,
    at: i64,
) -> Result<(), StoreError> {
    store.record_audit(&audit_entry_any(actor, action, target, at)).await
}

/// The audit entry of `action` on `target` when an operator did it (logged as it is made),
/// for a unit of work to record with the change itself.
pub fn audit_entry(actor: Actor<'_>, action: &str, target: &str, at: i64) -> Option<AuditEntry> {
    matches!(actor, Actor::Operator(_)).then(|| audit_entry_any(actor, action, target, at))
}

/// The audit entry of `action` on `target`, whoever did it: an operator by name, an API key
/// by id (`api key ID`), `command line`, or `tessera`.
pub fn audit_entry_any(actor: Actor<'_>, action: &str, target: &str, at: i64) -> AuditEntry {
    let who = match actor {
        Actor::Operator(operator) => operator.name.clone(),
        Actor::ApiKey(key) => format!("api key {key}"),
        Actor::CommandLine => "command line".to_owned(),
        Actor::System => "tessera".to_owned(),
    };
    let entry = AuditEntry {
        id: crate::domain::ids::ordered_id(),
        operator: who,
        action: action.to_owned(),
        target: target.to_owned(),
        at,
    };
    tracing::info!(operator = %entry.operator, action = %entry.action, target = %entry.target, "audited action");
    entry
}
