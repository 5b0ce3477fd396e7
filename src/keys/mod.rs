//! The key ring: signing keys, their lifecycle, the JWKS and key encryption.
//!
//! The ring lives in the database so every instance shares it; private keys are sealed with
//! the key-encryption key (`encryption.rs`). `lifecycle.rs` decides and performs transitions
//! (next → current → retired → removed); `scheduler.rs` runs that check periodically. In
//! memory, `KeyRing` holds the parsed signer of the current key, verifiers of every published
//! key and the serialized JWKS behind an `ArcSwap`: a reload swaps them at once and readers
//! never block or parse PEM. This is the only module that imports `josekit`.

mod encryption;
mod export;
mod jwks;
mod lifecycle;
pub mod scheduler;
mod signing_key;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use josekit::jwk::Jwk;
use josekit::jws::{self, ES256, JwsHeader, JwsVerifier, RS256};

pub use encryption::{KEK_FILE_NAME, KeyEncryptionKey, OpenError};
pub use export::{ExportFormat, ExportedFile, JWKS_FILE, KID_MAP, export};
pub use jwks::Jwks;
pub use lifecycle::RotationPolicy;

use crate::domain::Actor;
use crate::domain::{KeyState, SigningAlgorithm};
use crate::store::{self, AuditEntry, Revocation, Store, StoredKey, Tx};

/// Longest token accepted for verification, in bytes.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// How new keys are made, from `Config`.
#[derive(Debug, Clone, Copy)]
pub struct KeySettings {
    /// Algorithm of access tokens.
    pub algorithm: SigningAlgorithm,
    /// RSA modulus size in bits for RS256 keys (2048, 3072 or 4096).
    pub rsa_bits: u32,
}

impl KeySettings {
    /// The algorithms the ring keeps a lifecycle for: that of access tokens, and RS256 for
    /// ID tokens (OIDC Discovery §3: RS256 must be supported).
    pub fn algorithms(&self) -> Vec<SigningAlgorithm> {
        let mut algorithms = vec![self.algorithm];
        if self.algorithm != SigningAlgorithm::Rs256 {
            algorithms.push(SigningAlgorithm::Rs256);
        }
        algorithms
    }
}

/// Why the key ring could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The stored ring cannot be decrypted with this instance's key-encryption key.
    #[error(
        "{0}; every instance sharing a database needs the same key-encryption key \
         (SIGIL_KEY_ENCRYPTION_KEY or the same {KEK_FILE_NAME} file); refusing to start"
    )]
    Sealed(#[from] OpenError),
    /// The database failed.
    #[error("cannot read or change the key ring in the database")]
    Store(#[from] store::Error),
    /// A manual rotation would sign with a key verifiers may not have fetched yet.
    #[error(
        "the next key was published {published_secs}s ago; rotating before {lead_secs}s risks unknown-kid failures at verifiers (force to override)"
    )]
    NextKeyTooFresh {
        /// Seconds since the next key was published.
        published_secs: i64,
        /// The publish lead of the policy, in seconds.
        lead_secs: u64,
    },
    /// A stored key is malformed, or a new one could not be made.
    #[error("invalid key ring: {0:#}")]
    Invalid(#[from] anyhow::Error),
}

/// Why a presented JWS was rejected. Deliberately uninformative.
#[derive(Debug, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

/// A JWS whose signature checked out against a published key.
#[derive(Debug)]
pub struct VerifiedJws {
    /// The `typ` header.
    pub typ: Option<String>,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// What requests read: built from one database snapshot.
struct Ring {
    /// Signs access tokens: the current key of the configured algorithm (or, while that
    /// algorithm's first key is still being published, another current key).
    current: Arc<signing_key::Signer>,
    /// Signs ID tokens: the current RS256 key (or, until there is one, `current`).
    id_token: Arc<signing_key::Signer>,
    verifiers: HashMap<String, Box<dyn JwsVerifier>>,
    jwks: Arc<Jwks>,
}

/// The shared, hot-swappable key ring.
pub struct KeyRing {
    manager: lifecycle::KeyManager,
    ring: ArcSwap<Ring>,
}

impl KeyRing {
    /// Loads the ring, first performing every transition due at `now` (on an empty database:
    /// creating the first current and next keys). Fails, and never creates a second ring,
    /// when the stored keys cannot be decrypted.
    pub async fn load(
        store: Store,
        kek: KeyEncryptionKey,
        settings: KeySettings,
        policy: RotationPolicy,
        now: DateTime<Utc>,
    ) -> Result<Self, KeyRingError> {
        let manager = lifecycle::KeyManager {
            store,
            kek,
            settings,
            policy,
        };
        let keys = manager.store.list_signing_keys().await?;
        if let Some(current) = keys.iter().find(|key| key.state == KeyState::Current) {
            // Prove the key-encryption key opens the ring before changing anything in it.
            open_signer(&manager.kek, current)?;
        }
        manager.check(now).await?;
        let ring = build_ring(
            &manager.kek,
            &manager.store.list_signing_keys().await?,
            &manager.settings,
        )?;
        tracing::info!(kid = %ring.current.kid, alg = ring.current.alg.as_str(), published = ring.verifiers.len(), "key ring loaded");
        Ok(Self {
            manager,
            ring: ArcSwap::from_pointee(ring),
        })
    }

    /// A 256-bit secret for `purpose` derived from the key-encryption key, the same on
    /// every instance that shares it (see `KeyEncryptionKey::derive`).
    pub fn derived_secret(&self, purpose: &str) -> secrecy::SecretBox<[u8; 32]> {
        self.manager.kek.derive(purpose)
    }

    /// Performs due transitions, then re-reads the ring and swaps it in.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(), KeyRingError> {
        self.manager.check(now).await?;
        self.reload().await
    }

    async fn reload(&self) -> Result<(), KeyRingError> {
        let ring = build_ring(
            &self.manager.kek,
            &self.manager.store.list_signing_keys().await?,
            &self.manager.settings,
        )?;
        let previous = self.ring.swap(Arc::new(ring));
        let ring = self.ring.load();
        if previous.current.kid != ring.current.kid {
            tracing::info!(kid = %ring.current.kid, replaced = %previous.current.kid, "now signing with a new key");
        }
        Ok(())
    }

    /// Manual rotation: the published next key starts signing, the current key retires and a
    /// fresh next key is published. Refused while the next key is younger than the publish
    /// lead, unless `force`.
    pub async fn rotate(
        &self,
        now: DateTime<Utc>,
        force: bool,
        actor: &Actor,
    ) -> Result<(), KeyRingError> {
        let keys = self.manager.store.list_signing_keys().await?;
        let lead = self.manager.policy.publish_lead;
        let mut promotions = Vec::new();
        for alg in self.manager.settings.algorithms() {
            let find = |state| {
                keys.iter()
                    .find(|key: &&StoredKey| key.state == state && key.alg == alg)
            };
            let (Some(current), Some(next)) = (find(KeyState::Current), find(KeyState::Next))
            else {
                continue;
            };
            let age = now - next.published_at;
            if !force && age < chrono::Duration::from_std(lead).map_err(anyhow::Error::from)? {
                return Err(KeyRingError::NextKeyTooFresh {
                    published_secs: age.num_seconds(),
                    lead_secs: lead.as_secs(),
                });
            }
            promotions.push((current.kid.clone(), next.kid.clone()));
        }
        for (current, next) in promotions {
            self.manager.promote(&current, &next, now, actor).await?;
        }
        self.refresh(now).await
    }

    /// Emergency revocation: `kid` leaves the JWKS at once; if it was signing, the next key
    /// takes over and a fresh next key is published. Returns the state it was in.
    ///
    /// A current key is never removed without a successor: when its next key is missing (just
    /// revoked itself, here or by another instance, and not yet replaced) one is made first
    /// and the revocation tried again.
    pub async fn revoke(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<Option<KeyState>, KeyRingError> {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let mut tx = self.manager.store.begin().await?;
            match tx.revoke_signing_key(kid, now).await? {
                Revocation::Revoked(state) => {
                    return self.revoked(tx, kid, state, now, actor).await;
                }
                Revocation::Unknown => return Ok(None),
                Revocation::NoSuccessor => {
                    drop(tx);
                    // Publishes the missing next key (the ring has a current one).
                    self.manager.check(now).await?;
                }
            }
        }
        Err(KeyRingError::Invalid(anyhow::anyhow!(
            "no next key could take over from {kid} in {ATTEMPTS} attempts"
        )))
    }

    async fn revoked(
        &self,
        mut tx: Tx,
        kid: &str,
        state: KeyState,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<Option<KeyState>, KeyRingError> {
        let entry = AuditEntry::new(actor, "key.revoke", now)
            .target("key", kid)
            .details(serde_json::json!({ "was": state.as_str() }));
        tx.record(&entry).await?;
        lifecycle::key_event(&mut tx, kid, "revoked", now).await?;
        if state == KeyState::Current {
            let alg = tx.signing_key(kid).await?.map(|key| key.alg);
            if let Some(successor) = match alg {
                Some(alg) => tx.current_signing_key(alg).await?,
                None => None,
            } {
                lifecycle::key_event(&mut tx, &successor.kid, "activated", now).await?;
            }
        }
        tx.commit().await?;
        tracing::warn!(kid, from = state.as_str(), to = "removed", "key revoked");
        if let Some(checkpoint) = &self.manager.store.hooks().key_revoked {
            checkpoint.pass().await;
        }
        self.refresh(now).await?;
        Ok(Some(state))
    }

    /// Every key ever in the ring, for operators.
    pub async fn list(&self) -> Result<Vec<StoredKey>, KeyRingError> {
        Ok(self.manager.store.list_all_signing_keys().await?)
    }

    /// Signs `payload` as a compact JWS with the current key; header `{alg, kid, typ}`.
    #[tracing::instrument(level = "debug", name = "sign", skip_all, fields(typ = typ))]
    pub fn sign(&self, typ: &str, payload: &[u8]) -> anyhow::Result<String> {
        sign_with(&self.ring.load().current, typ, payload)
    }

    /// Signs an ID token: with the current RS256 key, whatever the access-token algorithm.
    #[tracing::instrument(level = "debug", name = "sign", skip_all, fields(typ = typ))]
    pub fn sign_id_token(&self, typ: &str, payload: &[u8]) -> anyhow::Result<String> {
        sign_with(&self.ring.load().id_token, typ, payload)
    }

    /// Checks a compact JWS against the published key named by its `kid`, requiring the
    /// key's own algorithm (so `none`, HS256-with-the-public-key and the like all fail).
    pub fn verify(&self, token: &str) -> Result<VerifiedJws, InvalidToken> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(InvalidToken);
        }
        let ring = self.ring.load();
        let (payload, header) = jws::deserialize_compact_with_selector(token, |header| {
            let verifier = header.key_id().and_then(|kid| ring.verifiers.get(kid));
            Ok(verifier.map(|v| v.as_ref() as &dyn JwsVerifier))
        })
        .map_err(|_| InvalidToken)?;
        Ok(VerifiedJws {
            typ: header.token_type().map(str::to_owned),
            payload,
        })
    }

    /// The JWKS of every published key.
    pub fn jwks(&self) -> Arc<Jwks> {
        self.ring.load().jwks.clone()
    }

    /// The `kid` of the key signing now.
    pub fn current_kid(&self) -> String {
        self.ring.load().current.kid.clone()
    }

    /// How new keys are made.
    pub fn settings(&self) -> KeySettings {
        self.manager.settings
    }
}

fn open_signer(
    kek: &KeyEncryptionKey,
    key: &StoredKey,
) -> Result<signing_key::Signer, KeyRingError> {
    let alg = key.alg;
    let sealed = key
        .sealed_private_key
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("current key {} has no private key", key.kid))?;
    let der = kek.open(&key.kid, sealed)?;
    Ok(signing_key::Signer::from_der(key.kid.clone(), alg, &der)?)
}

fn verifier(key: &StoredKey) -> anyhow::Result<Box<dyn JwsVerifier>> {
    let jwk = Jwk::from_bytes(key.public_jwk.as_bytes())?;
    Ok(match key.alg {
        SigningAlgorithm::Rs256 => Box::new(RS256.verifier_from_jwk(&jwk)?),
        SigningAlgorithm::Es256 => Box::new(ES256.verifier_from_jwk(&jwk)?),
    })
}

fn sign_with(signer: &signing_key::Signer, typ: &str, payload: &[u8]) -> anyhow::Result<String> {
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_key_id(&signer.kid);
    Ok(jws::serialize_compact(
        payload,
        &header,
        signer.jws_signer(),
    )?)
}

fn build_ring(
    kek: &KeyEncryptionKey,
    keys: &[StoredKey],
    settings: &KeySettings,
) -> Result<Ring, KeyRingError> {
    let current_of = |alg: SigningAlgorithm| {
        keys.iter()
            .find(|key| key.state == KeyState::Current && key.alg == alg)
    };
    let current = current_of(settings.algorithm)
        .or_else(|| keys.iter().find(|key| key.state == KeyState::Current))
        .ok_or_else(|| anyhow::anyhow!("the ring has no current key"))?;
    let current = Arc::new(open_signer(kek, current)?);
    let id_token = match current_of(SigningAlgorithm::Rs256) {
        Some(key) if key.kid != current.kid => Arc::new(open_signer(kek, key)?),
        _ => current.clone(),
    };
    let verifiers = keys
        .iter()
        .map(|key| Ok((key.kid.clone(), verifier(key)?)))
        .collect::<anyhow::Result<_>>()?;
    Ok(Ring {
        current,
        id_token,
        verifiers,
        jwks: Arc::new(Jwks::build(keys)?),
    })
}
