//! Serving the router over TCP with connection limits that a per-request timeout cannot give:
//! a header-read timeout (a client that sends half a request is cut off), an idle timeout (a
//! connection with no request in flight and none begun for that long is closed, HTTP/1.1 and
//! HTTP/2 alike: HTTP/2 PINGs and other frames that carry no request do not keep it open), a
//! maximum connection age (then the connection is closed gracefully: HTTP/2 `GOAWAY`, HTTP/1.1
//! after the answer in flight), a cap on open connections (beyond it, new ones wait in the
//! kernel's accept queue instead of costing memory) and a cap per client address (beyond it,
//! new ones are closed at once; trusted proxies are exempt, IPv6 counts by network).
//!
//! HTTP/1.1 and HTTP/2 (prior knowledge) are served by hyper-util's auto builder. When the
//! process stops (`shutdown`), the loop stops accepting, closes every connection gracefully
//! (in-flight requests finish) and gives up on connections still open at the deadline.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::listen::ConnectionLimits;
use crate::shutdown::Shutdown;

/// Longest wait for a connection closing at its maximum age.
const MAX_AGE_GRACE: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` stops the process, then lets open
/// connections finish until its deadline. Connections from `exempt` peers (trusted proxies,
/// which carry many clients) are not capped per address.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    exempt: Vec<IpNet>,
    shutdown: Shutdown,
) {
    let builder = connection_builder(&limits);
    let max_connections = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max_connections));
    let per_ip = PerIp::new(limits, exempt);
    let stopped = shutdown.stopping();
    tokio::pin!(stopped);
    let deadline = loop {
        let accepted = tokio::select! {
            deadline = &mut stopped => break deadline,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, peer, slot)) = accepted else {
            continue;
        };
        let Some(counted) = per_ip.admit(peer.ip()) else {
            tracing::debug!("connection refused: too many from one address");
            continue;
        };
        let activity = Activity::start();
        let service = request_service(router.clone(), peer, activity.clone());
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let held = (slot, counted);
        tokio::spawn(drive(connection, activity, limits, shutdown.clone(), held));
    };
    drop(listener);
    wait_for_connections(&slots, max_connections, deadline).await;
}

/// Serves one connection until it ends, stays idle too long, reaches its maximum age or the
/// server stops; `_held` (its slot and per-address count) is given back when it ends.
async fn drive<C>(
    connection: C,
    activity: Activity,
    limits: ConnectionLimits,
    shutdown: Shutdown,
    _held: (OwnedSemaphorePermit, Option<Counted>),
) where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(connection);
    let deadline = tokio::select! {
        served = connection.as_mut() => {
            if let Err(error) = served {
                tracing::debug!(%error, "connection ended with an error");
            }
            return;
        }
        () = activity.idle_for(limits.idle_timeout) => {
            tracing::debug!("idle connection closed");
            return;
        }
        () = tokio::time::sleep(limits.max_age) => {
            tracing::debug!("connection reached its maximum age");
            Instant::now() + MAX_AGE_GRACE
        }
        deadline = shutdown.stopping() => deadline,
    };
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout_at(deadline, connection).await;
}

/// HTTP/1.1 and HTTP/2 with the header-read timeout.
fn connection_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// One connection's service: each request carries the peer address and counts as activity.
fn request_service(
    router: Router,
    peer: SocketAddr,
    activity: Activity,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = activity.begin();
        let answer = router.clone().oneshot(request.map(axum::body::Body::new));
        async move {
            let answered = answer.await;
            drop(in_flight);
            answered
        }
    })
}

/// Every connection holds a slot until it ends: all slots back means all connections done.
async fn wait_for_connections(slots: &Semaphore, max_connections: usize, deadline: Instant) {
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout_at(deadline, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period were dropped");
    }
}

/// Waits for a free connection slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    // OK because the semaphore is never closed.
    let slot = slots.clone().acquire_owned().await.expect("open semaphore");
    match listener.accept().await {
        Ok((stream, peer)) => {
            let _ = stream.set_nodelay(true);
            Some((stream, peer, slot))
        }
        Err(error) => {
            tracing::warn!(%error, "cannot accept a connection");
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            None
        }
    }
}

/// Open connections per client address.
#[derive(Clone)]
struct PerIp {
    open: Arc<Mutex<HashMap<IpNet, usize>>>,
    max: usize,
    ipv6_prefix: u8,
    exempt: Arc<Vec<IpNet>>,
}

/// One counted connection; uncounted when dropped.
struct Counted {
    open: Arc<Mutex<HashMap<IpNet, usize>>>,
    key: IpNet,
}

impl PerIp {
    fn new(limits: ConnectionLimits, exempt: Vec<IpNet>) -> Self {
        Self {
            open: Arc::default(),
            max: limits.max_per_ip,
            ipv6_prefix: limits.ipv6_prefix,
            exempt: Arc::new(exempt),
        }
    }

    /// Counts a connection from `ip`: `None` when that address already has its cap.
    fn admit(&self, ip: IpAddr) -> Option<Option<Counted>> {
        let ip = ip.to_canonical();
        if self.max == 0 || self.exempt.iter().any(|net| net.contains(&ip)) {
            return Some(None);
        }
        let key = match ip {
            IpAddr::V4(_) => IpNet::from(ip),
            IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, self.ipv6_prefix.min(128))
                .map_or(IpNet::from(ip), |net| IpNet::V6(net.trunc())),
        };
        // OK because no code panics while holding this lock.
        let mut open = self.open.lock().expect("per-IP counts");
        let count = open.entry(key).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Some(Counted {
            open: self.open.clone(),
            key,
        }))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // OK because no code panics while holding this lock.
        let mut open = self.open.lock().expect("per-IP counts");
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A connection's requests: how many are in flight, and when the last began or ended (in
/// milliseconds since the connection opened). Only requests count as activity.
#[derive(Clone)]
struct Activity {
    opened: Instant,
    last: Arc<AtomicU64>,
    in_flight: Arc<AtomicUsize>,
}

/// A request in flight; it ends when dropped (answered, or abandoned).
struct InFlight(Activity);

impl Activity {
    fn start() -> Self {
        Self {
            opened: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(millis, Ordering::Relaxed);
    }

    fn begin(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// Completes once no request has been in flight, and none begun, for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = self.opened + last + limit;
            let busy = self.in_flight.load(Ordering::Relaxed) > 0;
            if !busy && Instant::now() >= deadline {
                return;
            }
            match busy {
                true => tokio::time::sleep(limit).await,
                false => tokio::time::sleep_until(deadline).await,
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
