//! The key ring: signing keys, their lifecycle, the JWKS and key encryption.
//!
//! The ring lives in the database so every instance shares it; private keys are sealed with
//! the key-encryption key (`encryption.rs`). In memory, `KeyRing` holds the parsed signer of
//! the current key and the serialized JWKS behind an `ArcSwap`: a reload swaps both at once and
//! readers never block or parse PEM. This is the only module that imports `josekit`.

mod encryption;
mod jwks;
mod signing_key;

use std::sync::Arc;

use arc_swap::ArcSwap;
use josekit::jws::{self, JwsHeader};

pub use encryption::{KEK_FILE_NAME, KeyEncryptionKey, OpenError};
pub use jwks::Jwks;
pub use signing_key::SigningAlgorithm;

use crate::store::{self, KeyState, NewSigningKey, Store, StoredKey};

/// How new keys are made, from `Config`.
#[derive(Debug, Clone, Copy)]
pub struct KeySettings {
    /// Algorithm of newly generated keys.
    pub algorithm: SigningAlgorithm,
    /// RSA modulus size in bits for RS256 keys (2048, 3072 or 4096).
    pub rsa_bits: u32,
}

/// Why the key ring could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The stored ring cannot be decrypted with this instance's key-encryption key.
    #[error(
        "{0}; every instance sharing a database needs the same key-encryption key \
         (SIGIL_KEY_ENCRYPTION_KEY or the same {KEK_FILE_NAME} file); refusing to start"
    )]
    Sealed(#[from] OpenError),
    /// The database failed.
    #[error("cannot read the key ring from the database")]
    Store(#[from] store::Error),
    /// A stored key is malformed, or a new one could not be made.
    #[error("invalid key ring: {0:#}")]
    Invalid(#[from] anyhow::Error),
}

/// What requests read: the current signer and the JWKS built from the same snapshot.
struct Ring {
    current: signing_key::Signer,
    jwks: Arc<Jwks>,
}

/// The shared, hot-swappable key ring.
pub struct KeyRing {
    store: Store,
    kek: KeyEncryptionKey,
    settings: KeySettings,
    ring: ArcSwap<Ring>,
}

impl KeyRing {
    /// Loads the ring from the database, creating the first signing key if the ring is empty.
    /// Fails (and never creates a second ring) when the stored keys cannot be decrypted.
    pub async fn load(
        store: Store,
        kek: KeyEncryptionKey,
        settings: KeySettings,
    ) -> Result<Self, KeyRingError> {
        let mut keys = store.list_signing_keys().await?;
        if !keys.iter().any(|key| key.state == KeyState::Current) {
            create_first_key(&store, &kek, settings).await?;
            keys = store.list_signing_keys().await?;
        }
        let ring = build_ring(&kek, &keys)?;
        tracing::info!(kid = %ring.current.kid, alg = ring.current.alg.as_str(), keys = keys.len(), "key ring loaded");
        Ok(Self {
            store,
            kek,
            settings,
            ring: ArcSwap::from_pointee(ring),
        })
    }

    /// Re-reads the ring from the database and swaps it in atomically.
    pub async fn reload(&self) -> Result<(), KeyRingError> {
        let keys = self.store.list_signing_keys().await?;
        self.ring.store(Arc::new(build_ring(&self.kek, &keys)?));
        Ok(())
    }

    /// Signs `payload` as a compact JWS with the current key; header `{alg, kid, typ}`.
    pub fn sign(&self, typ: &str, payload: &[u8]) -> anyhow::Result<String> {
        let ring = self.ring.load();
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&ring.current.kid);
        Ok(jws::serialize_compact(
            payload,
            &header,
            ring.current.jws_signer(),
        )?)
    }

    /// The JWKS of every published key.
    pub fn jwks(&self) -> Arc<Jwks> {
        self.ring.load().jwks.clone()
    }

    /// The `kid` of the key signing now.
    pub fn current_kid(&self) -> String {
        self.ring.load().current.kid.clone()
    }

    /// Algorithm used for newly generated keys.
    pub fn settings(&self) -> KeySettings {
        self.settings
    }
}

/// Generates, seals and inserts a first current key. If another instance wins the race,
/// its key is kept and ours is dropped (the insert is conditional).
async fn create_first_key(
    store: &Store,
    kek: &KeyEncryptionKey,
    settings: KeySettings,
) -> Result<(), KeyRingError> {
    let generated = tokio::task::spawn_blocking(move || {
        signing_key::generate(settings.algorithm, settings.rsa_bits)
    })
    .await
    .map_err(anyhow::Error::from)??;
    let new = NewSigningKey {
        sealed_private_key: kek.seal(&generated.kid, &generated.private_der)?,
        kid: generated.kid,
        alg: generated.alg.as_str().to_owned(),
        public_jwk: generated.public_jwk,
    };
    if store.insert_signing_key_if_none_current(&new).await? {
        tracing::info!(kid = %new.kid, alg = %new.alg, state = "current", "created signing key");
    }
    Ok(())
}

fn build_ring(kek: &KeyEncryptionKey, keys: &[StoredKey]) -> Result<Ring, KeyRingError> {
    let current = keys
        .iter()
        .find(|key| key.state == KeyState::Current)
        .ok_or_else(|| anyhow::anyhow!("the ring has no current key"))?;
    let alg: SigningAlgorithm = current.alg.parse().map_err(anyhow::Error::msg)?;
    let der = kek.open(&current.kid, &current.sealed_private_key)?;
    let signer = signing_key::Signer::from_der(current.kid.clone(), alg, &der)?;
    Ok(Ring {
        current: signer,
        jwks: Arc::new(Jwks::build(keys)?),
    })
}
