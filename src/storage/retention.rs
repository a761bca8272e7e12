//! Retention: which rows of the tables that grow with traffic may go, and when.
//!
//! Each table is one [`Rule`] in [`RULES`]: the column (or expression) its rows age by, any
//! condition that keeps a row whatever its age, and which window applies. Both backends run
//! every rule with the same statements (see `sql/retention.rs`), so a new table that grows
//! with traffic is retained by adding one entry here (and an index on its age expression).

/// How long a kind of row is kept once it is old enough to go, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Issuance records, after their token expired.
    pub issuance: i64,
    /// Activity events, after they happened.
    pub events: i64,
    /// Webhook deliveries and their events, after they were delivered or given up.
    pub webhooks: i64,
}

impl Default for Windows {
    /// The documented defaults (README, "Retention").
    fn default() -> Self {
        Self { issuance: 7 * DAY, events: 90 * DAY, webhooks: 30 * DAY }
    }
}

const DAY: i64 = 86_400;

/// Which window a rule keeps its rows for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    Issuance,
    Events,
    Webhooks,
    /// A fixed lifetime, not a setting.
    Fixed(i64),
}

/// One table's retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The table, also the `table` label of the retention metrics.
    pub table: &'static str,
    /// The columns that name one row, as SQL (`jti`, `client_id, key`).
    pub key: &'static str,
    /// The time (seconds since the epoch) a row's window counts from, as SQL over the row;
    /// an index on it finds each batch.
    pub age: &'static str,
    /// What [`Rule::age`] is, for people: a row is kept for the window "after" this (for
    /// `expires_at`: "it expires", a time that may be in the future).
    pub counts_from: &'static str,
    /// Which rows the rule ages at all, as SQL over the row ("" for every row; the same text
    /// as a partial index's predicate, so that index serves). Other rows are never removed
    /// and do not count as the table's oldest.
    pub scope: &'static str,
    /// A further condition a row must meet to be removed, as SQL over the row (alias `d`),
    /// or "".
    pub guard: &'static str,
    pub window: Window,
    /// The shortest window the rule accepts, whatever the setting.
    pub floor: i64,
}

/// How many seconds past `exp` a token still verifies (the verifier's leeway): an issuance
/// record is kept at least this long after its token expires, so a token that still
/// verifies is always found (and its revocation seen).
pub const TOKEN_LEEWAY_SECS: i64 = 60;

/// How long an idempotency key replays its first answer.
pub const IDEMPOTENCY_TTL_SECS: i64 = DAY;

/// Every table that grows with traffic. Rules run in this order: deliveries before the
/// outbox events they point to.
pub const RULES: &[Rule] = &[
    Rule {
        table: "issued_tokens",
        key: "jti",
        age: "expires_at",
        counts_from: "its token expires",
        scope: "",
        guard: "",
        window: Window::Issuance,
        floor: TOKEN_LEEWAY_SECS,
    },
    Rule {
        table: "connection_events",
        key: "id",
        age: "at",
        counts_from: "it happened",
        scope: "",
        guard: "",
        window: Window::Events,
        floor: 0,
    },
    Rule {
        table: "idempotency_keys",
        key: "client_id, key",
        age: "created_at",
        counts_from: "it was first used",
        scope: "",
        guard: "",
        window: Window::Fixed(IDEMPOTENCY_TTL_SECS),
        floor: 0,
    },
    Rule {
        table: "webhook_deliveries",
        key: "webhook_id, event_seq",
        // Pending deliveries (neither delivered nor given up) are out of scope: never removed.
        age: "COALESCE(delivered_at, failed_at)",
        counts_from: "it was delivered or given up",
        scope: "(delivered_at IS NOT NULL OR failed_at IS NOT NULL)",
        guard: "",
        window: Window::Webhooks,
        floor: 0,
    },
    Rule {
        table: "webhook_events",
        key: "seq",
        age: "created_at",
        counts_from: "it was created (once no delivery of it is left)",
        scope: "",
        // An event stays while any delivery of it is left.
        guard: "NOT EXISTS (SELECT 1 FROM webhook_deliveries x WHERE x.event_seq = d.seq)",
        window: Window::Webhooks,
        floor: 0,
    },
    Rule {
        table: "operator_sessions",
        key: "digest",
        // A console session dies once unused for its idle timeout, which is at most a day; the
        // sign-in that finds it dead deletes it, and this removes those never presented again.
        age: "last_seen_at",
        counts_from: "it was last used",
        scope: "",
        guard: "",
        window: Window::Fixed(SESSION_IDLE_MAX_SECS),
        floor: 0,
    },
    Rule {
        table: "link_sessions",
        key: "id",
        // A session ends by its expiry at the latest; the console shows it for as long as
        // activity events are kept.
        age: "expires_at",
        counts_from: "it expires",
        scope: "",
        guard: "",
        window: Window::Events,
        floor: 0,
    },
    Rule {
        table: "link_tokens",
        key: "digest",
        // An expired token is listed (`status=expired`) for as long as activity events are
        // kept; a revoked one until it would have expired, and as long again.
        age: "expires_at",
        counts_from: "it expires",
        scope: "",
        guard: "",
        window: Window::Events,
        floor: 0,
    },
];

/// The longest idle timeout a console session may have (`--console-idle-timeout` at most): a
/// session unused for this long is dead under any setting.
pub const SESSION_IDLE_MAX_SECS: i64 = DAY;

impl Rule {
    /// The rule of `table`, if it has one.
    pub fn of(table: &str) -> Option<&'static Rule> {
        RULES.iter().find(|r| r.table == table)
    }

    /// How long this rule keeps a row under `windows`.
    pub fn keep_secs(&self, windows: &Windows) -> i64 {
        let window = match self.window {
            Window::Issuance => windows.issuance,
            Window::Events => windows.events,
            Window::Webhooks => windows.webhooks,
            Window::Fixed(secs) => secs,
        };
        window.max(self.floor)
    }

    /// Rows whose age is at or before this time may go, at `now`.
    pub fn cutoff(&self, windows: &Windows, now: i64) -> i64 {
        now - self.keep_secs(windows)
    }
}

/// One table as retention sees it, for operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRetention {
    pub table: &'static str,
    /// Rows in the table: exact on SQLite, the planner's estimate on PostgreSQL (counting
    /// hundreds of millions of rows is itself a load).
    pub rows: i64,
    /// The age column of the oldest row the rule may one day remove (seconds since the
    /// epoch); `None` when there is none.
    pub oldest: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_token_record_is_never_a_candidate() {
        let issuance = Rule::of("issued_tokens").expect("rule");
        let zero = Windows { issuance: 0, events: 0, webhooks: 0 };
        assert_eq!(issuance.cutoff(&zero, 1_000), 1_000 - TOKEN_LEEWAY_SECS);
        assert_eq!(issuance.cutoff(&Windows::default(), 1_000), 1_000 - 7 * DAY);
    }

    #[test]
    fn every_rule_names_a_distinct_table() {
        let mut tables: Vec<_> = RULES.iter().map(|r| r.table).collect();
        tables.sort_unstable();
        tables.dedup();
        assert_eq!(tables.len(), RULES.len());
        let deliveries = RULES.iter().position(|r| r.table == "webhook_deliveries");
        let events = RULES.iter().position(|r| r.table == "webhook_events");
        assert!(deliveries < events, "deliveries go before the events they point to");
    }
}
