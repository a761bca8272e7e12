//! Token-bucket rate limits: one bucket per API key for requests, one per source address for
//! failed authentications (so guessing keys is slow), and the console's sign-in guards. Each
//! is kept per process ([`RateLimiter`]) or, with a shared store configured, across every
//! replica ([`Limiter`] over [`shared::SharedStore`]), with the process's own as the fallback.
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub mod shared;

/// The most buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What a limiter decided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    Allowed,
    /// Refused; a request will be allowed again in this many seconds.
    Limited {
        retry_after_secs: u64,
    },
}

/// A token bucket per key: `rate` tokens a second, holding at most `burst`.
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    /// The burst as configured, for the `RateLimit-Limit` header.
    burst_count: u32,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        let burst = burst.max(1);
        Self { rate: rate_per_sec, burst: f64::from(burst), burst_count: burst, buckets: Mutex::new(HashMap::new()) }
    }

    pub fn burst(&self) -> u32 {
        self.burst_count
    }

    /// Takes one token for `key` if there is one.
    pub fn take(&self, key: &K, now: Instant) -> Decision {
        self.update(key, now, true)
    }

    /// Whether `key` has a token, without taking it.
    pub fn peek(&self, key: &K, now: Instant) -> Decision {
        self.update(key, now, false)
    }

    fn update(&self, key: &K, now: Instant, take: bool) -> Decision {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { tokens: self.burst, at: now });
        let refilled = bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = refilled.min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            if take {
                bucket.tokens -= 1.0;
            }
            Decision::Allowed
        } else {
            let wait = if self.rate > 0.0 { (1.0 - bucket.tokens) / self.rate } else { 3600.0 };
            // At most an hour: the float is small, positive and whole.
            #[expect(clippy::cast_possible_truncation, reason = "a whole number of seconds, 1 to 3600")]
            let retry_after_secs = wait.ceil().clamp(1.0, 3600.0) as u64;
            Decision::Limited { retry_after_secs }
        }
    }
}

/// A limit of the deployment: checked in the shared store when there is one, else (and while
/// it cannot be reached, unless it fails closed) by this process alone.
pub struct Limiter<K> {
    local: RateLimiter<K>,
    /// The store, and this limit's name in it (part of every key).
    shared: Option<(Arc<shared::SharedStore>, &'static str)>,
}

impl<K: Eq + Hash + Clone + Display> Limiter<K> {
    /// `rate_per_sec` sustained, `burst` at once; across replicas when `shared` is given.
    pub fn new(rate_per_sec: f64, burst: u32, shared: Option<(Arc<shared::SharedStore>, &'static str)>) -> Self {
        Self { local: RateLimiter::new(rate_per_sec, burst), shared }
    }

    pub fn burst(&self) -> u32 {
        self.local.burst()
    }

    /// Takes one request for `key` if its allowance has one.
    pub async fn take(&self, key: &K, now: Instant) -> Decision {
        self.check(key, now, true).await
    }

    /// Whether `key`'s allowance has a request, without taking it.
    pub async fn peek(&self, key: &K, now: Instant) -> Decision {
        self.check(key, now, false).await
    }

    async fn check(&self, key: &K, now: Instant, take: bool) -> Decision {
        if let Some((store, name)) = &self.shared {
            let (rate, burst) = (self.local.rate, self.local.burst_count);
            match store.check(name, &key.to_string(), rate, burst, take).await {
                Some(decision) => return decision,
                None if store.when_down == shared::WhenDown::Closed => {
                    return Decision::Limited { retry_after_secs: 1 };
                }
                None => {}
            }
        }
        self.local.update(key, now, take)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take(&"k", t0), Decision::Allowed);
        }
        assert_eq!(limiter.take(&"k", t0), Decision::Limited { retry_after_secs: 1 });
        assert_eq!(limiter.take(&"other", t0), Decision::Allowed, "keys are independent");
        assert_eq!(limiter.take(&"k", t0 + Duration::from_millis(500)), Decision::Allowed);
        assert!(matches!(limiter.take(&"k", t0 + Duration::from_millis(500)), Decision::Limited { .. }));
        assert_eq!(limiter.peek(&"k", t0 + Duration::from_secs(10)), Decision::Allowed);
        for _ in 0..3 {
            assert_eq!(limiter.take(&"k", t0 + Duration::from_secs(10)), Decision::Allowed, "refilled to the burst");
        }
        assert!(matches!(limiter.take(&"k", t0 + Duration::from_secs(10)), Decision::Limited { .. }));
    }
}
