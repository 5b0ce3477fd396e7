//! `Application`: builds every component from `Config`, binds, serves until shutdown.
//!
//! Tests build it exactly as `serve` does, on `127.0.0.1:0`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;

use crate::cli::DatabaseArgs;
use crate::config::{Config, KeyConfig};
use crate::events::{Mailer, NatsSink, Relay, RelaySettings, Sink, spawn_relay};
use crate::grpc::{GrpcServer, GrpcState};
use crate::http::{AppState, ConnectionLimits, Operations, management_router, router, serve};
use crate::keys::{KeyEncryptionKey, KeyRing, scheduler};
use crate::metrics::Metrics;
use crate::oauth::{
    Bootstrapped, IssuerSettings, Keys, Maintenance, Operator, Postman, PostmanSettings, Sigil,
    spawn_maintenance, spawn_postman,
};
use crate::store::{ClientWatcher, Store, StoreOptions};

mod signals;

use signals::shutdown_signal;
pub(crate) use signals::stop_requested;

/// The longest the relay waits between passes when no commit of this instance woke it (rows
/// written by other instances).
const RELAY_POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest time one SMTP exchange (connect, greeting, each command) may take.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A built, bound server.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// The management listener and its router, when one is configured.
    management: Option<(TcpListener, axum::Router)>,
    grpc: Option<GrpcServer>,
    connections: ConnectionLimits,
    trusted_proxies: Vec<ipnet::IpNet>,
    store: Store,
    keys: Arc<KeyRing>,
    key_scheduler: scheduler::Scheduler,
    client_watcher: Option<ClientWatcher>,
    maintenance: Maintenance,
    relay: Option<Relay>,
    postman: Option<Postman>,
}

impl Application {
    /// Connects and migrates the database, loads the key ring (performing due transitions),
    /// starts the periodic key check and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let options = StoreOptions {
            client_cache_ttl: config.client_cache_ttl,
            hooks: config.hooks.clone(),
            events: config.events.is_some(),
        };
        let store = open_store(&config.keys.database_url, options).await?;
        let keys = Arc::new(load_key_ring(&store, &config.keys, config.clock.now()).await?);
        let settings = IssuerSettings {
            issuer: config.issuer.clone(),
            default_audience: config.default_audience.clone(),
            access_token_ttl: config.keys.access_token_ttl,
            refresh_token_ttl: config.refresh_token_ttl,
            refresh_grace: config.refresh_grace,
            password_min_length: config.passwords.min_length,
            registration: config.registration,
            mail: config.mail.is_some(),
            require_verified_email: config.require_verified_email,
            audit_retention: config.audit_retention,
            limits: config.limits,
            hooks: config.hooks.clone(),
            clock: config.clock.clone(),
            events_client_credentials: config
                .events
                .as_ref()
                .is_some_and(|events| events.client_credentials),
        };
        let hasher = config.passwords.hasher()?;
        let metrics = Metrics::new();
        let relay = match &config.events {
            Some(events) => {
                let sink = Sink::Nats(NatsSink::connect(events).await?);
                let settings = RelaySettings {
                    prefix: events.subject_prefix.clone(),
                    source: config.issuer.clone(),
                    retention: events.retention,
                    poll: RELAY_POLL,
                };
                Some(spawn_relay(
                    store.clone(),
                    sink,
                    settings,
                    config.clock.clone(),
                    metrics.clone(),
                ))
            }
            None => None,
        };
        let sigil = Sigil::new(
            store.clone(),
            keys.clone(),
            hasher,
            settings,
            metrics.clone(),
        );
        let bootstrapped = sigil
            .bootstrap(&config.bootstrap, config.clock.now())
            .await?;
        announce(&bootstrapped);
        let postman = match &config.mail {
            Some(mail) => {
                let mailer = Mailer::new(&mail.smtp_url, &mail.from, &config.issuer, SMTP_TIMEOUT)?;
                let settings = PostmanSettings {
                    mailer,
                    max_attempts: mail.max_attempts,
                };
                Some(spawn_postman(
                    &sigil,
                    settings,
                    config.clock.clone(),
                    metrics.clone(),
                ))
            }
            None => None,
        };
        let maintenance = spawn_maintenance(
            sigil.clone(),
            config.clock.clone(),
            config.maintenance_interval,
        );
        let grpc = match config.grpc_listen {
            Some(address) => {
                let state = GrpcState::new(
                    sigil.clone(),
                    config.clock.clone(),
                    &config.trusted_proxies,
                    metrics.clone(),
                );
                let limits = (config.request_timeout, config.connections.max_connections);
                Some(GrpcServer::bind(address, state, limits).await?)
            }
            None => None,
        };
        let csrf_key = keys.derived_secret("csrf");
        let state = AppState::new(&config, sigil, metrics, csrf_key)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("--listen {}: cannot bind", config.listen))?;
        let management = match config.management_listen {
            Some(address) => {
                let listener = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("--management-listen {address}: cannot bind"))?;
                Some((
                    listener,
                    management_router(state.clone(), config.request_timeout),
                ))
            }
            None => None,
        };
        let operations = match management {
            Some(_) => Operations::Separate,
            None => Operations::Public,
        };
        let router = router(state, config.request_timeout, operations);
        let client_watcher = store
            .watch_client_changes()
            .await
            .context("cannot listen for client changes")?;
        let key_scheduler = scheduler::spawn(
            keys.clone(),
            config.clock.clone(),
            config.keys.key_check_interval,
        );
        Ok(Self {
            listener,
            router,
            management,
            grpc,
            connections: config.connections,
            trusted_proxies: config.trusted_proxies.clone(),
            store,
            keys,
            key_scheduler,
            client_watcher,
            maintenance,
            relay,
            postman,
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
        self.keys.clone()
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves HTTP (and gRPC) until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grpc_address = self.grpc_addr().map(|address| address.to_string());
        let management_address = self.management_addr().map(|address| address.to_string());
        tracing::info!(
            address = %self.local_addr(),
            grpc_address = grpc_address.as_deref().unwrap_or("off"),
            management_address = management_address.as_deref().unwrap_or("off"),
            backend = self.store.backend(),
            "listening"
        );
        // One signal, two servers: each waits for the flag to flip.
        let (stop, stopping) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let signal = move || {
            let mut stopping = stopping.clone();
            async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            }
        };
        let management = self.management.map(|(listener, router)| {
            tokio::spawn(serve(
                listener,
                router,
                self.connections,
                Vec::new(),
                signal(),
            ))
        });
        let http = serve(
            self.listener,
            self.router,
            self.connections,
            self.trusted_proxies,
            signal(),
        );
        let served = match self.grpc {
            Some(grpc) => tokio::join!(http, grpc.serve(signal())).1,
            None => {
                http.await;
                Ok(())
            }
        };
        if let Some(management) = management {
            let _ = management.await;
        }
        self.key_scheduler.stop().await;
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        if let Some(postman) = self.postman {
            postman.stop().await;
        }
        drop(self.client_watcher);
        drop(self.maintenance);
        self.store.close().await;
        tracing::info!("stopped");
        served
    }
}

/// Prints what the first-start bootstrap created, on standard output and never in the log:
/// a generated secret is shown this once.
fn announce(bootstrapped: &Bootstrapped) {
    if let Some((id, secret)) = &bootstrapped.admin_client {
        println!("sigil: created the admin client (scope admin)");
        println!("  client_id:     {id}");
        match secret {
            Some(secret) => {
                println!("  client_secret: {}", secret.expose());
                println!("  the secret is shown only this once: store it now");
            }
            None => println!("  client_secret: the one in SIGIL_ADMIN_CLIENT_SECRET"),
        }
    }
    if let Some(user_id) = &bootstrapped.admin_user {
        println!("sigil: created the admin user from SIGIL_ADMIN_USERNAME (user_id {user_id})");
    }
}

/// The command line makes one-off lookups: a short client cache is plenty. Its changes write
/// events when events are configured (`nats_url`); the servers' relays publish them.
fn cli_store_options(nats_url: Option<&str>) -> StoreOptions {
    StoreOptions {
        client_cache_ttl: std::time::Duration::from_secs(1),
        events: nats_url.is_some_and(|url| !url.trim().is_empty()),
        ..StoreOptions::default()
    }
}

/// The operator's command-line use cases over `database` (connected and migrated).
pub async fn operator(database: &DatabaseArgs) -> anyhow::Result<Operator> {
    let options = cli_store_options(database.nats_url.as_deref());
    Ok(Operator::new(
        open_store(&database.database_url, options).await?,
    ))
}

/// The operator's key use cases, the ring loaded with the configured key-encryption key
/// (performing every transition due at `now`).
pub async fn operator_keys(config: &KeyConfig, now: DateTime<Utc>) -> anyhow::Result<Keys> {
    let options = cli_store_options(config.nats_url.as_deref());
    let store = open_store(&config.database_url, options).await?;
    let ring = Arc::new(load_key_ring(&store, config, now).await?);
    Ok(Operator::new(store).keys(ring))
}

/// Connects to the database and applies pending migrations; errors name `--database-url`.
pub async fn open_store(database_url: &str, options: StoreOptions) -> anyhow::Result<Store> {
    let store = Store::connect(database_url, options)
        .await
        .context("--database-url: cannot connect to the database")?;
    store
        .migrate()
        .await
        .context("--database-url: cannot apply migrations")?;
    Ok(store)
}

/// Loads the key ring (creating it on an empty database) with the configured key-encryption
/// key, performing every transition due at `now`.
pub async fn load_key_ring(
    store: &Store,
    config: &KeyConfig,
    now: DateTime<Utc>,
) -> anyhow::Result<KeyRing> {
    let kek = load_kek(config)?;
    let ring = KeyRing::load(
        store.clone(),
        kek,
        config.key_settings(),
        config.rotation_policy(),
        now,
    )
    .await?;
    Ok(ring)
}

fn load_kek(config: &KeyConfig) -> anyhow::Result<KeyEncryptionKey> {
    match &config.key_encryption_key {
        Some(encoded) => KeyEncryptionKey::parse(encoded.expose_secret())
            .context("SIGIL_KEY_ENCRYPTION_KEY: expected 32 bytes in base64url"),
        None => KeyEncryptionKey::load_or_create_file(&config.keys_dir)
            .with_context(|| format!("--keys-dir {}", config.keys_dir.display())),
    }
}
