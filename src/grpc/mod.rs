//! The gRPC transport (SPEC "gRPC"): the `sigil.v1.Auth` service, `grpc.health.v1` and
//! `grpc.reflection.v1` on a listener of their own, served by `tonic::transport::Server`
//! beside the HTTP server in the same process, runtime and shutdown.
//!
//! Each rpc is a thin translation and one call into `oauth` (the HTTP twin's call), so limits,
//! audit rows and events are the same by construction. `status.rs` maps the application's
//! errors to statuses, `call.rs` reads metadata. The only user of tonic; imports `oauth`,
//! never `http`, `store` or `keys`.

mod auth;
mod call;
pub mod codec;
mod incoming;
mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::FutureExt as _;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::{Code, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::trace::TraceLayer;
use tracing::Instrument as _;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::oauth::Sigil;
use crate::shutdown::Shutdown;
use auth::AuthService;
pub use status::{OAUTH_ERROR, RETRY_AFTER};

/// The code generated from `proto/sigil/v1/auth.proto` (server and client).
pub mod proto {
    tonic::include_proto!("sigil.v1");
}

/// The encoded descriptor set of `proto/`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/sigil_descriptor.bin"));

/// The name health checks use for the Auth service.
pub const AUTH_SERVICE: &str = "sigil.v1.Auth";

/// Largest accepted message; every request is a few hundred bytes (as HTTP's body limit).
const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Largest accepted metadata (HTTP/2 header list), as a generous header budget.
const MAX_METADATA_BYTES: u32 = 16 * 1024;
/// Concurrent calls on one connection (HTTP/2 streams).
const MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// Pings on a quiet connection find dead peers; one that does not answer is closed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the health service re-checks readiness.
const READINESS_POLL: Duration = Duration::from_secs(1);

/// What every rpc may use; cheap to clone.
#[derive(Clone)]
pub struct GrpcState {
    sigil: Sigil,
    clock: Clock,
    trusted_proxies: Arc<[ipnet::IpNet]>,
    metrics: Metrics,
}

impl GrpcState {
    /// The state over the application layer, with the HTTP server's trusted proxies.
    pub fn new(sigil: Sigil, clock: Clock, trusted: &[ipnet::IpNet], metrics: Metrics) -> Self {
        Self {
            sigil,
            clock,
            trusted_proxies: trusted.into(),
            metrics,
        }
    }

    /// Runs one rpc: in its span, counted and timed by method and status code. A panic is an
    /// `INTERNAL` answer (logged); a call dropped before it finished (its deadline passed or
    /// its client went away) counts as `CANCELLED`.
    async fn observe<T>(
        &self,
        method: &'static str,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let span = tracing::debug_span!("rpc", method);
        let mut record = Recorder {
            metrics: &self.metrics,
            method,
            started: Instant::now(),
            code: Code::Cancelled,
        };
        let result = match AssertUnwindSafe(call).catch_unwind().instrument(span).await {
            Ok(result) => result,
            Err(_) => {
                tracing::error!(method, "rpc panicked");
                Err(status::server_error())
            }
        };
        record.code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
        result.map(Response::new)
    }
}

/// Counts one rpc when it ends, however it ends.
struct Recorder<'a> {
    metrics: &'a Metrics,
    method: &'static str,
    started: Instant,
    code: Code,
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        let code = status::code_name(self.code);
        let seconds = self.started.elapsed().as_secs_f64();
        self.metrics.rpc(self.method, code, seconds);
        tracing::debug!(method = self.method, code, seconds, "rpc finished");
    }
}

/// The gRPC listener, bound and ready to serve.
pub struct GrpcServer {
    listener: TcpListener,
    state: GrpcState,
    request_timeout: Duration,
    max_connections: usize,
}

impl GrpcServer {
    /// Binds `address`; every call is bounded by `request_timeout` (or the caller's shorter
    /// `grpc-timeout`), and at most `max_connections` connections are open at once.
    pub async fn bind(
        address: SocketAddr,
        state: GrpcState,
        (request_timeout, max_connections): (Duration, usize),
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("--grpc-listen {address}: cannot bind"))?;
        Ok(Self {
            listener,
            state,
            request_timeout,
            max_connections,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // OK because a bound TCP listener always has a local address.
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` stops the process: health turns NOT_SERVING as soon as it
    /// drains; once it stops, no new connection is taken and calls in flight finish until
    /// the deadline.
    pub async fn serve(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let (reporter, health) = tonic_health::server::health_reporter();
        let readiness = follow_readiness(self.state.sigil.clone(), reporter, shutdown.clone());
        let readiness = tokio::spawn(readiness.await);
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let auth = proto::auth_server::AuthServer::new(AuthService(self.state))
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let (deadline, stop) = tokio::sync::oneshot::channel();
        let stopping = async move {
            let _ = deadline.send(shutdown.stopping().await);
        };
        let served = Server::builder()
            // The span only: each call is counted and logged by `observe` (a refused call is
            // an answer, not a failure to log as an error).
            .layer(
                TraceLayer::new_for_grpc()
                    .make_span_with(call_span)
                    .on_request(())
                    .on_response(())
                    .on_eos(())
                    .on_failure(()),
            )
            .timeout(self.request_timeout)
            .http2_max_header_list_size(MAX_METADATA_BYTES)
            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .add_service(health)
            // v1alpha too: older grpcurl and many generated clients still ask for it.
            .add_service(reflection().build_v1()?)
            .add_service(reflection().build_v1alpha()?)
            .add_service(auth)
            .serve_with_incoming_shutdown(
                incoming::admitted(self.listener, self.max_connections),
                stopping,
            );
        tokio::pin!(served);
        let outcome = tokio::select! {
            outcome = &mut served => outcome,
            Ok(deadline) = stop => match tokio::time::timeout_at(deadline, &mut served).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::warn!("gRPC calls still running at the shutdown deadline were dropped");
                    Ok(())
                }
            },
        };
        readiness.abort();
        outcome.context("gRPC server failed")
    }
}

/// The span of one call: traced, an OpenTelemetry server span named by the method, child of
/// the caller's `traceparent` metadata. Nothing from the message or other metadata.
fn call_span<B>(request: &hyper::Request<B>) -> tracing::Span {
    let method = request.uri().path().trim_start_matches('/');
    let span = tracing::debug_span!(
        "call",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = method,
    );
    crate::telemetry::adopt_parent(&span, request.headers());
    span
}

/// The health reporting: known before the first call is accepted, then kept in step with
/// `/readyz` until the process drains (then NOT_SERVING for good). Returns the follower.
async fn follow_readiness(
    sigil: Sigil,
    reporter: HealthReporter,
    shutdown: Shutdown,
) -> impl Future<Output = ()> + Send + 'static {
    let mut last = readiness(&sigil).await;
    report(&reporter, last).await;
    async move {
        let mut interval = tokio::time::interval(READINESS_POLL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = shutdown.draining() => {
                    report(&reporter, ServingStatus::NotServing).await;
                    return;
                }
            }
            let status = readiness(&sigil).await;
            if status != last {
                report(&reporter, status).await;
                last = status;
            }
        }
    }
}

/// The health service's answer: `/readyz`'s (database reachable, key ring loaded).
async fn readiness(sigil: &Sigil) -> ServingStatus {
    match sigil.ready().await {
        Ok(_) => ServingStatus::Serving,
        Err(_) => ServingStatus::NotServing,
    }
}

/// Reports `status` for the server as a whole ("") and for the Auth service.
async fn report(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(AUTH_SERVICE, status).await;
}
