//! The issuance writer's own connection: each batch of tokens in one transaction, on the
//! writer's thread.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::checkpoint::LogRestart;
use crate::domain::token::IssuedToken;
use crate::storage::{StoreError, cause};

/// SQLite's issuance statements take `?` placeholders (bound in constant time each).
pub(super) const ISSUANCE_NUMBERED: bool = false;
/// Nor do they lock rows: SQLite's writers take turns.
pub(super) const ISSUANCE_LOCK: &str = "";

/// SQLite's issuance statement for `rows` tokens, without transaction control: the one text
/// both of its writers run. The issuance writer's own connection runs it for one token at a
/// time inside its transaction (below); the pool's writer runs it inside one of
/// its own (`SqlBackend::issuance_sql` in `sqlite/mod.rs`); the conformance suite runs both.
/// Built once, like every other issuance statement, from [`crate::storage::sql::issuance_sql`].
pub(super) fn issuance_statement(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    crate::storage::sql::issuance_sql(&SQL, rows, ISSUANCE_NUMBERED, ISSUANCE_LOCK, |insert| insert)
}

/// Records one token if its connection is the client's and not disconnected and its key is
/// the client's and not revoked, returning its jti and the customer id its claims carry (read
/// in the same step): the one-token form of the statement the pool's writer runs, so that the
/// conformance suite's checks of that one hold for this one.
fn issue_one() -> &'static str {
    issuance_statement(1)
}

/// The issuance writer's own connection to the database file, used from the writer's thread
/// alone: a batch is one `BEGIN IMMEDIATE` ... `COMMIT` run straight through on that thread,
/// with no hand-off to a connection's worker thread and back for each statement.
pub(super) struct SqliteIssuance {
    conn: rusqlite::Connection,
    /// Between the checkpointer and this writer (see [`checkpoint`]).
    restart: Arc<LogRestart>,
    /// The longest wait for SQLite's write lock.
    timeout: std::time::Duration,
}

impl SqliteIssuance {
    /// Opens `path` (already created and migrated, in WAL mode) with the settings of every
    /// other connection: `synchronous = FULL`, foreign keys on, and no automatic checkpoint
    /// inside a commit (the checkpointer does that).
    pub(super) fn open(
        path: &Path,
        timeout: std::time::Duration,
        restart: Arc<LogRestart>,
    ) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let setup = |e: rusqlite::Error| StoreError::Setup(format!("cannot open the issuance connection: {e}"));
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(setup)?;
        conn.busy_timeout(timeout).map_err(setup)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(setup)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Setup(format!("the database is in journal mode {mode}, not WAL")));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;")
            .map_err(setup)?;
        Ok(Self { conn, restart, timeout })
    }
}

impl crate::storage::IssuanceConnection for SqliteIssuance {
    /// Copies what is left of the log into the database file and starts the log over, when
    /// the checkpointer asked for it: after a batch is answered and before the next begins.
    fn maintain(&mut self) {
        if !self.restart.cue.load(Ordering::Relaxed) {
            return;
        }
        // Without waiting: when the checkpointer or a reader is in the way, this copies what
        // it can and the next batch tries again.
        let restart = |conn: &rusqlite::Connection| {
            conn.busy_timeout(std::time::Duration::ZERO)?;
            let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
            conn.busy_timeout(self.timeout)?;
            busy
        };
        match restart(&self.conn) {
            Ok(0) => self.restart.cue.store(false, Ordering::Relaxed),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "log restart skipped"),
        }
    }
    fn record(&mut self, batch: &[IssuedToken]) -> Result<Vec<crate::storage::Recorded>, StoreError> {
        use rusqlite::{OptionalExtension as _, TransactionBehavior, params};
        // A batch whose commit failed rolled back when its transaction was dropped; should that
        // rollback itself have failed, end the transaction now rather than fail every batch.
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK").map_err(issuance_error)?;
        }
        // Dropped without a commit, the transaction rolls back.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(issuance_error)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut one = tx.prepare_cached(issue_one()).map_err(issuance_error)?;
            for t in batch {
                let row = one
                    .query_row(
                        params![
                            t.jti.as_str(),
                            t.connection_id.as_str(),
                            t.client_id.as_str(),
                            t.api_key_id.as_str(),
                            t.kid.as_str(),
                            t.issued_at,
                            t.expires_at
                        ],
                        // (jti, customer_id)
                        |r| r.get::<_, String>(1),
                    )
                    .optional();
                outcomes.push(match row {
                    Ok(customer) => Ok(customer),
                    // A constraint refuses this statement alone; the transaction goes on.
                    Err(
                        e @ rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error { code: rusqlite::ErrorCode::ConstraintViolation, .. },
                            _,
                        ),
                    ) => Err(issuance_error(e)),
                    // Anything else may have ended the transaction: the whole batch fails.
                    Err(e) => return Err(issuance_error(e)),
                });
            }
        }
        tx.commit().map_err(issuance_error)?;
        self.restart.batches.fetch_add(1, Ordering::Relaxed);
        Ok(outcomes)
    }
}

fn issuance_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DiskFull => StoreError::DiskFull(cause(e)),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::SystemIoFailure => {
                StoreError::Unavailable(cause(e))
            }
            ErrorCode::ConstraintViolation if f.extended_code == 2067 || f.extended_code == 1555 => {
                StoreError::Conflict(cause(e))
            }
            _ => StoreError::Database(cause(e)),
        },
        _ => StoreError::Database(cause(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sql::SqlBackend as _;

    /// The pool's writer runs the very statement this writer runs, inside its transaction.
    #[test]
    fn both_writers_run_one_statement() {
        let pooled = <super::super::SqliteStore>::issuance_sql(1);
        assert_eq!(pooled, format!("BEGIN IMMEDIATE; {}; COMMIT", issue_one()));
        assert!(std::ptr::eq(issue_one(), issue_one()), "built once");
    }

    /// The statement's `?` placeholders bind by position, in the order `record` binds them,
    /// and it refuses what may not be issued.
    #[test]
    fn the_statement_binds_by_position() {
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE connections (id TEXT PRIMARY KEY, client_id TEXT, customer_id TEXT, status TEXT);
             CREATE TABLE api_keys (id TEXT PRIMARY KEY, client_id TEXT, revoked_at INTEGER);
             CREATE TABLE issued_tokens (jti TEXT PRIMARY KEY, connection_id TEXT, client_id TEXT,
                 api_key_id TEXT, kid TEXT, issued_at INTEGER, expires_at INTEGER, customer_id TEXT);
             INSERT INTO connections VALUES ('conn', 'client', 'cust', 'active'), ('gone', 'client', 'x', 'disconnected');
             INSERT INTO api_keys VALUES ('key', 'client', NULL);",
        )
        .expect("schema");
        let mut one = conn.prepare_cached(issue_one()).expect("prepare");
        let mut issue = |jti: &str, connection: &str, client: &str| {
            use rusqlite::OptionalExtension as _;
            one.query_row(rusqlite::params![jti, connection, client, "key", "kid", 1_000, 1_900], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()
            .expect("run")
        };
        assert_eq!(issue("t1", "conn", "client"), Some(("t1".to_owned(), "cust".to_owned())));
        assert_eq!(issue("t2", "gone", "client"), None, "disconnected");
        assert_eq!(issue("t3", "conn", "other"), None, "another client's");
        let row: (String, String, String, String, i64, i64) = conn
            .query_row(
                "SELECT connection_id, client_id, api_key_id, kid, issued_at, expires_at FROM issued_tokens WHERE jti = 't1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .expect("recorded");
        assert_eq!(row, ("conn".into(), "client".into(), "key".into(), "kid".into(), 1_000, 1_900));
    }
}
