//! The guard's judgement of each kind of step, on a clock whose wall and steady readings the
//! test sets.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::{Clock, ClockGuard, ClockState};
use crate::storage::ClockReference;

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_800_000_000_000;

/// A system clock (wall) and a boot-time clock (steady), each set by the test.
#[derive(Default)]
struct TestClock {
    wall: AtomicI64,
    steady: AtomicI64,
}

impl TestClock {
    fn at(wall: i64) -> Arc<Self> {
        let c = Arc::new(Self::default());
        c.wall.store(wall, Ordering::SeqCst);
        c.steady.store(1_000, Ordering::SeqCst);
        c
    }

    /// Real time passes: both clocks move.
    fn pass(&self, ms: i64) {
        self.wall.fetch_add(ms, Ordering::SeqCst);
        self.steady.fetch_add(ms, Ordering::SeqCst);
    }

    /// The system clock steps; the steady one does not.
    fn step(&self, ms: i64) {
        self.wall.fetch_add(ms, Ordering::SeqCst);
    }

    fn wall(&self) -> i64 {
        self.wall.load(Ordering::SeqCst)
    }
}

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
    fn now_ms(&self) -> i64 {
        self.wall.load(Ordering::SeqCst)
    }
    fn steady_ms(&self) -> Option<i64> {
        Some(self.steady.load(Ordering::SeqCst))
    }
}

async fn guard(clock: Arc<TestClock>, settle_secs: u32) -> ClockGuard {
    let store = crate::storage::connect("sqlite::memory:").await.expect("an in-memory store");
    ClockGuard::new(clock, store, 5, 60, settle_secs)
}

/// One measurement against `reference`, as `measure` makes it.
fn measure(g: &ClockGuard, clock: &TestClock, reference: ClockReference) -> ClockState {
    let v = g.judge(clock.wall(), clock.steady_ms(), reference);
    g.settle(v);
    g.state()
}

fn newest(ms: i64) -> ClockReference {
    ClockReference::Newest { at: Some(ms.div_euclid(1000)) }
}

fn server(ms: i64) -> ClockReference {
    ClockReference::Server { now_ms: ms }
}

#[tokio::test]
async fn slewing_is_followed_and_small_steps_too() {
    let clock = TestClock::at(T0);
    let g = guard(clock.clone(), 60).await;
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Agreed);
    clock.pass(1_000);
    clock.step(3);
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Agreed);
    assert_eq!(g.now_ms(), clock.wall());
    clock.step(3_000);
    assert!(g.check().is_ok(), "a step within the allowed skew is followed");
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Agreed);
    assert_eq!(g.now_ms(), clock.wall());
}

#[tokio::test]
async fn a_short_step_forward_is_refused_at_once_and_moves_nothing() {
    let clock = TestClock::at(T0);
    let g = guard(clock.clone(), 60).await;
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Agreed);
    let before = g.now_ms();
    clock.step(HOUR);
    // Refused from the first use after the step, before any measurement.
    let refused = g.check().expect_err("refused");
    assert!(refused.0.contains("stepped forward"), "{}", refused.0);
    assert!(!g.trustworthy());
    // tessera's own time did not move with the system clock.
    assert_eq!(g.now_ms(), before);
    clock.pass(500);
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Stepped);
    assert_eq!(g.now_ms(), before + 500);
    // The clock comes back: trusted again, at once, with nothing moved.
    clock.step(-HOUR);
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Agreed);
    assert!(g.check().is_ok());
    assert_eq!(g.now_ms(), clock.wall());
}

#[tokio::test]
async fn a_step_back_behind_the_records_never_settles() {
    let clock = TestClock::at(T0);
    let g = guard(clock.clone(), 1).await;
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Agreed);
    clock.step(-HOUR);
    for _ in 0..5 {
        clock.pass(1_000);
        assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Stepped);
        let why = g.check().expect_err("refused").0;
        assert!(why.contains("behind the newest time"), "{why}");
    }
    assert_eq!(g.now_ms(), T0 + 5_000, "tessera's time kept counting from where it was");
    clock.step(HOUR);
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Agreed);
}

#[tokio::test]
async fn on_sqlite_a_step_that_holds_is_taken_as_a_correction() {
    let clock = TestClock::at(T0);
    let g = guard(clock.clone(), 10).await;
    assert_eq!(measure(&g, &clock, newest(T0 - HOUR)), ClockState::Agreed);
    clock.step(HOUR);
    for _ in 0..10 {
        assert_eq!(measure(&g, &clock, newest(T0 - HOUR)), ClockState::Stepped);
        clock.pass(1_000);
    }
    assert_eq!(measure(&g, &clock, newest(T0 - HOUR)), ClockState::Agreed);
    assert_eq!(g.now_ms(), clock.wall());
    assert!(g.check().is_ok());
}

#[tokio::test]
async fn on_sqlite_a_clock_started_behind_the_records_is_refused_until_set_right() {
    let clock = TestClock::at(T0 - HOUR);
    let g = guard(clock.clone(), 60).await;
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Behind);
    assert!(g.check().is_err());
    clock.pass(1_000);
    // Time sync sets it right: a step forward, taken at once.
    clock.step(HOUR);
    assert_eq!(measure(&g, &clock, newest(T0)), ClockState::Agreed);
    assert_eq!(g.now_ms(), clock.wall());
}

#[tokio::test]
async fn on_postgres_the_database_clock_decides_which_reading_is_right() {
    // A step back the database does not confirm: refused, tessera's time kept.
    let clock = TestClock::at(T0);
    let g = guard(clock.clone(), 60).await;
    assert_eq!(measure(&g, &clock, server(T0)), ClockState::Agreed);
    clock.step(-HOUR);
    clock.pass(1_000);
    assert_eq!(measure(&g, &clock, server(T0 + 1_000)), ClockState::Stepped);
    assert_eq!(g.now_ms(), T0 + 1_000);
    clock.step(HOUR);
    assert_eq!(measure(&g, &clock, server(T0 + 1_000)), ClockState::Agreed);

    // Started an hour slow: refused; time sync steps it forward and the database confirms.
    let clock = TestClock::at(T0 - HOUR);
    let g = guard(clock.clone(), 60).await;
    assert_eq!(measure(&g, &clock, server(T0)), ClockState::Skewed);
    assert!(g.check().is_err());
    clock.pass(1_000);
    clock.step(HOUR);
    assert_eq!(measure(&g, &clock, server(T0 + 1_000)), ClockState::Agreed);
    assert!(g.check().is_ok());
    assert_eq!(g.now_ms(), clock.wall());
}

#[tokio::test]
async fn without_a_steady_clock_or_with_the_guard_off_the_system_clock_is_used() {
    let clock = TestClock::at(T0);
    let store = crate::storage::connect("sqlite::memory:").await.expect("an in-memory store");
    let g = ClockGuard::new(clock.clone(), store, 0, 60, 60);
    clock.step(HOUR);
    assert_eq!(g.now_ms(), clock.wall());
    assert!(g.check().is_ok());
}
