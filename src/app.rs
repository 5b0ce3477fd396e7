//! `Application`: a built `Core` with its transports bound (HTTP, the management port,
//! gRPC), each given its own settings from `Config`; serves until shutdown, then stops the
//! core.
//!
//! Tests build it exactly as `serve` does, on `127.0.0.1:0`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::core::Core;
use crate::grpc::{GrpcServer, GrpcState};
use crate::http::{AppState, HttpSettings, Operations, management_router, router, serve};
use crate::keys::KeyRing;
use crate::listen::ConnectionLimits;
use crate::shutdown::{Shutdown, ShutdownControl, ShutdownSettings, shutdown_signal};

/// A built, bound server.
pub struct Application {
    core: Core,
    listener: TcpListener,
    router: axum::Router,
    /// The management listener and its router, when one is configured.
    management: Option<(TcpListener, axum::Router)>,
    grpc: Option<GrpcServer>,
    connections: ConnectionLimits,
    trusted_proxies: Vec<ipnet::IpNet>,
    /// The process's stop, as every server follows it, and what moves it.
    shutdown: (ShutdownControl, Shutdown),
    shutdown_settings: ShutdownSettings,
}

impl Application {
    /// Builds the core (database, key ring, application, workers) and binds its transports.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // Bound first: a taken port fails the start before the database is touched.
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("--listen {}: cannot bind", config.listen))?;
        let management_listener = match config.management_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("--management-listen {address}: cannot bind"))?,
            ),
            None => None,
        };
        let core = Core::build(&config).await?;
        let grpc = match bind_grpc(&config, &core).await {
            Ok(grpc) => grpc,
            Err(error) => {
                core.stop(tokio::time::Instant::now()).await;
                return Err(error);
            }
        };
        let (control, shutdown) = Shutdown::new();
        let settings = HttpSettings {
            issuer: config.issuer.clone(),
            jwks_max_age: config.keys.jwks_max_age,
            clock: core.clock.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
            shutdown: shutdown.clone(),
        };
        let csrf_key = core.keys.derived_secret("csrf");
        let state = AppState::new(
            &settings,
            core.sigil.clone(),
            core.metrics.clone(),
            csrf_key,
        )?;
        let management = management_listener.map(|listener| {
            let router = management_router(state.clone(), config.request_timeout);
            (listener, router)
        });
        let operations = match management {
            Some(_) => Operations::Separate,
            None => Operations::Public,
        };
        let router = router(state, config.request_timeout, operations);
        Ok(Self {
            core,
            listener,
            router,
            management,
            grpc,
            connections: config.connections,
            trusted_proxies: config.trusted_proxies,
            shutdown: (control, shutdown),
            shutdown_settings: config.shutdown,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        // OK because a bound TCP listener always has a local address.
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The bound management address, when a management listener is configured.
    pub fn management_addr(&self) -> Option<SocketAddr> {
        let (listener, _) = self.management.as_ref()?;
        listener.local_addr().ok()
    }

    /// The bound gRPC address, unless gRPC is off.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(GrpcServer::local_addr)
    }

    /// The router, for in-process tests that send requests without a socket (`oneshot`).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// The shared key ring, for tests that drive key checks themselves.
    pub fn key_ring(&self) -> Arc<KeyRing> {
        self.core.keys.clone()
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves HTTP (and gRPC) until `signal` completes, then stops in the phases of
    /// `shutdown`: readiness off at once, new connections refused after the delay, requests in
    /// flight and the relay's last batch given until the deadline. The management port
    /// answers (503 on `/readyz`) until everything else is done.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.log_listening();
        let (control, shutdown) = self.shutdown;
        tokio::spawn(control.follow(signal, self.shutdown_settings));
        let (management_control, management_stop) = Shutdown::new();
        let connections = self.connections;
        let management = self.management.map(|(listener, router)| {
            tokio::spawn(serve(
                listener,
                router,
                connections,
                Vec::new(),
                management_stop,
            ))
        });
        let http = serve(
            self.listener,
            self.router,
            connections,
            self.trusted_proxies,
            shutdown.clone(),
        );
        let served = match self.grpc {
            Some(grpc) => tokio::join!(http, grpc.serve(shutdown.clone())).1,
            None => {
                http.await;
                Ok(())
            }
        };
        self.core.stop(shutdown.stopping().await).await;
        drop(management_control);
        if let Some(management) = management {
            let _ = management.await;
        }
        tracing::info!("stopped");
        served
    }

    fn log_listening(&self) {
        let grpc_address = self.grpc_addr().map(|address| address.to_string());
        let management_address = self.management_addr().map(|address| address.to_string());
        tracing::info!(
            address = %self.local_addr(),
            grpc_address = grpc_address.as_deref().unwrap_or("off"),
            management_address = management_address.as_deref().unwrap_or("off"),
            backend = self.core.backend(),
            "listening"
        );
    }
}

/// The gRPC server on `--grpc-listen`, unless gRPC is off.
async fn bind_grpc(config: &Config, core: &Core) -> anyhow::Result<Option<GrpcServer>> {
    let Some(address) = config.grpc_listen else {
        return Ok(None);
    };
    let state = GrpcState::new(
        core.sigil.clone(),
        core.clock.clone(),
        &config.trusted_proxies,
        core.metrics.clone(),
    );
    let limits = (config.request_timeout, config.connections.max_connections);
    Ok(Some(GrpcServer::bind(address, state, limits).await?))
}
