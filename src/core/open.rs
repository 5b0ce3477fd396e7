//! Opening what a command needs: the store (connected and migrated), the key ring, and the
//! operator's use cases over them. The command line and the tests open the core's parts here.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;

use crate::config::KeyConfig;
use crate::domain::EventSink;
use crate::keys::{KeyEncryptionKey, KeyRing};
use crate::oauth::{Keys, Operator};
use crate::store::{Store, StoreOptions};

/// The command line makes one-off lookups: a short client cache is plenty. Its changes write
/// events for the configured sinks; the servers' relays publish them.
fn command_store_options(event_sinks: &[EventSink]) -> StoreOptions {
    StoreOptions {
        client_cache_ttl: std::time::Duration::from_secs(1),
        event_sinks: event_sinks.to_vec(),
        ..StoreOptions::default()
    }
}

/// The operator's command-line use cases over `database_url` (connected and migrated); its
/// changes write events for `event_sinks`.
pub async fn operator(database_url: &str, event_sinks: &[EventSink]) -> anyhow::Result<Operator> {
    let options = command_store_options(event_sinks);
    Ok(Operator::new(open_store(database_url, options).await?))
}

/// The operator's key use cases, the ring loaded with the configured key-encryption key
/// (performing every transition due at `now`).
pub async fn operator_keys(config: &KeyConfig, now: DateTime<Utc>) -> anyhow::Result<Keys> {
    let options = command_store_options(&config.event_sinks);
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
