//! Time as an injected dependency, so tests can move it; and the guard that keeps tessera's
//! own time and refuses to sign when the clock cannot be trusted.
//!
//! tessera never reads the system clock for a decision directly. Its time is the boot-time
//! clock (never stepped, only slewed) plus an offset taken from the system clock while the two
//! agree, so a step of the system clock - in either direction, for half a second or a month -
//! reaches no token, key, schedule, record or id. What each kind of step does:
//!
//! - **Slewing** (NTP adjusting the rate, or a step of at most `max_skew`): followed, each
//!   second.
//! - **A step of more than `max_skew`**: from the first use that sees it, nothing is signed
//!   and no key moves (`503`); tessera's own time stays where it was. It ends by itself:
//!   - when the system clock comes back (the step was a fault): at once;
//!   - on PostgreSQL, when the database server's clock confirms the new reading (a correction,
//!     say a clock started slow and set right by time sync): within a second;
//!   - on SQLite, when the new reading has held for `step_settle` seconds and is not behind the
//!     newest recorded time: it is then taken as a correction.
//! - **Disagreeing with the database** without a step (a server started with a wrong clock):
//!   refused while it lasts; on PostgreSQL when further than `max_skew` from the server's
//!   clock, on SQLite when behind the newest recorded time by more than the verifiers'
//!   leeway. Any later step is then judged as a possible correction, so a clock set right ends
//!   it without a restart.
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::time::{adopt_id_offset, boot_ms, wall_ms};
use crate::storage::{ClockReference, Store};

/// A source of the current time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;

    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64 {
        self.now() * 1000
    }

    /// A clock that is never stepped, in milliseconds from an arbitrary origin, where this
    /// clock has one: the guard keeps time with it.
    fn steady_ms(&self) -> Option<i64> {
        None
    }

    /// Whether decisions may be taken on this clock now (a key moved, a record pruned). Only
    /// the guard says no.
    fn trustworthy(&self) -> bool {
        true
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    fn now_ms(&self) -> i64 {
        wall_ms()
    }

    fn steady_ms(&self) -> Option<i64> {
        Some(boot_ms())
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

/// What the guard makes of the clock, as the `tessera_clock_state` metric names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ClockState {
    /// The system clock agrees with tessera's time and with the database: tokens are signed.
    Agreed = 0,
    /// The system clock stepped and nothing has confirmed the new reading yet.
    Stepped = 1,
    /// PostgreSQL: further from the database server's clock than allowed.
    Skewed = 2,
    /// SQLite: behind the newest time recorded in the database.
    Behind = 3,
}

impl ClockState {
    pub const ALL: [ClockState; 4] = [Self::Agreed, Self::Stepped, Self::Skewed, Self::Behind];

    pub fn name(self) -> &'static str {
        match self {
            Self::Agreed => "agreed",
            Self::Stepped => "stepped",
            Self::Skewed => "skewed",
            Self::Behind => "behind",
        }
    }

    fn from_u8(v: u8) -> Self {
        Self::ALL.into_iter().find(|s| *s as u8 == v).unwrap_or(Self::Agreed)
    }
}

/// tessera's clock: the boot-time clock plus an offset the guard takes from the system clock
/// (see the module's documentation), and the judgement of whether it may sign.
///
/// While the clock is not trusted, tokens are refused (`503`), readiness fails, and the
/// keyring neither activates a key nor schedules a rotation, and retention prunes nothing.
pub struct ClockGuard {
    /// The system clock (or a test's).
    wall: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    /// Milliseconds; 0 turns the guard off (tessera's time is then the system clock's).
    max_skew_ms: i64,
    /// How far behind the newest recorded time the clock may be (the verifiers' leeway).
    leeway_ms: i64,
    /// How long a step must hold, on SQLite, before it is taken as a correction.
    settle_ms: i64,
    /// The system clock minus the steady clock, in milliseconds, as last accepted;
    /// `i64::MIN` until the first measurement.
    offset_ms: AtomicI64,
    /// Since when (steady milliseconds) the current unconfirmed step has held.
    step_since: Mutex<Option<i64>>,
    trusted: AtomicBool,
    state: AtomicU8,
    /// The measured skew: the system clock minus the reference, in milliseconds.
    skew_ms: AtomicI64,
    /// Why the clock is not trusted, for the `503`'s detail and readiness.
    reason: Mutex<Option<String>>,
}

const UNSET: i64 = i64::MIN;

/// A change of the offset by up to this between two readings is slewing or rounding, and is
/// followed silently.
const SLEW_MS: i64 = 2_000;

/// What one measurement concluded.
struct Verdict {
    state: ClockState,
    /// The system clock minus the reference (or the size of the step), in milliseconds.
    skew_ms: i64,
    why: Option<String>,
}

impl ClockGuard {
    /// How often the clock is compared with the database's.
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

    pub fn new(
        wall: Arc<dyn Clock>,
        store: Arc<dyn Store>,
        max_skew_secs: u32,
        leeway_secs: i64,
        step_settle_secs: u32,
    ) -> Self {
        Self {
            wall,
            store,
            max_skew_ms: i64::from(max_skew_secs) * 1000,
            leeway_ms: leeway_secs * 1000,
            settle_ms: i64::from(step_settle_secs) * 1000,
            offset_ms: AtomicI64::new(UNSET),
            step_since: Mutex::new(None),
            trusted: AtomicBool::new(true),
            state: AtomicU8::new(ClockState::Agreed as u8),
            skew_ms: AtomicI64::new(0),
            reason: Mutex::new(None),
        }
    }

    /// Whether the guard is on (`--clock-max-skew` above 0).
    pub fn enabled(&self) -> bool {
        self.max_skew_ms > 0
    }

    /// Whether tokens may be signed and keys moved along their schedule now: the last
    /// measurement trusted the clock, and the system clock has not stepped since.
    pub fn trusted(&self) -> bool {
        self.check().is_ok()
    }

    /// What the last measurement made of the clock.
    pub fn state(&self) -> ClockState {
        ClockState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// `Err` with the reason while the clock is not trusted. Cheap enough for every token: two
    /// reads of clocks the kernel serves without a system call, so a step is refused from the
    /// first token after it, not from the next measurement.
    pub fn check(&self) -> Result<(), ClockUntrusted> {
        if !self.trusted.load(Ordering::Acquire) {
            let reason = self.reason.lock().unwrap_or_else(PoisonError::into_inner).clone();
            return Err(ClockUntrusted(reason.unwrap_or_else(|| "the clock is not to be trusted".into())));
        }
        if let Some(step) = self.unconfirmed_step() {
            return Err(ClockUntrusted(format!(
                "the server's clock just stepped {} by {} s; tessera is checking it against the database",
                if step < 0 { "back" } else { "forward" },
                secs(step.abs())
            )));
        }
        Ok(())
    }

    /// The system clock's departure from tessera's time, when larger than allowed.
    fn unconfirmed_step(&self) -> Option<i64> {
        if !self.enabled() {
            return None;
        }
        let offset = self.offset_ms.load(Ordering::Acquire);
        let steady = self.wall.steady_ms()?;
        if offset == UNSET {
            return None;
        }
        let step = self.wall.now_ms() - (steady + offset);
        (step.abs() > self.max_skew_ms).then_some(step)
    }

    /// The system clock minus the database's reference at the last measurement, in seconds.
    /// A step seen since, and not yet measured, counts as the skew.
    pub fn skew_secs(&self) -> f64 {
        let skew = match self.unconfirmed_step() {
            Some(step) if self.trusted.load(Ordering::Acquire) => step,
            _ => self.skew_ms.load(Ordering::Relaxed),
        };
        skew as f64 / 1000.0
    }

    /// Compares the system clock with tessera's time and with the database's. A database that
    /// does not answer changes nothing (readiness reports it on its own).
    pub async fn measure(&self) {
        if !self.enabled() {
            return;
        }
        let (wall_before, steady_before) = (self.wall.now_ms(), self.wall.steady_ms());
        let reference = match self.store.clock_reference().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %crate::telemetry::Chain(&e), "clock check skipped");
                return;
            }
        };
        let (wall_after, steady_after) = (self.wall.now_ms(), self.wall.steady_ms());
        // A slow answer says little about the time it was read at.
        if matches!(reference, ClockReference::Server { .. }) && wall_after - wall_before > 1_000 {
            return;
        }
        let wall = wall_before + (wall_after - wall_before) / 2;
        let steady = steady_before.zip(steady_after).map(|(b, a)| b + (a - b) / 2);
        let verdict = self.judge(wall, steady, reference);
        self.settle(verdict);
    }

    /// The verdict on one reading of the system clock (`wall`), the steady clock and the
    /// database's reference; moves tessera's time when the reading is accepted.
    fn judge(&self, wall: i64, steady: Option<i64>, reference: ClockReference) -> Verdict {
        let previous = self.state();
        let offset = self.offset_ms.load(Ordering::Acquire);
        let accept = || {
            if let Some(steady) = steady {
                self.offset_ms.store(wall - steady, Ordering::Release);
                adopt_id_offset(wall - steady);
            }
            *self.step_since.lock().unwrap_or_else(PoisonError::into_inner) = None;
        };
        // The system clock's departure from tessera's time: a step when over `max_skew`.
        let step = match (steady, offset) {
            (Some(steady), o) if o != UNSET => wall - (steady + o),
            _ => 0,
        };
        // A clock refused for disagreeing with the database follows the system clock, so
        // that the step that sets it right is seen as agreement.
        let refused_on_evidence = matches!(previous, ClockState::Skewed | ClockState::Behind);
        let stepped = step.abs() > self.max_skew_ms && !refused_on_evidence;
        match reference {
            ClockReference::Server { now_ms } => {
                let skew = wall - now_ms;
                let agrees = skew.abs() <= self.max_skew_ms;
                // Neither the new reading nor tessera's time agrees with the database: nothing
                // is to be kept, and the system clock is followed until one does.
                let kept_agrees = (wall - step - now_ms).abs() <= self.max_skew_ms;
                if !stepped || agrees || !kept_agrees {
                    if stepped {
                        tracing::warn!(
                            step_secs = step as f64 / 1000.0,
                            "the server's clock stepped and the database server's clock confirms the new time; \
                             tessera follows it"
                        );
                    } else if step.abs() > SLEW_MS {
                        tracing::info!(step_secs = step as f64 / 1000.0, "followed a small step of the server's clock");
                    }
                    accept();
                    if agrees {
                        return Verdict { state: ClockState::Agreed, skew_ms: skew, why: None };
                    }
                    let why = format!(
                        "the server's clock is {} s {} the database server's (more than the {} s allowed)",
                        secs(skew.abs()),
                        if skew < 0 { "behind" } else { "ahead of" },
                        secs(self.max_skew_ms)
                    );
                    return Verdict { state: ClockState::Skewed, skew_ms: skew, why: Some(why) };
                }
                // A step the database server's clock does not confirm: keep tessera's time.
                let why = format!(
                    "the server's clock stepped {} by {} s and is {} s from the database server's clock (more than \
                     the {} s allowed); tessera keeps its own time and waits for the clock to come back",
                    if step < 0 { "back" } else { "forward" },
                    secs(step.abs()),
                    secs(skew.abs()),
                    secs(self.max_skew_ms)
                );
                Verdict { state: ClockState::Stepped, skew_ms: skew, why: Some(why) }
            }
            ClockReference::Newest { at } => {
                // The newest record is to the second; so is the comparison.
                let behind_ms = at.map_or(0, |n| n * 1000 - wall.div_euclid(1000) * 1000);
                let behind = behind_ms > self.leeway_ms;
                let behind_why = || {
                    format!(
                        "the server's clock is {} s behind the newest time recorded in the database (more than the \
                         verifiers' leeway of {} s): tokens it signed would already have expired",
                        secs(behind_ms),
                        secs(self.leeway_ms)
                    )
                };
                if !stepped {
                    if step.abs() > SLEW_MS {
                        tracing::info!(step_secs = step as f64 / 1000.0, "followed a small step of the server's clock");
                    }
                    accept();
                    if behind {
                        return Verdict { state: ClockState::Behind, skew_ms: -behind_ms, why: Some(behind_why()) };
                    }
                    return Verdict { state: ClockState::Agreed, skew_ms: 0, why: None };
                }
                // A step: a fault until the clock comes back, or until the new reading has held
                // long enough to be taken as a correction - never when behind the records.
                let held_ms = match (steady, behind) {
                    (Some(steady), false) => {
                        let mut since = self.step_since.lock().unwrap_or_else(PoisonError::into_inner);
                        steady - *since.get_or_insert(steady)
                    }
                    _ => {
                        *self.step_since.lock().unwrap_or_else(PoisonError::into_inner) = None;
                        0
                    }
                };
                if !behind && held_ms >= self.settle_ms {
                    tracing::warn!(
                        step_secs = step as f64 / 1000.0,
                        held_secs = held_ms as f64 / 1000.0,
                        "the server's clock stepped and has held its new time; tessera takes it as a correction"
                    );
                    accept();
                    return Verdict { state: ClockState::Agreed, skew_ms: 0, why: None };
                }
                let why = if behind {
                    format!("{}; it stepped back by {} s", behind_why(), secs(step.abs()))
                } else {
                    format!(
                        "the server's clock stepped {} by {} s while tessera ran (more than the {} s allowed); \
                         tessera keeps its own time and takes the new one only if it holds for {} s",
                        if step < 0 { "back" } else { "forward" },
                        secs(step.abs()),
                        secs(self.max_skew_ms),
                        secs(self.settle_ms)
                    )
                };
                Verdict { state: ClockState::Stepped, skew_ms: step, why: Some(why) }
            }
        }
    }

    fn settle(&self, Verdict { state, skew_ms, why }: Verdict) {
        self.skew_ms.store(skew_ms, Ordering::Relaxed);
        let trusted = why.is_none();
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner) = why.clone();
        let was = ClockState::from_u8(self.state.swap(state as u8, Ordering::AcqRel));
        self.trusted.store(trusted, Ordering::Release);
        if was != state {
            match why {
                Some(why) => tracing::error!(
                    state = state.name(),
                    skew_secs = skew_ms as f64 / 1000.0,
                    "{why}; refusing to sign tokens and to move signing keys until the clock is right \
                     (check NTP / chrony)"
                ),
                None => tracing::info!(
                    state = state.name(),
                    was = was.name(),
                    skew_secs = skew_ms as f64 / 1000.0,
                    "the clock is trusted again"
                ),
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

/// tessera's time: the steady clock plus the accepted offset, or the system clock where
/// there is no steady clock (a test's clock) or the guard is off.
impl Clock for ClockGuard {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    fn now_ms(&self) -> i64 {
        let offset = self.offset_ms.load(Ordering::Acquire);
        match self.wall.steady_ms() {
            Some(steady) if offset != UNSET && self.enabled() => steady + offset,
            _ => self.wall.now_ms(),
        }
    }

    fn steady_ms(&self) -> Option<i64> {
        self.wall.steady_ms()
    }

    fn trustworthy(&self) -> bool {
        self.trusted()
    }
}

/// Milliseconds as seconds, for a message.
fn secs(ms: i64) -> String {
    format!("{:.1}", ms as f64 / 1000.0)
}

/// Tokens are refused: the clock is not to be trusted (the reason).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClockUntrusted(pub String);

#[cfg(test)]
#[path = "clock_tests.rs"]
mod tests;
