//! Token-bucket rate limits: one bucket per API key for requests, one per source address for
//! failed authentications (so guessing keys is slow), and the console's sign-in guards. Each
//! is kept per process ([`RateLimiter`]) or, with a shared store configured, across every
//! replica ([`Limiter`] over [`shared::SharedStore`]), with the process's own as the fallback.
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) mod shared;

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

/// How long requests taken from the shared store ahead of need stay this process's to spend.
const LEASE_TTL: Duration = Duration::from_secs(1);
/// A lease is at most this share of a second's allowance ...
const LEASE_SECONDS: f64 = 0.05;
/// ... at most this many requests ...
const LEASE_MAX: u32 = 256;
/// ... and at most this share of the burst.
const LEASE_BURST_SHARE: u32 = 8;

/// A limit of the deployment: checked in the shared store when there is one, else (and while
/// it cannot be reached, unless it fails closed) by this process alone.
///
/// With a store, a check that finds nothing spendable here takes a *lease* from the store: up
/// to a twentieth of a second's allowance at once (never more than 256 requests or an eighth
/// of the burst; a single request for slow limits), paid for in the shared bucket when taken
/// and spent here for up to a second. So a busy key costs one round trip per lease rather than
/// one per request, and the deployment never allows more than its limit plus what the
/// replicas hold unspent (at most one lease each). A refusal is remembered until the bucket
/// has room again, so a key held at its limit costs no round trips while it waits.
pub struct Limiter<K> {
    local: RateLimiter<K>,
    shared: Option<Shared<K>>,
}

struct Shared<K> {
    store: Arc<shared::SharedStore>,
    /// This limit's name in the store (part of every key).
    name: &'static str,
    /// Requests asked for per round trip.
    lease_size: u32,
    /// Per key, what this process holds of the shared bucket.
    leases: Mutex<HashMap<K, Arc<Entry>>>,
}

/// One key's lease.
#[derive(Default)]
struct Entry {
    lease: Mutex<Lease>,
    /// Held for a round trip: one at a time per key, so concurrent requests share a lease
    /// instead of each taking one. Spending what is held never waits for it.
    refill: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Lease {
    /// Requests taken from the store and not yet spent ...
    left: u32,
    /// ... spendable until then.
    until: Option<Instant>,
    /// The store refused: nothing is allowed before then.
    refused_until: Option<Instant>,
}

impl Lease {
    /// What this process can decide without the store: a request spent from the lease (with
    /// `take`), or a refusal that still stands.
    fn decide(&mut self, now: Instant, take: bool) -> Option<Decision> {
        if self.left > 0 && self.until.is_some_and(|until| now < until) {
            if take {
                self.left -= 1;
            }
            return Some(Decision::Allowed);
        }
        let until = self.refused_until.filter(|until| now < *until)?;
        Some(Decision::Limited { retry_after_secs: whole_seconds(until - now) })
    }

    fn idle(&self, now: Instant) -> bool {
        self.until.is_none_or(|u| now >= u) && self.refused_until.is_none_or(|u| now >= u)
    }
}

impl<K: Eq + Hash + Clone + Display> Limiter<K> {
    /// `rate_per_sec` sustained, `burst` at once; across replicas when `shared` is given.
    pub fn new(rate_per_sec: f64, burst: u32, shared: Option<(Arc<shared::SharedStore>, &'static str)>) -> Self {
        let local = RateLimiter::new(rate_per_sec, burst);
        let shared = shared.map(|(store, name)| Shared {
            store,
            name,
            lease_size: lease_size(rate_per_sec, local.burst_count),
            leases: Mutex::new(HashMap::new()),
        });
        Self { local, shared }
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
        let Some(shared) = &self.shared else { return self.local.update(key, now, take) };
        let entry = shared.entry(key, now);
        if let Some(decision) = entry.lock().decide(now, take) {
            return decision;
        }
        let _refill = entry.refill.lock().await;
        // Another request may have refilled the lease while this one waited.
        let now = now.max(Instant::now());
        if let Some(decision) = entry.lock().decide(now, take) {
            return decision;
        }
        let (rate, burst) = (self.local.rate, self.local.burst_count);
        let want = if take { shared.lease_size } else { 0 };
        let answer = shared.store.check(shared.name, &key.to_string(), rate, burst, want).await;
        let mut lease = entry.lock();
        match answer {
            Some(shared::Answer::Granted(n)) => {
                if take {
                    lease.left = n.saturating_sub(1);
                    lease.until = Some(now + LEASE_TTL);
                }
                lease.refused_until = None;
                Decision::Allowed
            }
            Some(shared::Answer::Refused(wait)) => {
                lease.left = 0;
                lease.refused_until = Some(now + wait);
                Decision::Limited { retry_after_secs: whole_seconds(wait) }
            }
            None if shared.store.when_down == shared::WhenDown::Closed => Decision::Limited { retry_after_secs: 1 },
            None => {
                drop(lease);
                self.local.update(key, now, take)
            }
        }
    }
}

impl Entry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<K: Eq + Hash + Clone> Shared<K> {
    /// `key`'s lease, made when there is none; idle ones are dropped when there are many.
    fn entry(&self, key: &K, now: Instant) -> Arc<Entry> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = leases.get(key) {
            return entry.clone();
        }
        if leases.len() >= MAX_BUCKETS {
            leases.retain(|_, entry| Arc::strong_count(entry) > 1 || !entry.lock().idle(now));
        }
        leases.entry(key.clone()).or_default().clone()
    }
}

/// Requests one round trip takes for a limit of `rate` a second holding `burst`.
fn lease_size(rate: f64, burst: u32) -> u32 {
    // At most LEASE_MAX: the float is small and positive.
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 to 256")]
    let by_rate = (rate * LEASE_SECONDS).floor().clamp(0.0, f64::from(LEASE_MAX)) as u32;
    by_rate.min(burst / LEASE_BURST_SHARE).max(1)
}

/// A wait as the whole seconds of `Retry-After`, 1 to 3600.
fn whole_seconds(wait: Duration) -> u64 {
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "whole seconds, 1 to 3600")]
    let secs = wait.as_secs_f64().ceil().clamp(1.0, 3600.0) as u64;
    secs
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

    #[test]
    fn leases_are_a_twentieth_of_a_second_at_most_256_and_an_eighth_of_the_burst() {
        assert_eq!(lease_size(1000.0, 2000), 50, "the default limit");
        assert_eq!(lease_size(10_000_000.0, 10_000_000), 256);
        assert_eq!(lease_size(1000.0, 80), 10, "an eighth of a small burst");
        assert_eq!(lease_size(10.0, 10), 1, "slow limits ask for every request");
        assert_eq!(lease_size(0.1, 1), 1);
    }
}
