//! The write-ahead log's checkpoints, off every commit, and the restarts of the log shared
//! with the issuance writer.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::SqlitePool;

/// What the checkpointer and the issuance writer share to restart the log.
#[derive(Default)]
pub(super) struct LogRestart {
    /// Set by the checkpointer when the log should be restarted.
    pub(super) cue: AtomicBool,
    /// Batches the issuance writer has committed: unchanged over a round, the writer is idle.
    pub(super) batches: AtomicU64,
}

/// How often the write-ahead log is checkpointed.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Past this many frames (about 16 MiB) the log is restarted from its beginning.
const WAL_RESTART_FRAMES: i64 = 4096;
/// A restart waits for no more than this many frames to be copied while writers wait.
const WAL_RESTART_BACKLOG: i64 = 256;

/// Checkpoints the write-ahead log from a reading connection, so that no commit waits for
/// one (SQLite would otherwise run it inside whichever commit crosses the log's size
/// threshold). `PASSIVE` neither waits for nor blocks readers and writers, but under steady
/// writes it never copies the very end of the log, so the log would only grow. Once it is
/// long and little is left to copy, the log is restarted. While the issuance writer is busy,
/// the writer does that between two of its batches, without waiting for anyone (`cue`); a
/// `RESTART` checkpoint from here would hold every writer back while it waits for the
/// checkpoint lock and for readers, and the issuance writer would sleep in SQLite's busy
/// handler behind it (stalls of up to 1.6 s were measured so). When the issuance writer is
/// idle, the `RESTART` runs here.
pub(super) async fn checkpoint(pool: SqlitePool, restart: Arc<LogRestart>) {
    let passive = || sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool);
    let mut batches = restart.batches.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let result = async {
            let (_, mut log, mut copied) = passive().await?;
            let busy = std::mem::replace(&mut batches, restart.batches.load(Ordering::Relaxed)) != batches;
            if log <= WAL_RESTART_FRAMES {
                restart.cue.store(false, Ordering::Relaxed);
                return Ok(());
            }
            for _ in 0..20 {
                if log - copied <= WAL_RESTART_BACKLOG {
                    break;
                }
                (_, log, copied) = passive().await?;
            }
            if log - copied > WAL_RESTART_BACKLOG {
                return Ok(());
            }
            if busy {
                restart.cue.store(true, Ordering::Relaxed);
            } else {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&pool).await?;
            }
            Ok::<_, sqlx::Error>(())
        };
        if let Err(e) = result.await {
            tracing::debug!(error = %e, "checkpoint skipped");
        }
    }
}
