//! The `signing_keys` table: the shared key ring, private parts sealed by `keys/`.
//!
//! Every transition is one conditional statement (or one transaction of them) checked by rows
//! affected, so when several instances run the same check at once exactly one of them
//! performs it. The partial unique indexes allow at most one `current` and one `next` key per
//! algorithm.

use chrono::{DateTime, Utc};

use super::tx::on_tx;
use super::{Error, Store, Tx, on_pool};
use crate::domain::{KeyState, SigningAlgorithm};

/// What `Tx::revoke_signing_key` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The key was in this state and is now removed (a current key's successor signs).
    Revoked(KeyState),
    /// The key is current and its algorithm has no next key to take over: nothing changed.
    NoSuccessor,
    /// No published key has this kid.
    Unknown,
}

/// A key as stored: public JWK in clear, private key as an encrypted envelope.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm.
    pub alg: SigningAlgorithm,
    /// Lifecycle state.
    pub state: KeyState,
    /// Public JWK as JSON text.
    pub public_jwk: String,
    /// Private key sealed with the key-encryption key; `None` once removed.
    pub sealed_private_key: Option<String>,
    /// When it entered the ring (and the JWKS).
    pub published_at: DateTime<Utc>,
    /// When it started signing.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// When it left the JWKS.
    pub removed_at: Option<DateTime<Utc>>,
    /// Whether it was removed by an emergency revocation.
    pub revoked: bool,
}

/// What `insert_signing_key` needs.
#[derive(Debug)]
pub struct NewSigningKey {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub alg: SigningAlgorithm,
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
    sealed_private_key: Option<String>,
    published_at: DateTime<Utc>,
    activated_at: Option<DateTime<Utc>>,
    retired_at: Option<DateTime<Utc>>,
    removed_at: Option<DateTime<Utc>>,
    revoked: bool,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = Error;

    fn try_from(row: KeyRow) -> Result<Self, Error> {
        let state = KeyState::parse(&row.state)
            .ok_or_else(|| Error::Other(anyhow::anyhow!("signing key has unknown state")))?;
        let alg = row
            .alg
            .parse()
            .map_err(|_| Error::Other(anyhow::anyhow!("signing key has unknown algorithm")))?;
        Ok(Self {
            kid: row.kid,
            alg,
            state,
            public_jwk: row.public_jwk,
            sealed_private_key: row.sealed_private_key,
            published_at: row.published_at,
            activated_at: row.activated_at,
            retired_at: row.retired_at,
            removed_at: row.removed_at,
            revoked: row.revoked,
        })
    }
}

const SELECT_KEYS: &str = "SELECT kid, alg, state, public_jwk, sealed_private_key, published_at, \
                           activated_at, retired_at, removed_at, revoked FROM signing_keys";

impl Store {
    /// The published keys (next, current, retired), oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_signing_keys(&self) -> Result<Vec<StoredKey>, Error> {
        let sql = format!("{SELECT_KEYS} WHERE state <> 'removed' ORDER BY published_at, kid");
        self.select_keys(&sql).await
    }

    /// Every key ever in the ring, removed ones included, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_all_signing_keys(&self) -> Result<Vec<StoredKey>, Error> {
        self.select_keys(&format!("{SELECT_KEYS} ORDER BY published_at, kid"))
            .await
    }

    async fn select_keys(&self, sql: &str) -> Result<Vec<StoredKey>, Error> {
        let rows: Vec<KeyRow> =
            on_pool!(&self.db, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        rows.into_iter().map(StoredKey::try_from).collect()
    }
}

/// Reads inside a transaction, and the key transitions.
impl Tx {
    /// The key `kid` as this transaction sees it (for the event of a transition it made).
    pub async fn signing_key(&mut self, kid: &str) -> Result<Option<StoredKey>, Error> {
        self.find_key("kid = $1", kid).await
    }

    /// The current key of `alg`, as this transaction sees it.
    pub async fn current_signing_key(
        &mut self,
        alg: SigningAlgorithm,
    ) -> Result<Option<StoredKey>, Error> {
        self.find_key("state = 'current' AND alg = $1", alg.as_str())
            .await
    }

    async fn find_key(&mut self, filter: &str, bind: &str) -> Result<Option<StoredKey>, Error> {
        let sql = format!("{SELECT_KEYS} WHERE {filter}");
        let row: Option<KeyRow> = on_tx!(self, |conn| {
            sqlx::query_as(&sql)
                .bind(bind)
                .fetch_optional(&mut *conn)
                .await
        })?;
        row.map(StoredKey::try_from).transpose()
    }

    // Key transitions: each is a conditional statement whose rows affected say whether this
    // instance won, made in the caller's transaction so its audit row commits with it.
    /// Inserts `key` as the `current` or `next` key unless the ring already has one in that
    /// state; returns whether it was inserted. The partial unique index decides the race.
    #[tracing::instrument(skip_all, fields(kid = %key.kid, state = state.as_str()))]
    pub async fn insert_signing_key(
        &mut self,
        key: &NewSigningKey,
        state: KeyState,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let activated_at = (state == KeyState::Current).then_some(now);
        let inserted = on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, state, public_jwk, sealed_private_key, \
                 published_at, activated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&key.kid)
            .bind(key.alg.as_str())
            .bind(state.as_str())
            .bind(&key.public_jwk)
            .bind(&key.sealed_private_key)
            .bind(now)
            .bind(activated_at)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(inserted == 1)
    }

    /// Retires `current_kid` and makes `next_kid` current. Returns `false` when either is no
    /// longer in that state (another instance won): the caller then rolls back.
    #[tracing::instrument(skip_all, fields(current = current_kid, next = next_kid))]
    pub async fn promote_signing_key(
        &mut self,
        current_kid: &str,
        next_kid: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        on_tx!(self, |conn| {
            let retired = sqlx::query(
                "UPDATE signing_keys SET state = 'retired', retired_at = $2 \
                 WHERE kid = $1 AND state = 'current'",
            )
            .bind(current_kid)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if retired != 1 {
                return Ok(false);
            }
            let promoted = sqlx::query(
                "UPDATE signing_keys SET state = 'current', activated_at = $2 \
                 WHERE kid = $1 AND state = 'next'",
            )
            .bind(next_kid)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(promoted == 1)
        })
    }

    /// Stops the keys of an algorithm no longer configured: its current key retires (published
    /// until its tokens expire), its next key is removed. Returns the kids that changed.
    #[tracing::instrument(skip_all, fields(alg))]
    pub async fn retire_signing_algorithm(
        &mut self,
        alg: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        let changed: Vec<(String,)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "UPDATE signing_keys SET \
                 state = CASE WHEN state = 'current' THEN 'retired' ELSE 'removed' END, \
                 retired_at = CASE WHEN state = 'current' THEN $2 ELSE retired_at END, \
                 removed_at = CASE WHEN state = 'next' THEN $2 ELSE removed_at END, \
                 sealed_private_key = CASE WHEN state = 'next' THEN NULL ELSE sealed_private_key END \
                 WHERE alg = $1 AND state IN ('current', 'next') RETURNING kid",
            )
            .bind(alg)
            .bind(now)
            .fetch_all(&mut *conn)
            .await
        })?;
        Ok(changed.into_iter().map(|(kid,)| kid).collect())
    }

    /// Makes `next_kid` current when its algorithm has no current key (a newly configured
    /// algorithm, once its key was published long enough); `false` when another instance did.
    #[tracing::instrument(skip_all, fields(next = next_kid))]
    pub async fn activate_signing_key(
        &mut self,
        next_kid: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let activated = on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE signing_keys SET state = 'current', activated_at = $2 \
                 WHERE kid = $1 AND state = 'next'",
            )
            .bind(next_kid)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(activated == 1)
    }

    /// Removes retired keys retired at or before `retired_before`, erasing their private
    /// keys; returns their kids.
    #[tracing::instrument(skip_all)]
    pub async fn remove_retired_signing_keys(
        &mut self,
        retired_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        let removed: Vec<(String,)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "UPDATE signing_keys SET state = 'removed', removed_at = $2, \
                 sealed_private_key = NULL WHERE state = 'retired' AND retired_at <= $1 \
                 RETURNING kid",
            )
            .bind(retired_before)
            .bind(now)
            .fetch_all(&mut *conn)
            .await
        })?;
        Ok(removed.into_iter().map(|(kid,)| kid).collect())
    }

    /// Emergency revocation: removes `kid` from the ring at once, erasing its private key.
    /// A current key is removed only together with its successor's activation: the next key
    /// of its algorithm becomes current in the same transaction, and without a next key
    /// nothing changes (`NoSuccessor`: the ring is never left without a signing key).
    #[tracing::instrument(skip_all, fields(kid = kid))]
    pub async fn revoke_signing_key(
        &mut self,
        kid: &str,
        now: DateTime<Utc>,
    ) -> Result<Revocation, Error> {
        on_tx!(self, |conn| {
            for state in [KeyState::Current, KeyState::Next, KeyState::Retired] {
                // The key's own row first, as rotation takes it, so a concurrent rotation or
                // revocation waits for this one instead of interleaving with it.
                let revoked = sqlx::query(
                    "UPDATE signing_keys SET state = 'removed', removed_at = $3, revoked = TRUE \
                     WHERE kid = $1 AND state = $2",
                )
                .bind(kid)
                .bind(state.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if revoked == 0 {
                    continue;
                }
                if state == KeyState::Current {
                    let promoted = sqlx::query(
                        "UPDATE signing_keys SET state = 'current', activated_at = $1 \
                         WHERE state = 'next' AND alg = (SELECT alg FROM signing_keys WHERE kid = $2)",
                    )
                    .bind(now)
                    .bind(kid)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if promoted == 0 {
                        sqlx::query(
                            "UPDATE signing_keys SET state = 'current', removed_at = NULL, \
                             revoked = FALSE WHERE kid = $1",
                        )
                        .bind(kid)
                        .execute(&mut *conn)
                        .await?;
                        return Ok(Revocation::NoSuccessor);
                    }
                }
                sqlx::query("UPDATE signing_keys SET sealed_private_key = NULL WHERE kid = $1")
                    .bind(kid)
                    .execute(&mut *conn)
                    .await?;
                return Ok(Revocation::Revoked(state));
            }
            Ok(Revocation::Unknown)
        })
    }
}
