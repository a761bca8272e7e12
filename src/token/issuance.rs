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
        match result {
            Ok(outcomes) => {
                for ((_, done), outcome) in jobs.drain(..).zip(outcomes) {
                    // A requester that went away no longer needs its answer.
                    let _ = done.send(Ok(outcome));
                }
            }
            Err(e) => {
                for (_, done) in jobs.drain(..) {
                    let _ = done.send(Err(match &e {
                        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
                        e => StoreError::Other(e.to_string()),
                    }));
                }
            }
        }
    }
}
