//! One deadline for every request body, whoever reads it (the API's JSON extractor, the Link
//! pages' and the console's forms), and a cap on the bodies one address may have unfinished
//! at once: a client that announces a body and trickles it (or never sends it) is answered
//! `408` at the deadline instead of holding a task, and cannot have more than a bounded
//! number of bodies waiting for their bytes however many connections it opens; nor can all addresses together hold more
//! than [`MAX_UNFINISHED`].
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::Frame;

/// How many request bodies one address may have waiting for their bytes at once. A body sent
/// with its request's head (nearly every API call and form) never waits and takes no place;
/// one waits while a client trickles it, or after `Expect: 100-continue`. Well past what a
/// busy API client or a proxy's pool has in flight, far below what holds a server's tasks.
pub const MAX_UNFINISHED_PER_ADDRESS: usize = 256;

/// How many request bodies the whole server may have unfinished at once, from every address
/// together: many addresses trickling bodies (a botnet, or clients behind many proxies) cannot
/// hold more than this many tasks, and the rest are told to come back.
pub const MAX_UNFINISHED: usize = 1024;

/// The bodies in progress, per address and in all.
pub struct Unfinished {
    per_address: Mutex<HashMap<IpAddr, usize>>,
    limit: usize,
}

impl Default for Unfinished {
    fn default() -> Self {
        Self::with_limit(MAX_UNFINISHED)
    }
}

impl Unfinished {
    /// At most `limit` unfinished bodies in all.
    pub fn with_limit(limit: usize) -> Self {
        Self { per_address: Mutex::default(), limit }
    }

    /// A slot for one more unfinished body from `ip`; `None` when it has
    /// [`MAX_UNFINISHED_PER_ADDRESS`] already, or the server has its limit in all.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut map = self.per_address.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let total: usize = map.values().sum();
        let n = map.entry(ip).or_insert(0);
        if *n >= MAX_UNFINISHED_PER_ADDRESS || total >= self.limit {
            if *n == 0 {
                map.remove(&ip);
            }
            return None;
        }
        *n += 1;
        Some(Slot { owner: self.clone(), ip })
    }
}

/// One unfinished body's place; given back when the body ends or is dropped.
pub struct Slot {
    owner: Arc<Unfinished>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.owner.per_address.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The error a body gives when its deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct TimedOut;

/// The error a body gives when it would wait for its bytes with its address (or the
/// server) at the cap of bodies waiting.
#[derive(Debug, thiserror::Error)]
#[error("too many request bodies are waiting for their bytes")]
pub struct TooMany;

/// What became of a wrapped body, for the answer: it was late (`408`), or could not wait
/// (`429`), whatever its reader made of the failure.
#[derive(Default)]
pub struct Fate {
    pub timed_out: AtomicBool,
    pub refused: AtomicBool,
}

/// A request body that fails once `deadline` has passed before its end, and that holds a
/// [`Slot`] of its address while it waits for bytes (given back when it ends).
pub struct Deadline {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    fate: Arc<Fate>,
    /// Where to take a slot, and whose, when the body must wait.
    unfinished: Option<(Arc<Unfinished>, IpAddr)>,
    slot: Option<Slot>,
}

impl Deadline {
    pub fn wrap(inner: Body, timeout: Duration, unfinished: Option<(Arc<Unfinished>, IpAddr)>) -> (Body, Arc<Fate>) {
        let fate = Arc::new(Fate::default());
        let body = Deadline {
            inner,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            fate: fate.clone(),
            unfinished,
            slot: None,
        };
        (Body::new(body), fate)
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.fate.timed_out.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(axum::Error::new(TimedOut))));
        }
        if this.fate.refused.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(axum::Error::new(TooMany))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    this.fate.timed_out.store(true, Ordering::Release);
                    this.slot = None;
                    return Poll::Ready(Some(Err(axum::Error::new(TimedOut))));
                }
                // Waiting for bytes: that takes one of the address's places.
                if this.slot.is_none()
                    && let Some((unfinished, ip)) = &this.unfinished
                {
                    match unfinished.take(*ip) {
                        Some(slot) => this.slot = Some(slot),
                        None => {
                            this.fate.refused.store(true, Ordering::Release);
                            return Poll::Ready(Some(Err(axum::Error::new(TooMany))));
                        }
                    }
                }
                Poll::Pending
            }
            Poll::Ready(frame) => {
                if frame.is_none() || this.inner.is_end_stream() {
                    this.slot = None;
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_bodies_are_capped_per_address_and_in_all() {
        let unfinished = Arc::new(Unfinished::with_limit(MAX_UNFINISHED_PER_ADDRESS + 4));
        let a: IpAddr = [10, 0, 0, 1].into();
        let held: Vec<Slot> = (0..MAX_UNFINISHED_PER_ADDRESS).map(|_| unfinished.take(a).expect("a slot")).collect();
        assert!(unfinished.take(a).is_none(), "one address holds at most its share");
        let others: Vec<Slot> =
            (0..4u8).map(|i| unfinished.take([10, 0, 1, i].into()).expect("another address")).collect();
        assert!(unfinished.take([10, 0, 2, 1].into()).is_none(), "the server holds at most its limit in all");
        drop(others);
        assert!(unfinished.take([10, 0, 2, 1].into()).is_some(), "a slot given back is free again");
        drop(held);
        assert!(unfinished.take(a).is_some());
    }
}
