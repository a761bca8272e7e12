//! When each API key was last used, to the minute: noted in memory on every authenticated
//! request, and written to the database at most once a minute per key and process, so the
//! hot path gains no write.
use std::collections::HashMap;
use std::sync::RwLock;

use crate::domain::ids::ApiKeyId;

/// The most keys remembered before the memory is cleared (they are only a write throttle).
const MAX_KEYS: usize = 100_000;

/// The minute each key was last written as used.
#[derive(Default)]
pub struct KeyUsage {
    written: RwLock<HashMap<ApiKeyId, i64>>,
}

impl KeyUsage {
    /// Whether `id`'s use at `now` (Unix seconds) should be written: once per minute per key.
    pub fn due(&self, id: &ApiKeyId, now: i64) -> bool {
        let minute = now.div_euclid(60);
        if self.written.read().unwrap_or_else(|p| p.into_inner()).get(id) == Some(&minute) {
            return false;
        }
        let mut written = self.written.write().unwrap_or_else(|p| p.into_inner());
        if written.get(id) == Some(&minute) {
            return false;
        }
        if written.len() >= MAX_KEYS {
            written.clear();
        }
        written.insert(id.clone(), minute);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_due_once_a_minute() {
        let usage = KeyUsage::default();
        let (a, b) = (ApiKeyId::generate(), ApiKeyId::generate());
        assert!(usage.due(&a, 120));
        assert!(!usage.due(&a, 179));
        assert!(usage.due(&b, 179));
        assert!(usage.due(&a, 180));
    }
}
