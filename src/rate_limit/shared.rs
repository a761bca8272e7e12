//! Rate limits shared by every replica of a deployment, kept in the operator's Redis.
//!
//! Each check is one round trip (taking a lease of several requests for busy keys; see
//! [`super::Limiter`]): a Lua script that runs atomically on the server and applies
//! GCRA (the generic cell rate algorithm, the token bucket written as one timestamp per key)
//! with the server's own clock (`TIME`), so replicas whose clocks disagree still share one
//! limit. A key's entry expires once its bucket would be full again.
//!
//! When the store cannot be reached (or answers slowly), checks fall back to the process's
//! own limiter ([`super::RateLimiter`]) or, when the operator chose to fail closed, refuse;
//! the change is logged once each way, and the store is tried again at most once a second
//! until it answers, when shared limits are back by themselves.
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// How long one check may take before the process's own limiter decides instead.
const CHECK_TIMEOUT: Duration = Duration::from_millis(250);
/// How long to wait before trying an unreachable store again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// GCRA over microseconds. KEYS[1]: the bucket; ARGV: emission interval, burst tolerance
/// (the burst times the interval), and how many requests to take (at most; 0 only looks).
/// Returns `{taken, 0}` when at least one request fits (`{1, 0}` when only looking), else
/// `{0, microseconds until one would}`.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local fits = math.floor((tolerance - (tat - now)) / interval)
if fits < 1 then return {0, tat + interval - tolerance - now} end
if want < 1 then return {1, 0} end
local n = math.min(want, fits)
local next_tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.floor((next_tat - now) / 1000) + 1)
return {n, 0}
";

/// What the store decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// This many requests were taken (1 when only looking: one would fit).
    Granted(u32),
    /// Nothing fits; one request will in this long.
    Refused(Duration),
}

/// What happens to a check while the store cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WhenDown {
    // The process's own limiter decides (each replica allows the whole limit). Plain
    // comments: `--help` lists the values on the option's own line.
    Open,
    // Every limited request is refused (`429`, `Retry-After: 1`).
    Closed,
}

/// The shared store: a Redis server every replica of the deployment reaches.
pub struct SharedStore {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    script: redis::Script,
    /// Keys are `{prefix}:{limit}:{key}`: deployments can share one Redis.
    prefix: String,
    pub when_down: WhenDown,
    /// Whether the last check reached the store.
    up: AtomicBool,
    /// Not before then: the store is not tried again until this time.
    retry_at: Mutex<Option<Instant>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for SharedStore {
    // The URL may hold a password: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore").field("prefix", &self.prefix).field("when_down", &self.when_down).finish()
    }
}

impl SharedStore {
    /// A store at `url` (`redis://[:password@]host[:port][/db]`, or `rediss://` for TLS);
    /// nothing is connected until the first check. The error never repeats the URL.
    pub fn new(url: &str, prefix: &str, when_down: WhenDown, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("--rate-limit-store: not a Redis URL ({:?})", e.kind()))?;
        metrics.shared_limits(true);
        Ok(Self {
            client,
            connection: tokio::sync::Mutex::new(None),
            script: redis::Script::new(GCRA),
            prefix: prefix.to_owned(),
            when_down,
            up: AtomicBool::new(true),
            retry_at: Mutex::new(None),
            metrics,
        })
    }

    /// Takes up to `want` requests of `limit`'s bucket `key` (holding `burst`, refilling at
    /// `rate` a second), or with `want` 0 only looks whether one fits; `None` when the store
    /// could not decide.
    pub async fn check(&self, limit: &str, key: &str, rate: f64, burst: u32, want: u32) -> Option<Answer> {
        if self.retry_at.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|at| Instant::now() < at) {
            self.metrics.shared_limits_fallback();
            return None;
        }
        let interval_us = (1_000_000.0 / rate.max(1e-6)).ceil().min(1e15);
        let tolerance_us = interval_us * f64::from(burst.max(1));
        let answer = tokio::time::timeout(CHECK_TIMEOUT, async {
            let mut conn = self.connection().await?;
            self.script
                .key(format!("{}:{limit}:{key}", self.prefix))
                .arg(format!("{interval_us:.0}"))
                .arg(format!("{tolerance_us:.0}"))
                .arg(want)
                .invoke_async::<(i64, i64)>(&mut conn)
                .await
        })
        .await;
        match answer {
            Ok(Ok((taken, wait_us))) => {
                self.reached();
                Some(if taken > 0 {
                    Answer::Granted(u32::try_from(taken).unwrap_or(1))
                } else {
                    Answer::Refused(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0).max(1)))
                })
            }
            Ok(Err(e)) => {
                self.unreachable(&format!("{:?}", e.kind())).await;
                None
            }
            Err(_) => {
                self.unreachable("timed out").await;
                None
            }
        }
    }

    /// The connection, made when there is none.
    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let mut held = self.connection.lock().await;
        if let Some(c) = held.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CHECK_TIMEOUT))
            .set_response_timeout(Some(CHECK_TIMEOUT));
        let c = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        *held = Some(c.clone());
        Ok(c)
    }

    fn reached(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            self.metrics.shared_limits_up(true);
            tracing::warn!("the shared rate-limit store answers again: limits hold across replicas");
        }
    }

    async fn unreachable(&self, why: &str) {
        *self.connection.lock().await = None;
        *self.retry_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + RETRY_AFTER);
        self.metrics.shared_limits_fallback();
        if self.up.swap(false, Ordering::AcqRel) {
            self.metrics.shared_limits_up(false);
            let limits = match self.when_down {
                WhenDown::Open => "each process applies its own limits until it is back",
                WhenDown::Closed => "limited requests are refused until it is back (--rate-limit-store-down closed)",
            };
            tracing::warn!(reason = why, "the shared rate-limit store cannot be reached: {limits}");
        }
    }
}
