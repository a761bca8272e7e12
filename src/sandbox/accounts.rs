//! The sandbox retailer's accounts: documented test credentials, each showing one path
//! through Link, and the per-session state of a sign-in (failures, a pending one-time code).
//!
//! The state is keyed by a SHA-256 digest of the session's reference, so the reference itself
//! is held only while a request is handled; it is bounded and expires, so a flood of sessions
//! cannot grow it without limit.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// The password of every test account.
pub(crate) const PASSWORD: &str = "pass_good";
/// The one-time code `user_otp` is asked for.
pub(crate) const OTP_CODE: &str = "123456";
/// Failed attempts (passwords and codes) one session may make; the next ends it as `failed`.
pub(crate) const MAX_FAILURES: u8 = 5;

/// The test accounts, as the pages list them: (username, what happens).
pub(crate) const TEST_ACCOUNTS: [(&str, &str); 3] = [
    ("user_good", "links at once"),
    ("user_otp", "then asks for the one-time code 123456"),
    ("user_expiring", "links at once, then asks the customer to sign in again after a while"),
];

/// Which account signed in: what happens after the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Account {
    /// Stays linked.
    Good,
    /// Stays linked; had to give a one-time code first.
    Otp,
    /// Is reported `unauthenticated` a while after the link.
    Expiring,
}

/// What a username and password lead to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Signed in: link now.
    Link(Account),
    /// Right password; a one-time code comes next.
    AskCode,
    /// Wrong username or password.
    Wrong,
}

/// Checks a username and password against the test accounts.
pub(crate) fn check(username: &str, password: &str) -> Verdict {
    if password != PASSWORD {
        return Verdict::Wrong;
    }
    match username.trim() {
        "user_good" => Verdict::Link(Account::Good),
        "user_otp" => Verdict::AskCode,
        "user_expiring" => Verdict::Link(Account::Expiring),
        _ => Verdict::Wrong,
    }
}

/// Whether `code` is the one-time code (spaces around it are forgiven, as people paste them).
pub(crate) fn code_matches(code: &str) -> bool {
    code.trim() == OTP_CODE
}

/// A session's key in [`Attempts`]: the digest of its reference, never the reference.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionKey([u8; 32]);

impl SessionKey {
    pub(crate) fn of(reference: &str) -> Self {
        Self(Sha256::digest(reference.as_bytes()).into())
    }
}

/// One session's sign-in so far.
#[derive(Clone, Copy)]
struct Entry {
    failures: u8,
    awaiting_code: bool,
    expires: Instant,
}

/// Every session's sign-in state: at most `capacity` entries, each forgotten `ttl` after it
/// last changed.
pub(crate) struct Attempts {
    entries: Mutex<HashMap<SessionKey, Entry>>,
    capacity: usize,
    ttl: Duration,
}

impl Attempts {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity: capacity.max(1), ttl }
    }

    /// Whether the session passed its password and now owes a one-time code.
    pub(crate) fn awaiting_code(&self, key: SessionKey, now: Instant) -> bool {
        self.current(key, now).is_some_and(|e| e.awaiting_code)
    }

    /// Records that the session passed its password and owes a one-time code.
    pub(crate) fn await_code(&self, key: SessionKey, now: Instant) {
        self.update(key, now, |e| e.awaiting_code = true);
    }

    /// Records a failed attempt; answers how many the session has made.
    pub(crate) fn fail(&self, key: SessionKey, now: Instant) -> u8 {
        self.update(key, now, |e| e.failures = e.failures.saturating_add(1)).failures
    }

    /// Drops the session's state (it was completed).
    pub(crate) fn forget(&self, key: SessionKey) {
        self.lock().remove(&key);
    }

    /// How many sessions are remembered.
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        self.lock().len()
    }

    fn current(&self, key: SessionKey, now: Instant) -> Option<Entry> {
        self.lock().get(&key).copied().filter(|e| e.expires > now)
    }

    /// Changes the session's entry (a fresh one if it has none or it expired), making room
    /// first when the map is full.
    fn update(&self, key: SessionKey, now: Instant, change: impl FnOnce(&mut Entry)) -> Entry {
        let mut entries = self.lock();
        let fresh = Entry { failures: 0, awaiting_code: false, expires: now + self.ttl };
        let mut entry = entries.get(&key).copied().filter(|e| e.expires > now).unwrap_or(fresh);
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            make_room(&mut entries, now);
        }
        change(&mut entry);
        entry.expires = now + self.ttl;
        entries.insert(key, entry);
        entry
    }

    /// The map, even if a thread panicked holding it (the state is plain counters).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Drops expired entries; if none had expired, the one closest to expiring.
fn make_room(entries: &mut HashMap<SessionKey, Entry>, now: Instant) {
    let before = entries.len();
    entries.retain(|_, e| e.expires > now);
    if entries.len() < before {
        return;
    }
    if let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| *k) {
        entries.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_test_account_leads_where_the_page_says() {
        assert_eq!(check("user_good", "pass_good"), Verdict::Link(Account::Good));
        assert_eq!(check(" user_good ", "pass_good"), Verdict::Link(Account::Good));
        assert_eq!(check("user_otp", "pass_good"), Verdict::AskCode);
        assert_eq!(check("user_expiring", "pass_good"), Verdict::Link(Account::Expiring));
        for (user, pass) in [
            ("user_good", "pass_bad"),
            ("user_good", ""),
            ("someone", "pass_good"),
            ("", ""),
            ("USER_GOOD", "pass_good"),
        ] {
            assert_eq!(check(user, pass), Verdict::Wrong, "{user}/{pass}");
        }
        assert!(code_matches("123456") && code_matches(" 123456\n"));
        assert!(!code_matches("654321") && !code_matches("") && !code_matches("1234567"));
        assert!(TEST_ACCOUNTS.iter().all(|(u, _)| check(u, PASSWORD) != Verdict::Wrong));
    }

    #[test]
    fn failures_count_per_session_and_a_code_is_owed_until_forgotten() {
        let attempts = Attempts::new(100, Duration::from_secs(60));
        let now = Instant::now();
        let (a, b) = (SessionKey::of("ref-a"), SessionKey::of("ref-b"));
        assert_eq!(attempts.fail(a, now), 1);
        assert_eq!(attempts.fail(a, now), 2);
        assert_eq!(attempts.fail(b, now), 1);
        assert!(!attempts.awaiting_code(a, now));
        attempts.await_code(a, now);
        assert!(attempts.awaiting_code(a, now));
        assert_eq!(attempts.fail(a, now), 3, "a wrong code counts too, and keeps the code owed");
        assert!(attempts.awaiting_code(a, now));
        attempts.forget(a);
        assert!(!attempts.awaiting_code(a, now));
        assert_eq!(attempts.fail(a, now), 1);
    }

    #[test]
    fn state_expires_and_stays_bounded() {
        let attempts = Attempts::new(3, Duration::from_secs(60));
        let start = Instant::now();
        attempts.await_code(SessionKey::of("old"), start);
        let later = start + Duration::from_secs(61);
        assert!(!attempts.awaiting_code(SessionKey::of("old"), later), "expired");
        assert_eq!(attempts.fail(SessionKey::of("old"), later), 1, "an expired entry starts again");
        for i in 0..50 {
            attempts.fail(SessionKey::of(&format!("flood-{i}")), later + Duration::from_millis(i));
        }
        assert_eq!(attempts.remembered(), 3);
        assert_eq!(attempts.fail(SessionKey::of("flood-49"), later + Duration::from_secs(1)), 2, "the newest stay");
    }
}
