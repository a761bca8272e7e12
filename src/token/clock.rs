//! Time as an injected dependency, so tests can move it; and the guard that refuses to sign
//! when the clock disagrees with the database's.
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::storage::{ClockReference, Store};

/// A source of the current time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;

    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64 {
        self.now() * 1000
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }

    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_millis()).ok()).unwrap_or(0)
    }
}

/// A clock that stands still until told to move; for tests.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Whether this process's clock can be trusted to sign tokens, judged against what the
/// database knows of the time, measured every [`ClockGuard::EVERY`]:
///
/// - on PostgreSQL, the server's own clock: the local clock must be within `max_skew` of it,
///   either way;
/// - on SQLite, the newest time tessera has recorded (the last token's `issued_at`, the
///   newest signing key): the local clock must not be behind it by more than the verifiers'
///   leeway; and, since the process started, the local clock must not have stepped by more
///   than `max_skew` against the boot-time clock (which NTP does not step and which counts
///   suspended time) unless a later step took it back.
///
/// While the clock is not trusted, tokens are refused (`503`), readiness fails, and the
/// keyring neither activates a key nor schedules a rotation.
pub struct ClockGuard {
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    /// Milliseconds; 0 turns the guard off.
    max_skew_ms: i64,
    /// How far behind the newest recorded time the clock may be (the verifiers' leeway).
    leeway_ms: i64,
    steps: Mutex<Steps>,
    trusted: AtomicBool,
    /// The measured skew: the local clock minus the reference, in milliseconds.
    skew_ms: AtomicI64,
    /// Why the clock is not trusted, for the `503`'s detail and readiness.
    reason: Mutex<Option<String>>,
}

/// The local clock's steps against the boot-time clock, since the process started.
#[derive(Default)]
struct Steps {
    /// The last reading: wall-clock milliseconds and boot-time milliseconds.
    last: Option<(i64, i64)>,
    /// The sum of the steps seen, in milliseconds.
    offset_ms: i64,
    /// Whether the last measurement found the clock behind the newest recorded time: a step
    /// from there is taken as its correction.
    behind: bool,
}

/// A change between readings of more than this is a step, not NTP's slewing (at most 0.5 ms
/// a second) nor a reading's rounding.
const STEP_MS: i64 = 2_000;

impl ClockGuard {
    /// How often the clock is compared with the database's.
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

    pub fn new(clock: Arc<dyn Clock>, store: Arc<dyn Store>, max_skew_secs: u32, leeway_secs: i64) -> Self {
        Self {
            clock,
            store,
            max_skew_ms: i64::from(max_skew_secs) * 1000,
            leeway_ms: leeway_secs * 1000,
            steps: Mutex::new(Steps::default()),
            trusted: AtomicBool::new(true),
            skew_ms: AtomicI64::new(0),
            reason: Mutex::new(None),
        }
    }

    /// Whether the guard is on (`--clock-max-skew` above 0).
    pub fn enabled(&self) -> bool {
        self.max_skew_ms > 0
    }

    /// Whether tokens may be signed and keys moved along their schedule now.
    pub fn trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// `Err` with the reason while the clock is not trusted.
    pub fn check(&self) -> Result<(), ClockUntrusted> {
        if self.trusted() {
            return Ok(());
        }
        let reason = self.reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        Err(ClockUntrusted(reason.unwrap_or_else(|| "the clock is not to be trusted".into())))
    }

    /// The local clock minus the database's reference at the last measurement, in seconds.
    pub fn skew_secs(&self) -> f64 {
        self.skew_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Compares the clock with the database's now. A database that does not answer changes
    /// nothing (readiness reports it on its own).
    pub async fn measure(&self) {
        if !self.enabled() {
            return;
        }
        let before = self.clock.now_ms();
        let boot = boot_ms();
        let reference = match self.store.clock_reference().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %crate::telemetry::Chain(&e), "clock check skipped");
                return;
            }
        };
        let after = self.clock.now_ms();
        let verdict = match reference {
            ClockReference::Server { now_ms } => {
                // A slow answer says little about the time it was read at.
                if after - before > 1_000 {
                    return;
                }
                let skew = (before + after) / 2 - now_ms;
                let verdict = (skew.abs() > self.max_skew_ms).then(|| {
                    format!(
                        "the server's clock is {} s {} the database server's (more than the {} s allowed)",
                        secs(skew.abs()),
                        if skew < 0 { "behind" } else { "ahead of" },
                        secs(self.max_skew_ms)
                    )
                });
                (skew, verdict)
            }
            ClockReference::Newest { at } => self.against_records(before, boot, at.map(|s| s * 1000)),
        };
        self.settle(verdict);
    }

    /// The SQLite verdict: behind the newest record, or stepped since the start.
    fn against_records(&self, now_ms: i64, boot_ms: Option<i64>, newest_ms: Option<i64>) -> (i64, Option<String>) {
        let mut steps = self.steps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let (Some((wall, boot)), Some(boot_now)) = (steps.last, boot_ms) {
            let step = (now_ms - wall) - (boot_now - boot);
            if steps.behind {
                // Refused already on the records' account: whatever step comes now may be the
                // correction, and the records alone decide.
                steps.offset_ms = 0;
            } else if step.abs() > STEP_MS {
                steps.offset_ms += step;
            }
        }
        if let Some(boot_now) = boot_ms {
            steps.last = Some((now_ms, boot_now));
        }
        // The newest record is to the second; so is the comparison.
        let behind_ms = newest_ms.map_or(0, |n| n - (now_ms / 1000) * 1000);
        steps.behind = behind_ms > self.leeway_ms;
        if steps.behind {
            let why = format!(
                "the server's clock is {} s behind the newest time recorded in the database (more than the \
                 verifiers' leeway of {} s): tokens it signed would already have expired",
                secs(behind_ms),
                secs(self.leeway_ms)
            );
            return (-behind_ms, Some(why));
        }
        let offset = steps.offset_ms;
        let why = (offset.abs() > self.max_skew_ms).then(|| {
            format!(
                "the server's clock stepped {} by {} s while tessera ran (more than the {} s allowed)",
                if offset < 0 { "back" } else { "forward" },
                secs(offset.abs()),
                secs(self.max_skew_ms)
            )
        });
        (offset, why)
    }

    fn settle(&self, (skew, why): (i64, Option<String>)) {
        self.skew_ms.store(skew, Ordering::Relaxed);
        let trusted = why.is_none();
        *self.reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = why.clone();
        if self.trusted.swap(trusted, Ordering::AcqRel) != trusted {
            match why {
                Some(why) => tracing::error!(
                    skew_secs = skew as f64 / 1000.0,
                    "{why}; refusing to sign tokens and to move signing keys until the clock is right \
                     (check NTP / chrony)"
                ),
                None => tracing::info!(skew_secs = skew as f64 / 1000.0, "the clock agrees with the database again"),
            }
        }
    }

    /// Measures every [`ClockGuard::EVERY`], for the life of the server.
    pub async fn watch(self: Arc<Self>) {
        if !self.enabled() {
            return;
        }
        loop {
            tokio::time::sleep(Self::EVERY).await;
            self.measure().await;
        }
    }
}

/// Milliseconds as seconds, for a message.
fn secs(ms: i64) -> String {
    format!("{:.1}", ms as f64 / 1000.0)
}

/// The boot-time clock, in milliseconds: it counts time suspended and is never stepped.
fn boot_ms() -> Option<i64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Some(t.tv_sec.checked_mul(1000)? + t.tv_nsec / 1_000_000)
}

/// Tokens are refused: the clock is not to be trusted (the reason).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClockUntrusted(pub String);
