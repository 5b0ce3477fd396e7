//! The `refresh_families` and `refresh_tokens` tables: rotation with reuse detection.
//!
//! RFC 9700 §4.14: every use rotates the token; presenting a consumed token revokes its whole
//! family. A token is consumed by a conditional update checked by rows affected (a trigger
//! inserts the successor in the same statement), so of concurrent requests with one token
//! exactly one wins (the others see it consumed). Rotations are grouped by `rotations`.

use chrono::{DateTime, Utc};

use super::rotations::{Rotation, RotationPlan};
use super::tx::on_tx;
use super::{Error, Store, Tx, on_pool};
use crate::domain::{ClientId, FamilyId, Scope, UserId};

/// A stored refresh token with its family, as looked up by hash.
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    /// The login session it belongs to.
    pub family_id: FamilyId,
    /// Whose session.
    pub user_id: UserId,
    /// The client it was issued to; no other client may use it.
    pub client_id: ClientId,
    /// Scope of this token.
    pub scope: Scope,
    /// When the user entered their password.
    pub auth_time: DateTime<Utc>,
    /// Absolute end of the family.
    pub expires_at: DateTime<Utc>,
    /// When this token was consumed, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// When the family was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user's credentials version when the session started.
    pub credentials_version: i64,
    /// The browser session it was started from (authorization code flow), if any.
    pub browser_sid: Option<String>,
}

/// A new login session and its first refresh token.
#[derive(Debug)]
pub struct NewRefreshFamily<'a> {
    /// Fresh family id.
    pub family_id: &'a FamilyId,
    /// Whose session.
    pub user_id: &'a UserId,
    /// The client.
    pub client_id: &'a ClientId,
    /// When the password was checked.
    pub auth_time: DateTime<Utc>,
    /// Absolute end of the family.
    pub expires_at: DateTime<Utc>,
    /// SHA-256 of the first token.
    pub token_hash: &'a [u8],
    /// Scope of the first token.
    pub scope: &'a Scope,
    /// The user's credentials version that the login checked.
    pub credentials_version: i64,
    /// The browser session it was started from (authorization code grant).
    pub browser_sid: Option<&'a str>,
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    family_id: String,
    user_id: String,
    client_id: String,
    scope: String,
    auth_time: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    credentials_version: i64,
    browser_sid: Option<String>,
}

impl TryFrom<RecordRow> for RefreshTokenRecord {
    type Error = Error;

    fn try_from(row: RecordRow) -> Result<Self, Error> {
        let corrupt =
            |what: &str| Error::Other(anyhow::anyhow!("refresh token has a malformed {what}"));
        Ok(Self {
            family_id: FamilyId::parse(row.family_id).map_err(|_| corrupt("family id"))?,
            user_id: UserId::parse(row.user_id).map_err(|_| corrupt("user id"))?,
            client_id: ClientId::parse(row.client_id).map_err(|_| corrupt("client id"))?,
            scope: Scope::parse(&row.scope).map_err(|_| corrupt("scope"))?,
            auth_time: row.auth_time,
            expires_at: row.expires_at,
            used_at: row.used_at,
            revoked_at: row.revoked_at,
            credentials_version: row.credentials_version,
            browser_sid: row.browser_sid,
        })
    }
}

impl Tx {
    /// Starts a login session with its first refresh token, only while the user is enabled
    /// and still at `credentials_version` (one conditional insert); `false` otherwise.
    #[tracing::instrument(skip_all)]
    pub async fn insert_refresh_family(
        &mut self,
        family: &NewRefreshFamily<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let inserted = on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO refresh_families (family_id, user_id, client_id, auth_time, \
                 created_at, expires_at, credentials_version, browser_sid) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM users \
                 WHERE user_id = $2 AND credentials_version = $7 AND NOT disabled)",
            )
            .bind(family.family_id.as_str())
            .bind(family.user_id.as_str())
            .bind(family.client_id.as_str())
            .bind(family.auth_time)
            .bind(now)
            .bind(family.expires_at)
            .bind(family.credentials_version)
            .bind(family.browser_sid)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
        })?;
        if inserted == 0 {
            return Ok(false);
        }
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, scope, issued_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(family.token_hash)
            .bind(family.family_id.as_str())
            .bind(family.scope.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(true)
    }

    /// Revokes one family; `false` if unknown or already revoked.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_refresh_family(
        &mut self,
        family_id: &FamilyId,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let revoked = on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE refresh_families SET revoked_at = $2 \
                 WHERE family_id = $1 AND revoked_at IS NULL",
            )
            .bind(family_id.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(revoked == 1)
    }

    /// Revokes one family; its user, or `None` if unknown or already revoked.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_refresh_family_owner(
        &mut self,
        family_id: &FamilyId,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, Error> {
        let revoked: Option<(String,)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "UPDATE refresh_families SET revoked_at = $2 \
                 WHERE family_id = $1 AND revoked_at IS NULL RETURNING user_id",
            )
            .bind(family_id.as_str())
            .bind(now)
            .fetch_optional(&mut *conn)
            .await
        })?;
        revoked
            .map(|(user_id,)| UserId::parse(user_id))
            .transpose()
            .map_err(|_| Error::Other(anyhow::anyhow!("session has a malformed user id")))
    }

    /// Revokes every live family of a user (log out everywhere, password reset, disabling,
    /// deletion); returns their ids.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_user_sessions(
        &mut self,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<FamilyId>, Error> {
        self.fault("revoke_sessions")?;
        let revoked: Vec<(String,)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "UPDATE refresh_families SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL RETURNING family_id",
            )
            .bind(user_id.as_str())
            .bind(now)
            .fetch_all(&mut *conn)
            .await
        })?;
        // A code minted before this moment must not start a session after it.
        on_tx!(self, |conn| {
            sqlx::query("DELETE FROM authorization_codes WHERE user_id = $1 AND used_at IS NULL")
                .bind(user_id.as_str())
                .execute(&mut *conn)
                .await
                .map(drop)
        })?;
        revoked
            .into_iter()
            .map(|(id,)| FamilyId::parse(id))
            .collect::<Result<_, _>>()
            .map_err(|_| Error::Other(anyhow::anyhow!("session has a malformed id")))
    }
}

impl Store {
    /// The token with this hash and its family.
    #[tracing::instrument(skip_all)]
    pub async fn find_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshTokenRecord>, Error> {
        let row: Option<RecordRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT f.family_id, f.user_id, f.client_id, t.scope, f.auth_time, f.expires_at, \
                 t.used_at, f.revoked_at, f.credentials_version, f.browser_sid FROM refresh_tokens t \
                 JOIN refresh_families f ON f.family_id = t.family_id WHERE t.token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
        })?;
        row.map(RefreshTokenRecord::try_from).transpose()
    }

    /// Executes `plan` (see `RotationPlan`). Concurrent rotations are grouped into one
    /// statement (see `rotations`).
    #[tracing::instrument(skip_all)]
    pub async fn rotate_refresh_token(&self, plan: RotationPlan) -> Result<Rotation, Error> {
        self.rotations.rotate(plan).await
    }

    /// Whether a family exists and is neither revoked nor expired at `now`.
    #[tracing::instrument(skip_all)]
    pub async fn is_refresh_family_active(
        &self,
        family_id: &FamilyId,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let found: Option<(String,)> = on_pool!(&self.db, |pool| {
            sqlx::query_as("SELECT family_id FROM refresh_families WHERE family_id = $1 AND revoked_at IS NULL AND expires_at > $2")
                .bind(family_id.as_str())
                .bind(now)
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }
}

impl Store {
    /// Deletes at most `batch` refresh tokens of sessions that expired before `before`, and
    /// at most `batch` of sessions revoked before it; returns the larger count (`batch` while
    /// more may be left).
    #[tracing::instrument(skip_all)]
    pub async fn prune_ended_refresh_tokens(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, Error> {
        self.prune_ended(before, batch, |ended| {
            format!(
                "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT t.token_hash \
                 FROM refresh_families f JOIN refresh_tokens t ON t.family_id = f.family_id \
                 WHERE f.{ended} LIMIT $2)"
            )
        })
        .await
    }

    /// Deletes at most `batch` sessions that expired before `before`, and at most `batch`
    /// revoked before it, with any tokens left; returns the larger count.
    #[tracing::instrument(skip_all)]
    pub async fn prune_ended_refresh_families(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, Error> {
        self.prune_ended(before, batch, |ended| {
            format!(
                "DELETE FROM refresh_families WHERE family_id IN (SELECT family_id \
                 FROM refresh_families WHERE {ended} LIMIT $2)"
            )
        })
        .await
    }

    /// Runs the batched delete `sql` builds once for sessions that expired and once for
    /// sessions revoked before `before` (one condition each: both use their index).
    async fn prune_ended(
        &self,
        before: DateTime<Utc>,
        batch: u32,
        sql: impl Fn(&str) -> String,
    ) -> Result<u64, Error> {
        let mut deleted = 0;
        for ended in ["expires_at < $1", "revoked_at < $1"] {
            deleted = deleted.max(self.delete_batch(&sql(ended), before, batch).await?);
        }
        Ok(deleted)
    }
}
