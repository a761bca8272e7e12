//! What the console's pages share: the state its handlers reach, the console's settings, the
//! signed-in operator, a form's fields.
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::domain::operator::{Counts, Operator};
use crate::rate_limit::Limiter;
use crate::service::{AppState, CoreError};
use crate::token::keyring::Algorithm;

/// Where the console is served, on the main listener and on its own.
pub const BASE: &str = "/console";

/// The console's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A session unused this long ends.
    pub idle_secs: i64,
    /// A session ends this long after sign-in, however busy.
    pub absolute_secs: i64,
    /// Mark the session cookie `Secure` always (otherwise only when the request came over
    /// HTTPS as a proxy's `X-Forwarded-Proto: https` says).
    pub secure_cookie: bool,
    /// The algorithm of the keyring this server signs with (what a rotation rotates).
    pub algorithm: Algorithm,
    /// Seconds a scheduled signing key is published before it signs.
    pub prepublish_secs: i64,
    /// Failed sign-ins allowed per address: sustained rate per second, and burst.
    pub sign_in_rate: f64,
    pub sign_in_burst: u32,
    /// How long each retained table keeps its rows, and whether pruning runs (the overview
    /// says when each table's oldest row may go).
    pub retention: crate::retention::Settings,
}

/// What the console's handlers reach: what every handler reaches (the store, the keyring,
/// the clock, the metrics ..., through `Deref`), and the console's own settings and limits.
#[derive(Clone)]
pub struct ConsoleState {
    app: AppState,
    pub settings: Arc<Settings>,
    pub(super) sign_in_failures: Arc<Limiter<IpAddr>>,
    /// Failed sign-ins per operator name (as typed, folded to lower case), wherever from.
    pub(super) sign_in_failures_by_name: Arc<Limiter<String>>,
    /// Permits for the password checks running now (argon2 costs tens of ms of a core each).
    pub(super) hashing: Arc<tokio::sync::Semaphore>,
    /// The overview's counts when reading them was slow (a large database): shown as of when
    /// they were read, and read again in the background once they are a few seconds old.
    counts: Arc<Mutex<CachedCounts>>,
}

impl std::ops::Deref for ConsoleState {
    type Target = crate::service::state::Shared;

    fn deref(&self) -> &Self::Target {
        &self.app
    }
}

impl ConsoleState {
    pub fn new(app: AppState, settings: Settings) -> Self {
        let shared = |name: &'static str| app.limits.shared.clone().map(|s| (s, name));
        let (rate, burst) = (settings.sign_in_rate, settings.sign_in_burst);
        let sign_in_failures = Arc::new(Limiter::new(rate, burst, shared("sign-in-address")));
        let sign_in_failures_by_name = Arc::new(Limiter::new(rate, burst, shared("sign-in-operator")));
        let hashing = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_HASHES));
        Self {
            app,
            settings: Arc::new(settings),
            sign_in_failures,
            sign_in_failures_by_name,
            hashing,
            counts: Arc::new(Mutex::new(CachedCounts::default())),
        }
    }
}

/// Counts kept because reading them was slow.
#[derive(Default)]
struct CachedCounts {
    /// When they were read (Unix seconds, and for their age), and the counts.
    value: Option<(Instant, i64, Counts)>,
    /// Whether a background read is under way.
    refreshing: bool,
}

/// How long counts are shown before a background read replaces them.
const COUNTS_FRESH: std::time::Duration = std::time::Duration::from_secs(5);
/// A count slower than this is kept and refreshed in the background instead of on each view.
const COUNTS_SLOW: std::time::Duration = std::time::Duration::from_millis(20);

/// The longest the overview waits for counts it does not have yet.
const COUNTS_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

impl ConsoleState {
    /// The overview's counts, and when they were read if not just now; `None` while a first,
    /// slow count is under way. Fast counts are read on every view; slow ones (a large
    /// database) are kept, shown as of their time, and recounted in the background once a few
    /// seconds old, so no view waits more than [`COUNTS_WAIT`] for a count.
    pub(super) async fn counts(&self) -> Result<Option<(Counts, Option<i64>)>, CoreError> {
        let (kept, start) = {
            let mut cache = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let start = !cache.refreshing && cache.value.as_ref().is_none_or(|(at, _, _)| at.elapsed() >= COUNTS_FRESH);
            if start {
                cache.refreshing = true;
            }
            (cache.value.as_ref().map(|(_, read_at, c)| (c.clone(), *read_at)), start)
        };
        let read = start.then(|| {
            let (core, cache, clock) = (self.core.clone(), self.counts.clone(), self.clock.clone());
            tokio::spawn(async move {
                let (started, read_at) = (Instant::now(), clock.now());
                let result = core.overview().counts().await;
                let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.refreshing = false;
                match &result {
                    Ok(c) if started.elapsed() >= COUNTS_SLOW => {
                        cache.value = Some((Instant::now(), read_at, c.clone()))
                    }
                    // Fast (again): read on every view.
                    Ok(_) => cache.value = None,
                    Err(e) => tracing::warn!(error = %crate::telemetry::Chain(e), "console: could not count"),
                }
                result
            })
        });
        if let Some((c, read_at)) = kept {
            return Ok(Some((c, Some(read_at))));
        }
        let Some(read) = read else { return Ok(None) };
        match tokio::time::timeout(COUNTS_WAIT, read).await {
            Ok(Ok(result)) => result.map(|c| Some((c, None))),
            // Still counting (it goes on in the background), or the task failed.
            _ => Ok(None),
        }
    }
}

/// The most password checks that run at once, over every source address: past it a sign-in
/// is answered `429` at once instead of queueing more work for the CPU.
pub const MAX_CONCURRENT_HASHES: usize = 2;

/// A POST's form fields, parsed once by the router's `guard_posts`.
#[derive(Clone, Debug, Default)]
pub struct FormFields(pub(super) Vec<(String, String)>);

impl FormFields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A field's value, trimmed; `""` when absent.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", str::trim)
    }
}

/// A signed-in operator: extracting one from a request without a live session redirects to
/// the sign-in page.
pub struct Signed {
    pub operator: Operator,
    /// The anti-forgery token every form of this session carries.
    pub csrf: String,
}
