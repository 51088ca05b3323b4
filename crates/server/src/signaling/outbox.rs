//! Frames on their way to one connection: a queue and a wake-up rather than a channel, so that an
//! idle connection costs a few dozen bytes here.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One encoded frame (JSON text), shared when the same frame goes to several connections.
pub type Frame = Utf8Bytes;

/// Frames waiting for a connection that does not read them: past this, it is closed.
pub const MAX_QUEUED_FRAMES: usize = 256;

#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Frame>>,
    pub ready: tokio::sync::Notify,
    closed: AtomicBool,
    /// Closed because the participant connected again elsewhere (not a drop).
    replaced: AtomicBool,
}

impl Outbox {
    pub fn push(&self, frame: impl Into<Frame>) {
        {
            let mut queue = lock(&self.queue);
            if queue.len() >= MAX_QUEUED_FRAMES {
                self.closed.store(true, Ordering::Release);
            } else {
                queue.push_back(frame.into());
            }
        }
        self.ready.notify_one();
    }

    pub fn take(&self) -> VecDeque<Frame> {
        std::mem::take(&mut *lock(&self.queue))
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    /// Closes the connection because its participant opened the visit again elsewhere.
    pub fn replace(&self, farewell: impl Into<Frame>) {
        self.replaced.store(true, Ordering::Release);
        self.push(farewell);
        self.close();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn was_replaced(&self) -> bool {
        self.replaced.load(Ordering::Acquire)
    }
}

/// Locks one of the live tables. A panic while holding one of these locks leaves plain data
/// behind; carry on with it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_that_is_not_read_closes_instead_of_growing() {
        let outbox = Outbox::default();
        for _ in 0..MAX_QUEUED_FRAMES {
            outbox.push("x");
        }
        assert!(!outbox.is_closed());
        outbox.push("one too many");
        assert!(outbox.is_closed());
        assert_eq!(outbox.take().len(), MAX_QUEUED_FRAMES);
    }

    #[test]
    fn a_replaced_connection_gets_its_farewell_and_closes() {
        let outbox = Outbox::default();
        outbox.replace("bye");
        assert!(outbox.is_closed() && outbox.was_replaced());
        assert_eq!(outbox.take().len(), 1);
    }
}
