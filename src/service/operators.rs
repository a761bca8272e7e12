//! Operators (the people who use the console), their sign-in links and sessions, and the
//! audit log of what they did.
use super::core::Operators;
use super::{Actor, CoreError, audit};
use crate::auth::operator::{digest, new_secret};
use crate::domain::ids::OperatorId;
use crate::domain::operator::{AuditEntry, Operator, Session};
use crate::service::{Invalid, Missing};
use crate::storage::StoreError;

/// How long a one-time sign-in link stays usable.
pub const LINK_LIFETIME_SECS: i64 = 3600;

impl Operators<'_> {
    /// Makes an operator named `name` (trimmed: 1 to 100 characters, none of them control
    /// characters), with a password hash or none (then it signs in with links only).
    pub async fn create(&self, name: &str, password_hash: Option<String>, now: i64) -> Result<Operator, CoreError> {
        let store = self.core.store();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Invalid::OperatorName.into());
        }
        let operator = Operator { id: OperatorId::generate(), name: name.to_owned(), password_hash, created_at: now };
        match store.create_operator(&operator).await {
            Err(StoreError::Conflict(_)) => Err(Invalid::OperatorExists(name.to_owned()).into()),
            other => Ok(other.map(|()| operator)?),
        }
    }

    /// The operator named `name` (trimmed), if any.
    pub async fn find_by_name(&self, name: &str) -> Result<Option<Operator>, CoreError> {
        let store = self.core.store();
        Ok(store.find_operator_by_name(name.trim()).await?)
    }

    /// Every operator.
    pub async fn list(&self) -> Result<Vec<Operator>, CoreError> {
        let store = self.core.store();
        Ok(store.list_operators().await?)
    }

    /// Removes the operator named `name` (trimmed); their sessions end at once.
    pub async fn remove(&self, name: &str) -> Result<(), CoreError> {
        let store = self.core.store();
        if !store.remove_operator(name.trim()).await? {
            return Err(Missing::Operator(name.to_owned()).into());
        }
        Ok(())
    }

    /// A new one-time sign-in link secret for `operator`, valid for [`LINK_LIFETIME_SECS`] and
    /// replacing any other: only its digest is stored.
    pub async fn new_sign_in_link(&self, operator: &Operator, now: i64) -> Result<String, CoreError> {
        let store = self.core.store();
        let secret = new_secret();
        store.set_sign_in_link(&operator.id, &digest(&secret), now + LINK_LIFETIME_SECS).await?;
        Ok(secret)
    }

    /// The operator a sign-in link's secret is for, using it up; `None` when it is used up,
    /// expired or wrong.
    pub async fn redeem_sign_in_link(&self, secret: &str, now: i64) -> Result<Option<Operator>, CoreError> {
        let store = self.core.store();
        Ok(store.redeem_sign_in_link(&digest(secret), now).await?)
    }

    /// Starts a console session for `operator`, signed in `how` (the audit log's action): the
    /// new session's secret, for its cookie (only its digest is stored).
    pub async fn start_session(&self, operator: &Operator, how: &str, now: i64) -> Result<String, CoreError> {
        let store = self.core.store();
        let secret = new_secret();
        store.create_session(&digest(&secret), &operator.id, now).await?;
        audit(store, Actor::Operator(operator), how, &operator.name, now).await?;
        Ok(secret)
    }

    /// The live session a cookie's secret names, marked used now; `None` once it was idle since
    /// `idle_since` or began before `born_after`.
    pub async fn touch_session(
        &self,
        secret: &str,
        now: i64,
        idle_since: i64,
        born_after: i64,
    ) -> Result<Option<Session>, CoreError> {
        let store = self.core.store();
        Ok(store.touch_session(&digest(secret), now, idle_since, born_after).await?)
    }

    /// Ends `operator`'s session (the one `secret` names, when the cookie is still there).
    pub async fn end_session(&self, operator: &Operator, secret: Option<&str>, now: i64) -> Result<(), CoreError> {
        let store = self.core.store();
        if let Some(secret) = secret {
            store.delete_session(&digest(secret)).await?;
        }
        audit(store, Actor::Operator(operator), "sign_out", &operator.name, now).await?;
        Ok(())
    }

    /// Up to `limit` audit entries, newest first, older than the entry `before`.
    pub async fn audit_log(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, CoreError> {
        let store = self.core.store();
        Ok(store.list_audit(before, limit).await?)
    }
}
