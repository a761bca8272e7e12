//! The pruner: on every replica, every `interval`, removes the rows of each retained table
//! that are past their window (see [`crate::storage::retention::RULES`]), in batches of
//! `batch` rows, each its own short transaction followed by a pause three times as long
//! (at least `pause`), so requests waiting for the database (on SQLite, for its one writer)
//! go first and keep at least three quarters of it while a backlog is worked through. Replicas pruning at once take
//! different rows (PostgreSQL: `SKIP LOCKED`; SQLite: one writer at a time).
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::storage::retention::{RULES, Windows};
use crate::storage::{Store, StoreError};
use crate::token::clock::Clock;

/// How the pruner runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub windows: Windows,
    /// Time between passes; `None` turns pruning off.
    pub interval: Option<Duration>,
    /// Rows one transaction deletes at most.
    pub batch: u32,
    /// The shortest pause after each batch.
    pub pause: Duration,
}

/// After a batch that took `took`, the pruner waits this many times as long (and at least
/// `pause`): while it works through a backlog it holds the database (on SQLite, its one
/// writer) for at most a quarter of the time, so token requests keep three quarters of it.
const YIELD_FACTOR: u32 = 3;

/// How long to wait after a full batch that took `took`.
pub fn pause_after(took: Duration, pause: Duration) -> Duration {
    (took * YIELD_FACTOR).max(pause)
}

/// Free pages (4 KiB each) one reclaiming step gives back on SQLite: 4 MiB.
const RECLAIM_PAGES: u32 = 1024;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Rows removed, per table, in rule order.
    pub pruned: Vec<(&'static str, u64)>,
    /// Pages given back to the file system.
    pub reclaimed_pages: u64,
}

/// One pass over every rule at `now`: prunes until nothing is left past its window, gives
/// the space back, and records the metrics.
pub async fn prune_once(
    store: &dyn Store,
    metrics: &Metrics,
    settings: &Settings,
    now: i64,
) -> Result<Pass, StoreError> {
    let mut pass = Pass::default();
    for rule in RULES {
        let cutoff = rule.cutoff(&settings.windows, now);
        let mut total = 0;
        loop {
            let started = std::time::Instant::now();
            let n = store.prune(rule, cutoff, settings.batch).await?;
            total += n;
            metrics.rows_pruned(rule.table, n);
            if n < u64::from(settings.batch) {
                break;
            }
            tokio::time::sleep(pause_after(started.elapsed(), settings.pause)).await;
        }
        pass.pruned.push((rule.table, total));
    }
    loop {
        let started = std::time::Instant::now();
        let n = store.reclaim_space(RECLAIM_PAGES).await?;
        pass.reclaimed_pages += n;
        if n < u64::from(RECLAIM_PAGES) {
            break;
        }
        tokio::time::sleep(pause_after(started.elapsed(), settings.pause)).await;
    }
    for rule in RULES {
        let oldest = store.oldest_row(rule).await?;
        metrics.oldest_row_age(rule.table, oldest.map_or(0, |t| (now - t).max(0)));
    }
    Ok(pass)
}

/// Prunes every `settings.interval` until the task is dropped.
pub async fn run(store: Arc<dyn Store>, clock: Arc<dyn Clock>, metrics: Arc<Metrics>, settings: Settings) {
    let Some(every) = settings.interval else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // What is past its retention is decided from the time: not from a clock in doubt.
        if !clock.trustworthy() {
            tracing::debug!("retention waits for the clock to be trusted");
            continue;
        }
        match prune_once(store.as_ref(), &metrics, &settings, clock.now()).await {
            Ok(pass) => {
                let rows: u64 = pass.pruned.iter().map(|(_, n)| n).sum();
                if rows > 0 || pass.reclaimed_pages > 0 {
                    tracing::debug!(rows, pages = pass.reclaimed_pages, "pruned rows past their retention");
                }
            }
            Err(e) => tracing::warn!(error = %crate::telemetry::Chain(&e), "could not prune rows past their retention"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pruner_yields_three_times_as_long_as_it_worked() {
        let floor = Duration::from_millis(10);
        assert_eq!(pause_after(Duration::from_millis(1), floor), floor);
        assert_eq!(pause_after(Duration::from_millis(20), floor), Duration::from_millis(60));
    }
}
