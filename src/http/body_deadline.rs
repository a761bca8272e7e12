//! One deadline for every request body, whoever reads it (the API's JSON extractor, the Link
//! pages' and the console's forms), and a cap on the bodies one address may have unfinished
//! at once: a client that announces a body and trickles it (or never sends it) is answered
//! `408` at the deadline instead of holding a task, and cannot hold more than a few such
//! requests open however many connections it opens.
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::Frame;

/// How many request bodies one address may have unfinished at once. Well past what a
/// browser or an API client sends in parallel (a browser opens six connections to a host),
/// far below what holds a server's tasks.
pub const MAX_UNFINISHED_PER_ADDRESS: usize = 16;

/// The bodies in progress, per address.
#[derive(Default)]
pub struct Unfinished(Mutex<HashMap<IpAddr, usize>>);

impl Unfinished {
    /// A slot for one more unfinished body from `ip`; `None` when it has
    /// [`MAX_UNFINISHED_PER_ADDRESS`] already.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= MAX_UNFINISHED_PER_ADDRESS {
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
        let mut map = self.owner.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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

/// A request body that fails once `deadline` has passed before its end, noting that it did
/// (the answer is then a 408, whatever the reader made of the failure), and holds its
/// [`Slot`] until it ends.
pub struct Deadline {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
    slot: Option<Slot>,
}

impl Deadline {
    pub fn wrap(inner: Body, timeout: Duration, slot: Option<Slot>) -> (Body, Arc<AtomicBool>) {
        let timed_out = Arc::new(AtomicBool::new(false));
        let body = Deadline { inner, sleep: Box::pin(tokio::time::sleep(timeout)), timed_out: timed_out.clone(), slot };
        (Body::new(body), timed_out)
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.timed_out.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(axum::Error::new(TimedOut))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    this.timed_out.store(true, Ordering::Release);
                    this.slot = None;
                    return Poll::Ready(Some(Err(axum::Error::new(TimedOut))));
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
