//! The durable issuance record, written with group commit.
//!
//! A request that mints a token hands its record to one writer task and waits; the writer
//! takes every record queued at that moment, commits them in one transaction, and only then
//! releases the waiting requests. So no response carries a token whose record could still be
//! lost, while the cost of a durable commit is shared by everything that arrived meanwhile.
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::storage::{IssuedToken, Store, StoreError};

/// The most records one transaction commits.
const MAX_BATCH: usize = 512;

type Job = (IssuedToken, oneshot::Sender<Result<(), StoreError>>);

/// A handle to the issuance writer. Cheap to clone.
#[derive(Clone)]
pub struct IssuanceLog {
    tx: mpsc::Sender<Job>,
}

/// The writer task itself, for shutting it down.
pub struct IssuanceWriter {
    task: tokio::task::JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

impl IssuanceWriter {
    /// Refuses new records, commits every record already queued, then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

impl IssuanceLog {
    /// Starts the writer task on `store`.
    pub fn start(store: Arc<dyn Store>) -> (Self, IssuanceWriter) {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(writer(store, rx, stop_rx));
        (Self { tx }, IssuanceWriter { task, stop })
    }

    /// Records `token` durably; returns once it is committed.
    pub async fn record(&self, token: IssuedToken) -> Result<(), StoreError> {
        let stopped = || StoreError::Unavailable("the issuance writer has stopped".into());
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
        let result = store.record_tokens_issued(&batch).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, records = batch.len(), "could not record issued tokens");
        }
        for (_, done) in jobs.drain(..) {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(StoreError::Unavailable(m)) => Err(StoreError::Unavailable(m.clone())),
                Err(e) => Err(StoreError::Other(e.to_string())),
            };
            // A requester that went away no longer needs its answer.
            let _ = done.send(r);
        }
    }
}
