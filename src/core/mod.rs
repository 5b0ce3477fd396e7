//! `Core`: sigil apart from its transports. `Core::build(config)` opens the store (migrated),
//! loads the key ring, assembles the application layer (`Sigil`) and starts the background
//! workers (key checks, maintenance, the event and mail relays, the directory consumer, the
//! client-change listener);
//! `Core::stop` ends them and closes the store. HTTP and gRPC bind to a built core with their
//! own settings (`app`); the command line opens only what a command needs (`open`).
//!
//! Imports `config`, `store`, `keys`, `oauth`, `events` and `metrics`, never a transport.

use std::sync::Arc;

use anyhow::Context as _;

use crate::clock::Clock;
use crate::config::{Config, EventConfig};
use crate::events::{
    Inbound, KafkaSink, Mailer, NatsSink, Relay, RelaySettings, Sink, spawn_inbound, spawn_relay,
};
use crate::keys::{KeyRing, scheduler};
use crate::metrics::Metrics;
use crate::oauth::{
    Bootstrapped, IssuerSettings, Maintenance, Postman, PostmanSettings, Sigil, spawn_maintenance,
    spawn_postman,
};
use crate::store::{ClientWatcher, Store, StoreOptions};

mod open;

pub use open::{load_key_ring, open_store, operator, operator_keys};

/// The longest the relay waits between passes when no commit of this instance woke it (rows
/// written by other instances).
const RELAY_POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// Longest time one SMTP exchange (connect, greeting, each command) may take.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The store, key ring, application layer and workers of one running instance.
pub struct Core {
    /// The application layer: the one door of every transport.
    pub sigil: Sigil,
    /// The shared key ring.
    pub keys: Arc<KeyRing>,
    /// The process's metrics registry.
    pub metrics: Metrics,
    /// The time source (manual in tests).
    pub clock: Clock,
    store: Store,
    workers: Workers,
}

/// The background tasks a core runs, each stopped by `Core::stop`.
struct Workers {
    key_scheduler: scheduler::Scheduler,
    client_watcher: Option<ClientWatcher>,
    maintenance: Maintenance,
    relays: Vec<Relay>,
    postman: Option<Postman>,
    inbound: Option<Inbound>,
}

impl Core {
    /// Connects and migrates the database, loads the key ring (performing due transitions),
    /// runs the first-start bootstrap and starts the workers.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let options = StoreOptions {
            client_cache_ttl: config.client_cache_ttl,
            hooks: config.hooks.clone(),
            event_sinks: config
                .events
                .as_ref()
                .map_or_else(Vec::new, EventConfig::sinks),
        };
        let store = open_store(&config.keys.database_url, options).await?;
        let keys = Arc::new(load_key_ring(&store, &config.keys, config.clock.now()).await?);
        let metrics = Metrics::new();
        let relays = event_relays(config, &store, &metrics).await?;
        let hasher = config.passwords.hasher()?;
        let settings = issuer_settings(config);
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
        let postman = mail_relay(config, &sigil, &metrics)?;
        let inbound = match &config.events {
            Some(events) => {
                let directory = sigil.directory.clone();
                spawn_inbound(events, directory, config.clock.clone()).await?
            }
            None => None,
        };
        let clock = config.clock.clone();
        let maintenance =
            spawn_maintenance(sigil.clone(), clock.clone(), config.maintenance_interval);
        let client_watcher = store
            .watch_client_changes()
            .await
            .context("cannot listen for client changes")?;
        let interval = config.keys.key_check_interval;
        let key_scheduler = scheduler::spawn(keys.clone(), clock.clone(), interval);
        let workers = Workers {
            key_scheduler,
            client_watcher,
            maintenance,
            relays,
            postman,
            inbound,
        };
        Ok(Self {
            sigil,
            keys,
            metrics,
            clock,
            store,
            workers,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Stops the workers (each finishes what it holds; the event relay publishes what is
    /// waiting until `deadline`) and closes the store.
    pub async fn stop(self, deadline: tokio::time::Instant) {
        let Workers {
            key_scheduler,
            client_watcher,
            maintenance,
            relays,
            postman,
            inbound,
        } = self.workers;
        if let Some(inbound) = inbound {
            inbound.stop().await;
        }
        key_scheduler.stop().await;
        futures_util::future::join_all(
            relays
                .into_iter()
                .map(|relay| relay.stop_flushing(deadline)),
        )
        .await;
        if let Some(postman) = postman {
            postman.stop().await;
        }
        drop(client_watcher);
        drop(maintenance);
        self.store.close().await;
    }
}

/// The application layer's token settings, from `config`.
fn issuer_settings(config: &Config) -> IssuerSettings {
    IssuerSettings {
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
    }
}

/// One outbox relay per configured sink (none without events). Rows waiting for a sink that
/// is no longer configured are let go first, so they do not wait for ever.
async fn event_relays(
    config: &Config,
    store: &Store,
    metrics: &Metrics,
) -> anyhow::Result<Vec<Relay>> {
    let Some(events) = &config.events else {
        return Ok(Vec::new());
    };
    let released = store
        .release_unconfigured_sinks(&events.sinks(), config.clock.now())
        .await?;
    if released > 0 {
        tracing::warn!(
            released,
            "events waiting for a sink that is no longer configured were let go"
        );
    }
    let mut sinks = Vec::new();
    if let Some(nats) = &events.nats {
        let sink = NatsSink::connect(&nats.url, nats.creds.as_deref(), &events.subject_prefix);
        sinks.push(Sink::Nats(sink.await?));
    }
    if let Some(kafka) = &events.kafka {
        sinks.push(Sink::Kafka(KafkaSink::new(kafka.clone())?));
    }
    let settings = RelaySettings {
        prefix: events.subject_prefix.clone(),
        source: config.issuer.clone(),
        retention: events.retention,
        poll: RELAY_POLL,
    };
    let relays = sinks.into_iter().map(|sink| {
        let (clock, metrics) = (config.clock.clone(), metrics.clone());
        spawn_relay(store.clone(), sink, settings.clone(), clock, metrics)
    });
    Ok(relays.collect())
}

/// The mail relay, when SMTP is configured.
fn mail_relay(
    config: &Config,
    sigil: &Sigil,
    metrics: &Metrics,
) -> anyhow::Result<Option<Postman>> {
    let Some(mail) = &config.mail else {
        return Ok(None);
    };
    let mailer = Mailer::new(&mail.smtp_url, &mail.from, &config.issuer, SMTP_TIMEOUT)?;
    let settings = PostmanSettings {
        mailer,
        max_attempts: mail.max_attempts,
    };
    let (clock, metrics) = (config.clock.clone(), metrics.clone());
    Ok(Some(spawn_postman(sigil, settings, clock, metrics)))
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
