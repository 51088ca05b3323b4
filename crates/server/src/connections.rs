//! Connections that never end cannot take the server offline: each source address gets a cap on
//! open connections, every socket an idle deadline (nothing read or written for a while closes
//! it, whatever the protocol: a silent socket, an idle keep-alive, an upgraded WebSocket), and
//! the process raises its open file limit to what the system allows at start.
//!
//! Header dribbles (a slowloris header line every few seconds) keep a socket busy, so they are
//! stopped by hyper's header read timeout, set where the server is built (`startup.rs`).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The connection limits, shared by every accepted socket.
#[derive(Clone)]
pub struct Limits {
    per_address: u32,
    idle: Duration,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Limits {
    pub fn new(per_address: u32, idle: Duration) -> Self {
        Self {
            per_address,
            idle,
            open: Arc::default(),
        }
    }

    /// Takes a slot for `ip`, or none when the address has all its connections open.
    fn take(&self, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(Slot {
            ip,
            open: self.open.clone(),
        })
    }

    /// Open connections from `ip` (for tests and metrics).
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

/// One open connection of an address; given back when the connection is dropped.
struct Slot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl<S> Accept<TcpStream, S> for Limits {
    type Stream = Guarded<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let ip = match stream.peer_addr() {
            Ok(addr) => addr.ip(),
            Err(e) => return std::future::ready(Err(e)),
        };
        let Some(slot) = self.take(ip) else {
            // Dropping the stream closes it at once: its file descriptor is free again.
            tracing::warn!(%ip, limit = self.per_address, "connection refused: too many open from this address");
            return std::future::ready(Err(io::Error::other(
                "too many connections from one address",
            )));
        };
        std::future::ready(Ok((Guarded::new(stream, self.idle, slot), service)))
    }
}

/// A socket that fails its next read once nothing has passed either way for `idle`.
pub struct Guarded<S> {
    inner: S,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
    _slot: Slot,
}

impl<S> Guarded<S> {
    fn new(inner: S, idle: Duration, slot: Slot) -> Self {
        let last = Instant::now();
        Self {
            inner,
            idle,
            last,
            timer: Box::pin(tokio::time::sleep_until(last + idle)),
            _slot: slot,
        }
    }

    /// Pending while the connection is within its idle limit; an error once it is past it.
    /// Activity only moves `last`: the timer is re-armed lazily when it fires early.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let deadline = self.last + self.idle;
            if Instant::now() >= deadline {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle connection closed",
                )));
            }
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.last = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.poll_idle(cx),
            failed => failed,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.last = Instant::now();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.last = Instant::now();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Raises the soft limit on open files to the hard limit, and logs what it is: a service
/// started with the usual 1,024 would otherwise run out of sockets long before memory.
pub fn raise_file_limit() {
    use rlimit::Resource;
    match Resource::NOFILE.get() {
        Ok((soft, hard)) if soft < hard => match Resource::NOFILE.set(hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "raised the open file limit"),
            Err(e) => {
                tracing::warn!(limit = soft, error = %e, "cannot raise the open file limit")
            }
        },
        Ok((soft, _)) => tracing::info!(limit = soft, "open file limit (the system's maximum)"),
        Err(e) => tracing::warn!(error = %e, "cannot read the open file limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_connections_back_when_they_close() {
        let limits = Limits::new(2, Duration::from_secs(60));
        let ip = IpAddr::from([10, 0, 0, 1]);
        let first = limits.take(ip);
        let second = limits.take(ip);
        assert!(first.is_some() && second.is_some());
        assert!(limits.take(ip).is_none(), "a third is refused");
        assert!(limits.take(IpAddr::from([10, 0, 0, 2])).is_some());
        drop(first);
        assert_eq!(limits.open_from(ip), 1);
        assert!(limits.take(ip).is_some());
    }
}
