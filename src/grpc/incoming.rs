//! The gRPC listener's accepted connections, at most `max` open at once (as HTTP's
//! `--max-connections`): beyond it, new connections wait in the kernel's accept queue instead
//! of costing memory. Each has TCP_NODELAY, so a small answer never waits for the peer's
//! delayed ACK.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Pause after a failed accept (e.g. out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// An accepted connection holding one of the open-connection slots until it closes.
#[derive(Debug)]
pub(super) struct Admitted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

/// Connections from `listener`, each admitted once fewer than `max` are open.
pub(super) fn admitted(
    listener: TcpListener,
    max: usize,
) -> impl Stream<Item = io::Result<Admitted>> {
    let slots = Arc::new(Semaphore::new(max.max(1)));
    futures_util::stream::unfold((listener, slots), |(listener, slots)| async move {
        // OK because the semaphore is never closed.
        let slot = slots.clone().acquire_owned().await.ok()?;
        let admitted = match listener.accept().await {
            Ok((stream, _)) => stream.set_nodelay(true).map(|()| Admitted {
                stream,
                _slot: slot,
            }),
            Err(error) => {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                Err(error)
            }
        };
        Some((admitted, (listener, slots)))
    })
}

impl Connected for Admitted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
