//! The durable issuance record, written with group commit.
//!
//! A request that mints a token hands its record to one writer task and waits; the writer
//! takes every record queued at that moment, commits them in one transaction, and only then
//! releases the waiting requests. So no response carries a token whose record could still be
//! lost, while the cost of a durable commit is shared by everything that arrived meanwhile.
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::token::IssuedToken;
use crate::storage::{Store, StoreError, cause_msg};
use crate::telemetry::Chain;

/// The most records one transaction commits.
const MAX_BATCH: usize = 512;

type Job = (IssuedToken, oneshot::Sender<Result<Option<String>, StoreError>>);

/// A handle to the issuance writer. Cheap to clone.
#[derive(Clone)]
pub struct IssuanceLog {
    tx: mpsc::Sender<Job>,
}

/// The writer itself, for shutting it down.
pub struct IssuanceWriter {
    finished: oneshot::Receiver<()>,
    stop: oneshot::Sender<()>,
}

impl IssuanceWriter {
    /// Refuses new records, commits every record already queued, then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.finished.await;
    }
}

impl IssuanceLog {
    /// Starts the writer on `store`, on a thread of its own in the current runtime: every
    /// request waits for it, so it must not wait in line behind those requests' tasks for
    /// each step of its transaction.
    pub fn start(store: Arc<dyn Store>) -> (Self, IssuanceWriter) {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (stop, stop_rx) = oneshot::channel();
        let (finished_tx, finished) = oneshot::channel();
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("tessera-issuance".into())
            .spawn(move || {
                runtime.block_on(writer(store, rx, stop_rx));
                let _ = finished_tx.send(());
            })
            .expect("the issuance writer thread starts");
        (Self { tx }, IssuanceWriter { finished, stop })
    }

    /// Records `token` durably; returns once it is committed, with its connection's customer
    /// id, or `None` when the store refused it (see [`Store::record_tokens_issued`]).
    pub async fn record(&self, token: IssuedToken) -> Result<Option<String>, StoreError> {
        let stopped = || StoreError::Unavailable(cause_msg("the issuance writer has stopped"));
        let (done_tx, done_rx) = oneshot::channel();
        self.tx.send((token, done_tx)).await.map_err(|_| stopped())?;
        done_rx.await.map_err(|_| stopped())?
    }

    /// Records waiting to be committed.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>, mut stop: oneshot::Receiver<()>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    loop {
        let received = if stopping {
            rx.recv_many(&mut jobs, MAX_BATCH).await
        } else {
            tokio::select! {
                n = rx.recv_many(&mut jobs, MAX_BATCH) => n,
                _ = &mut stop => {
                    // No new records; what is queued is still committed below.
                    rx.close();
                    stopping = true;
                    continue;
                }
            }
        };
        if received == 0 {
            return;
        }
        let batch: Vec<IssuedToken> = jobs.iter().map(|(t, _)| t.clone()).collect();
        for ((_, done), outcome) in jobs.drain(..).zip(record(store.as_ref(), &batch).await) {
            // A requester that went away no longer needs its answer.
            let _ = done.send(outcome);
        }
    }
}

/// Records `batch` in one statement; when that fails for a reason other than the database
/// being unavailable, records each token on its own, so that one request's bad row (which
/// the statement refuses whole) fails that request alone and never its neighbours.
async fn record(store: &dyn Store, batch: &[IssuedToken]) -> Vec<Result<Option<String>, StoreError>> {
    let e = match store.record_tokens_issued(batch).await {
        Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
        Err(e) => e,
    };
    if batch.len() > 1 && !matches!(e, StoreError::Unavailable(_)) {
        tracing::warn!(error = %Chain(&e), records = batch.len(), "a batch of issued tokens was refused: recording each alone");
        let mut outcomes = Vec::with_capacity(batch.len());
        for token in batch {
            let one = store.record_tokens_issued(std::slice::from_ref(token)).await;
            if let Err(e) = &one {
                tracing::error!(error = %Chain(e), "could not record an issued token");
            }
            outcomes.push(one.map(|mut o| o.pop().flatten()));
        }
        return outcomes;
    }
    tracing::error!(error = %Chain(&e), records = batch.len(), "could not record issued tokens");
    batch.iter().map(|_| Err(e.clone())).collect()
}
