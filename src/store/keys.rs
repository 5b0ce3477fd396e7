//! The `signing_keys` table: the shared key ring, private parts encrypted by `keys/`.

use chrono::{DateTime, Utc};

use super::{Error, Store, on_pool};

/// Where a key is in its lifecycle (next → current → retired → removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Signing new tokens.
    Current,
    /// No longer signing; published until the tokens it signed have expired.
    Retired,
}

impl KeyState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Retired => "retired",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "next" => Some(Self::Next),
            "current" => Some(Self::Current),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A key as stored: public JWK in clear, private key as an encrypted envelope.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm, e.g. `RS256`.
    pub alg: String,
    /// Lifecycle state.
    pub state: KeyState,
    /// Public JWK as JSON text.
    pub public_jwk: String,
    /// Private key sealed with the key-encryption key (a compact JWE).
    pub sealed_private_key: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// What `insert_signing_key_if_none_current` needs.
#[derive(Debug)]
pub struct NewSigningKey {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// Public JWK as JSON text.
    pub public_jwk: String,
    /// Private key sealed with the key-encryption key.
    pub sealed_private_key: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    public_jwk: String,
    sealed_private_key: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = Error;

    fn try_from(row: KeyRow) -> Result<Self, Error> {
        let state = KeyState::parse(&row.state)
            .ok_or_else(|| Error::Other(anyhow::anyhow!("signing key has unknown state")))?;
        Ok(Self {
            kid: row.kid,
            alg: row.alg,
            state,
            public_jwk: row.public_jwk,
            sealed_private_key: row.sealed_private_key,
            created_at: row.created_at,
        })
    }
}

impl Store {
    /// Every key of the ring, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_signing_keys(&self) -> Result<Vec<StoredKey>, Error> {
        let rows: Vec<KeyRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT kid, alg, state, public_jwk, sealed_private_key, created_at \
                 FROM signing_keys ORDER BY created_at, kid",
            )
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(StoredKey::try_from).collect()
    }

    /// Inserts `key` as the current key unless the ring already has one; returns whether it
    /// was inserted. The partial unique index on `state = 'current'` makes this race-free when
    /// several instances start on an empty database at once: exactly one insert wins.
    #[tracing::instrument(skip_all, fields(kid = %key.kid))]
    pub async fn insert_signing_key_if_none_current(
        &self,
        key: &NewSigningKey,
    ) -> Result<bool, Error> {
        let inserted = on_pool!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, state, public_jwk, sealed_private_key, \
                 created_at, activated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(KeyState::Current.as_str())
            .bind(&key.public_jwk)
            .bind(&key.sealed_private_key)
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(inserted == 1)
    }
}
