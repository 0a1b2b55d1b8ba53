//! A connection whose writes must make progress: a client that stops reading its answer (or an
//! event stream it no longer drains) fills the socket's buffers, and every write then waits. After
//! [`WRITE_TIMEOUT`] without progress the write fails and hyper closes the connection, instead of
//! the client holding a file descriptor and the answer's memory for as long as it likes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Longest a write may wait for the client to read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

pin_project_lite::pin_project! {
    pub struct WriteDeadline<T> {
        #[pin]
        inner: T,
        limit: Duration,
        // set while a write waits; boxed because it is rare (an unread answer)
        waiting: Option<Pin<Box<Sleep>>>,
    }
}

impl<T> WriteDeadline<T> {
    pub fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            waiting: None,
        }
    }
}

/// What a write that waits gives: `Pending` until the deadline, then a time-out error; any
/// answer from the connection ends the wait.
fn watch<R>(
    polled: Poll<io::Result<R>>,
    waiting: &mut Option<Pin<Box<Sleep>>>,
    limit: Duration,
    cx: &mut Context<'_>,
) -> Poll<io::Result<R>> {
    if polled.is_ready() {
        *waiting = None;
        return polled;
    }
    let timer = waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
    if timer.as_mut().poll(cx).is_ready() {
        *waiting = None;
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client read nothing of its answer for {} s",
                limit.as_secs()
            ),
        )));
    }
    Poll::Pending
}

impl<T: AsyncRead> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write(cx, buf);
        watch(polled, this.waiting, *this.limit, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write_vectored(cx, bufs);
        watch(polled, this.waiting, *this.limit, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let polled = this.inner.poll_flush(cx);
        watch(polled, this.waiting, *this.limit, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_the_reader_never_takes_fails_after_the_limit() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut conn = WriteDeadline::new(near, Duration::from_secs(60));
        // the pipe holds 64 bytes: the rest waits for a reader that never comes
        let err = conn.write_all(&[7u8; 1000]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let mut got = vec![0u8; 64];
        far.read_exact(&mut got).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_served_whole() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut conn = WriteDeadline::new(near, Duration::from_secs(60));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            let mut chunk = [0u8; 16];
            loop {
                // each read comes well inside the limit, and their sum is far past it
                tokio::time::sleep(Duration::from_secs(30)).await;
                match far.read(&mut chunk).await.unwrap() {
                    0 => return all,
                    n => all.extend_from_slice(&chunk[..n]),
                }
            }
        });
        conn.write_all(&[7u8; 1000]).await.unwrap();
        conn.shutdown().await.unwrap();
        assert_eq!(reader.await.unwrap().len(), 1000);
    }
}
