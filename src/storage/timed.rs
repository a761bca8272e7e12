//! A time limit on every storage call. PostgreSQL enforces tessera's statement and lock
//! timeouts itself, and the pool bounds the wait for a connection; but a database that stops
//! answering while a statement is in flight enforces nothing, and without this the request
//! (and, for a token, the group commit and every token request behind it) would wait until it
//! answered again. Past the limit the call ends as `Unavailable`: the request is answered
//! `503`. Migrations are not limited (a large one may take a while).
//!
//! The aggregates' methods are delegated by `store_trait!`, from their one declaration; only
//! [`Database`] is written out here.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    ClockReference, Database, IssuanceConnection, PoolStats, Recorded, Store, StoreError, Work, WorkStore, cause_msg,
};
use crate::domain::connection::Connection;
use crate::domain::token::IssuedToken;

/// A [`Store`] whose every call ends within `limit`, and which remembers when a write last
/// failed for a full disk.
pub(super) struct Timed {
    inner: Arc<dyn Store>,
    limit: Duration,
    disk_full: Arc<DiskFullSeen>,
}

/// When a call last failed with [`StoreError::DiskFull`], in milliseconds since `start`
/// (`-1`: never).
struct DiskFullSeen {
    start: std::time::Instant,
    last_ms: std::sync::atomic::AtomicI64,
}

/// For this long after a write failed for a full disk, the store does not count as writable,
/// even when a probe finds room: a probe's one small write can fit where a batch does not.
const DISK_FULL_HOLD: Duration = Duration::from_secs(5);

impl DiskFullSeen {
    fn note<T>(&self, result: &Result<T, StoreError>) {
        if let Err(StoreError::DiskFull(_)) = result {
            let ms = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
            self.last_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// How long ago a call failed for a full disk, if it did within [`DISK_FULL_HOLD`].
    fn recent(&self) -> Option<Duration> {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        let ago = Duration::from_millis(u64::try_from(last).ok()?);
        let ago = self.start.elapsed().saturating_sub(ago);
        (ago < DISK_FULL_HOLD).then_some(ago)
    }
}

impl Timed {
    pub(super) fn new(inner: Arc<dyn Store>, limit: Duration) -> Self {
        let disk_full =
            Arc::new(DiskFullSeen { start: std::time::Instant::now(), last_ms: std::sync::atomic::AtomicI64::new(-1) });
        Self { inner, limit, disk_full }
    }

    /// A call within the limit; every aggregate method passes through here (see
    /// `store_trait!`), as do the limited [`Database`] methods.
    pub(crate) async fn timed<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(cause_msg(format!(
                "the database did not answer within {} s",
                self.limit.as_secs_f64()
            )))),
        };
        self.disk_full.note(&result);
        result
    }

    /// The store underneath.
    pub(crate) fn inner(&self) -> &dyn Store {
        self.inner.as_ref()
    }
}

/// The issuance writer's own connection, watched for a full disk like every other call.
struct Watched {
    inner: Box<dyn IssuanceConnection>,
    disk_full: Arc<DiskFullSeen>,
}

impl IssuanceConnection for Watched {
    fn record(&mut self, batch: &[IssuedToken]) -> Result<Vec<Recorded>, StoreError> {
        let result = self.inner.record(batch);
        self.disk_full.note(&result);
        result
    }

    fn maintain(&mut self) {
        self.inner.maintain();
    }
}

#[async_trait]
impl Database for Timed {
    async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.inner.migrate().await
    }

    async fn is_initialized(&self) -> Result<bool, StoreError> {
        self.timed(self.inner.is_initialized()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(self.inner.ping()).await
    }

    /// Not limited, like migrations (see [`Database::reclaim_space`]).
    async fn reclaim_space(&self, pages: u32) -> Result<u64, StoreError> {
        let result = self.inner.reclaim_space(pages).await;
        self.disk_full.note(&result);
        result
    }

    async fn clock_reference(&self) -> Result<ClockReference, StoreError> {
        self.timed(self.inner.clock_reference()).await
    }

    async fn writable(&self) -> Result<(), StoreError> {
        self.timed(self.inner.writable()).await?;
        match self.disk_full.recent() {
            Some(ago) => Err(StoreError::DiskFull(cause_msg(format!(
                "a write failed for a full disk {} ms ago",
                ago.as_millis()
            )))),
            None => Ok(()),
        }
    }

    fn pool_stats(&self) -> PoolStats {
        self.inner.pool_stats()
    }

    /// Not limited here: its caller waits for each answer within the same limit.
    fn issuance_connection(&self) -> Result<Option<Box<dyn IssuanceConnection>>, StoreError> {
        Ok(self
            .inner
            .issuance_connection()?
            .map(|inner| Box::new(Watched { inner, disk_full: self.disk_full.clone() }) as Box<dyn IssuanceConnection>))
    }

    fn call_limit(&self) -> Option<Duration> {
        Some(self.limit)
    }
}

/// Units of work on a [`Timed`] store: each of their calls, the commit included, ends within
/// the limit too.
#[async_trait]
impl WorkStore for Timed {
    async fn begin_work(&self) -> Result<Box<dyn Work>, StoreError> {
        let inner = self.timed(self.inner.begin_work()).await?;
        Ok(Box::new(TimedWork { inner, limit: self.limit, disk_full: self.disk_full.clone() }))
    }
}

/// A unit of work whose every call ends within `limit`. One that timed out is dropped by its
/// caller (the `?`), which rolls it back, or closes its connection if it cannot.
struct TimedWork {
    inner: Box<dyn Work>,
    limit: Duration,
    disk_full: Arc<DiskFullSeen>,
}

impl TimedWork {
    async fn timed<T>(
        limit: Duration,
        disk_full: &DiskFullSeen,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(cause_msg(format!(
                "the database did not answer within {} s",
                limit.as_secs_f64()
            )))),
        };
        disk_full.note(&result);
        result
    }
}

/// Delegates each verb of [`Work`] through [`TimedWork::timed`].
macro_rules! timed_work {
    ($( fn $name:ident(&mut self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        #[async_trait]
        impl Work for TimedWork {
            $(
                async fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                    Self::timed(self.limit, &self.disk_full, self.inner.$name($($arg),*)).await
                }
            )*

            async fn commit(self: Box<Self>) -> Result<(), StoreError> {
                let TimedWork { inner, limit, disk_full } = *self;
                Self::timed(limit, &disk_full, inner.commit()).await
            }
        }
    };
}

use crate::domain::ids::ConnectionId;

timed_work! {
    fn lock_connection(&mut self, id: &ConnectionId) -> Result<Option<Connection>, StoreError>;
    fn insert_connection(&mut self, connection: &Connection) -> Result<(), StoreError>;
    fn save_connection(&mut self, connection: &Connection) -> Result<(), StoreError>;
    fn delete_connection(&mut self, id: &ConnectionId) -> Result<(), StoreError>;
    fn delete_purchases(&mut self, connection: &ConnectionId) -> Result<u64, StoreError>;
    fn revoke_tokens(&mut self, client: &crate::domain::ids::ClientId, connection: &ConnectionId, at: i64)
        -> Result<u64, StoreError>;
    fn append_activity(&mut self, entry: &crate::domain::event::NewActivity) -> Result<(), StoreError>;
    fn enqueue(&mut self, event: &crate::domain::webhook::OutboxEvent) -> Result<bool, StoreError>;
    fn record_audit(&mut self, entry: &crate::domain::operator::AuditEntry) -> Result<(), StoreError>;
    fn insert_api_key(&mut self, key: &crate::domain::api_key::ApiKeyRecord) -> Result<(), StoreError>;
    fn lock_api_key(&mut self, id: &crate::domain::ids::ApiKeyId)
        -> Result<Option<crate::domain::api_key::ApiKeyRecord>, StoreError>;
    fn save_api_key(&mut self, key: &crate::domain::api_key::ApiKeyRecord) -> Result<(), StoreError>;
    fn insert_partner_grant(&mut self, grant: &crate::domain::partner::PartnerGrant) -> Result<(), StoreError>;
    fn find_partner_grant(&mut self, id: &str) -> Result<Option<crate::domain::partner::PartnerGrant>, StoreError>;
    fn save_partner_grant(&mut self, grant: &crate::domain::partner::PartnerGrant) -> Result<(), StoreError>;
    fn insert_purchase(&mut self, purchase: &crate::domain::purchase::Purchase, at: i64) -> Result<bool, StoreError>;
    fn update_purchase(&mut self, purchase: &crate::domain::purchase::Purchase, at: i64) -> Result<(), StoreError>;
    fn lock_client(&mut self, id: &crate::domain::ids::ClientId)
        -> Result<Option<crate::domain::client::Client>, StoreError>;
    fn save_client(&mut self, client: &crate::domain::client::Client) -> Result<(), StoreError>;
    fn lock_link_session(&mut self, reference_digest: &[u8])
        -> Result<Option<crate::domain::link::LinkSession>, StoreError>;
    fn save_link_session(&mut self, session: &crate::domain::link::LinkSession) -> Result<(), StoreError>;
    fn lock_issued_token(&mut self, jti: &crate::domain::ids::TokenId)
        -> Result<Option<crate::domain::token::IssuedToken>, StoreError>;
    fn save_issued_token(&mut self, token: &crate::domain::token::IssuedToken) -> Result<(), StoreError>;
}
