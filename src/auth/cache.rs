//! A bounded in-process cache of API key records, for the token endpoint's fast path.
//!
//! Only live records are cached, and a cached record is never the last word: the
//! transaction that records a minted token checks again that the key is not revoked, so a
//! key revoked by another process (the CLI, another replica) stops minting at once. Other
//! endpoints read the key from the database on every request.
use std::collections::HashMap;
use std::sync::RwLock;

use crate::domain::api_key::ApiKeyRecord;
use crate::domain::ids::ApiKeyId;

/// API key records by key id, at most `capacity` of them.
pub struct ApiKeyCache {
    entries: RwLock<HashMap<ApiKeyId, ApiKeyRecord>>,
    capacity: usize,
}

impl ApiKeyCache {
    pub fn new(capacity: usize) -> Self {
        Self { entries: RwLock::new(HashMap::new()), capacity }
    }

    pub fn get(&self, id: &ApiKeyId) -> Option<ApiKeyRecord> {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// Remembers a live record; a revoked one is forgotten instead.
    pub fn insert(&self, record: &ApiKeyRecord) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if record.revoked_at.is_some() {
            entries.remove(&record.id);
            return;
        }
        // Deployments have a handful of keys; a flood of distinct ones only costs a refill.
        if entries.len() >= self.capacity && !entries.contains_key(&record.id) {
            entries.clear();
        }
        entries.insert(record.id.clone(), record.clone());
    }

    pub fn remove(&self, id: &ApiKeyId) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::api_key::PlainApiKey;
    use crate::domain::ids::ClientId;

    fn record(revoked_at: Option<i64>) -> ApiKeyRecord {
        let (id, key) = PlainApiKey::generate();
        ApiKeyRecord { id, client_id: ClientId::generate(), digest: key.digest(), created_at: 0, revoked_at }
    }

    #[test]
    fn keeps_live_records_forgets_revoked_ones_and_stays_bounded() {
        let cache = ApiKeyCache::new(2);
        let live = record(None);
        cache.insert(&live);
        assert_eq!(cache.get(&live.id).map(|r| r.client_id), Some(live.client_id.clone()));
        let mut revoked = live.clone();
        revoked.revoked_at = Some(5);
        cache.insert(&revoked);
        assert!(cache.get(&live.id).is_none());
        let never = record(Some(1));
        cache.insert(&never);
        assert!(cache.get(&never.id).is_none());
        let (a, b, c) = (record(None), record(None), record(None));
        for r in [&a, &b, &c] {
            cache.insert(r);
        }
        assert!(cache.entries.read().expect("lock").len() <= 2);
        assert!(cache.get(&c.id).is_some());
        cache.remove(&c.id);
        assert!(cache.get(&c.id).is_none());
    }
}
