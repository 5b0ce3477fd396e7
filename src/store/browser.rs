//! The `browser_sessions` and `authorization_codes` tables (authorization code grant).
//!
//! A code is used by one conditional `UPDATE … RETURNING` (one winner among parallel
//! exchanges); the winner records what it issued in the same transaction, so a later use of
//! the same code finds what to revoke.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::tx::on_tx;
use super::{Error, Store, Tx, on_pool, on_writer};
use crate::domain::{ClientId, FamilyId, Scope, SecretHash, UserId};

/// A live browser session.
#[derive(Debug, Clone, FromRow)]
pub struct BrowserSession {
    /// Public id (never the cookie).
    pub sid: String,
    /// Whose session.
    #[sqlx(try_from = "String")]
    pub user_id: UserId,
    /// When the user entered their password.
    pub auth_time: DateTime<Utc>,
}

/// A browser session to store.
#[derive(Debug)]
pub struct NewBrowserSession<'a> {
    /// SHA-256 of the cookie value.
    pub hash: &'a SecretHash,
    /// Public id.
    pub sid: &'a str,
    /// Whose session.
    pub user_id: &'a UserId,
    /// The user's credentials version the login checked.
    pub credentials_version: i64,
    /// When the password was entered.
    pub auth_time: DateTime<Utc>,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
}

/// An authorization code to store.
#[derive(Debug)]
pub struct NewAuthorizationCode<'a> {
    /// SHA-256 of the code.
    pub hash: &'a SecretHash,
    /// The client it was issued to.
    pub client_id: &'a ClientId,
    /// The user who signed in.
    pub user_id: &'a UserId,
    /// The browser session.
    pub sid: &'a str,
    /// The redirect URI of the request, as sent.
    pub redirect_uri: &'a str,
    /// The PKCE S256 challenge.
    pub code_challenge: &'a str,
    /// The request's `nonce`, for the ID token.
    pub nonce: Option<&'a str>,
    /// The granted scope.
    pub scope: &'a Scope,
    /// When the user entered their password.
    pub auth_time: DateTime<Utc>,
    /// Useless after.
    pub expires_at: DateTime<Utc>,
}

/// A code as its exchange reads it.
#[derive(Debug, Clone, FromRow)]
pub struct AuthorizationCodeRecord {
    /// The client it was issued to.
    #[sqlx(try_from = "String")]
    pub client_id: ClientId,
    /// The user who signed in.
    #[sqlx(try_from = "String")]
    pub user_id: UserId,
    /// The browser session.
    pub sid: String,
    /// The redirect URI of the request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The request's `nonce`.
    pub nonce: Option<String>,
    /// The granted scope.
    #[sqlx(try_from = "String")]
    pub scope: Scope,
    /// When the user entered their password.
    pub auth_time: DateTime<Utc>,
    /// Useless after.
    pub expires_at: DateTime<Utc>,
}

/// What a used code issued: revoked when the code comes back.
#[derive(Debug, Clone)]
pub struct CodeIssued {
    /// The session (refresh family) its exchange started.
    pub family_id: Option<FamilyId>,
    /// The access token its exchange issued, and when that expires.
    pub jti: Option<String>,
    /// When the access token expires.
    pub jti_expires_at: Option<DateTime<Utc>>,
}

const CODE_COLUMNS: &str = "client_id, user_id, sid, redirect_uri, code_challenge, nonce, scope, \
                            auth_time, expires_at";

impl Tx {
    /// Stores a browser session.
    pub async fn insert_browser_session(
        &mut self,
        session: &NewBrowserSession<'_>,
    ) -> Result<(), Error> {
        Ok(on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO browser_sessions (session_hash, sid, user_id, credentials_version, \
                 auth_time, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(session.hash.as_bytes())
            .bind(session.sid)
            .bind(session.user_id.as_str())
            .bind(session.credentials_version)
            .bind(session.auth_time)
            .bind(session.expires_at)
            .execute(&mut *conn)
            .await
            .map(drop)
        })?)
    }

    /// Stores an authorization code.
    pub async fn insert_authorization_code(
        &mut self,
        code: &NewAuthorizationCode<'_>,
    ) -> Result<(), Error> {
        Ok(on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO authorization_codes (code_hash, client_id, user_id, sid, \
                 redirect_uri, code_challenge, nonce, scope, auth_time, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(code.hash.as_bytes())
            .bind(code.client_id.as_str())
            .bind(code.user_id.as_str())
            .bind(code.sid)
            .bind(code.redirect_uri)
            .bind(code.code_challenge)
            .bind(code.nonce)
            .bind(code.scope.to_string())
            .bind(code.auth_time)
            .bind(code.expires_at)
            .execute(&mut *conn)
            .await
            .map(drop)
        })?)
    }

    /// Uses the code with this hash at `now`: its record, or `None` when it is unknown or
    /// was used before (then `used_code` tells which).
    pub async fn use_authorization_code(
        &mut self,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<AuthorizationCodeRecord>, Error> {
        let sql = format!(
            "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 \
             AND used_at IS NULL RETURNING {CODE_COLUMNS}"
        );
        Ok(on_tx!(self, |conn| {
            sqlx::query_as(&sql)
                .bind(hash.as_bytes())
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
        })?)
    }

    /// Records what the exchange of the code with this hash issued.
    pub async fn record_code_issue(
        &mut self,
        hash: &SecretHash,
        family_id: &FamilyId,
        (jti, expires_at): (&str, DateTime<Utc>),
    ) -> Result<(), Error> {
        Ok(on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE authorization_codes SET family_id = $2, jti = $3, jti_expires_at = $4 \
                 WHERE code_hash = $1",
            )
            .bind(hash.as_bytes())
            .bind(family_id.as_str())
            .bind(jti)
            .bind(expires_at)
            .execute(&mut *conn)
            .await
            .map(drop)
        })?)
    }

    /// The credentials version of browser session `sid` if it is live at `now`: not ended,
    /// not expired, its user enabled and with the credentials the login checked. An
    /// authorization code is worth what the session that minted it is worth.
    pub async fn live_browser_session(
        &mut self,
        sid: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, Error> {
        let version: Option<(i64,)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "SELECT s.credentials_version FROM browser_sessions s \
                 JOIN users u ON u.user_id = s.user_id WHERE s.sid = $1 \
                 AND s.ended_at IS NULL AND s.expires_at > $2 AND NOT u.disabled \
                 AND u.credentials_version = s.credentials_version",
            )
            .bind(sid)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await
        })?;
        Ok(version.map(|(version,)| version))
    }

    /// Ends browser session `sid` (logout), deletes the codes it minted that are still
    /// unused, and revokes the refresh families started from it; returns the families
    /// revoked.
    pub async fn end_browser_session(
        &mut self,
        sid: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE browser_sessions SET ended_at = $2 WHERE sid = $1 AND ended_at IS NULL",
            )
            .bind(sid)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(drop)
        })?;
        on_tx!(self, |conn| {
            sqlx::query("DELETE FROM authorization_codes WHERE sid = $1 AND used_at IS NULL")
                .bind(sid)
                .execute(&mut *conn)
                .await
                .map(drop)
        })?;
        let families: Vec<(String,)> = on_tx!(self, |conn| {
            sqlx::query_as(
                "UPDATE refresh_families SET revoked_at = $2 WHERE browser_sid = $1 \
                 AND revoked_at IS NULL RETURNING family_id",
            )
            .bind(sid)
            .bind(now)
            .fetch_all(&mut *conn)
            .await
        })?;
        Ok(families.into_iter().map(|(id,)| id).collect())
    }
}

impl Store {
    /// The live browser session whose cookie hashes to `hash` at `now`: not ended, not
    /// expired, and its user enabled with the credentials the login checked.
    pub async fn find_browser_session(
        &self,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<BrowserSession>, Error> {
        Ok(on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT s.sid, s.user_id, s.auth_time FROM browser_sessions s \
                 JOIN users u ON u.user_id = s.user_id WHERE s.session_hash = $1 \
                 AND s.ended_at IS NULL AND s.expires_at > $2 AND NOT u.disabled \
                 AND u.credentials_version = s.credentials_version",
            )
            .bind(hash.as_bytes())
            .bind(now)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// What a used code issued; `None` when no code has this hash.
    pub async fn used_code(&self, hash: &SecretHash) -> Result<Option<CodeIssued>, Error> {
        type Row = (Option<String>, Option<String>, Option<DateTime<Utc>>);
        let row: Option<Row> = on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT family_id, jti, jti_expires_at FROM authorization_codes \
                 WHERE code_hash = $1 AND used_at IS NOT NULL",
            )
            .bind(hash.as_bytes())
            .fetch_optional(pool)
            .await
        })?;
        let Some((family_id, jti, jti_expires_at)) = row else {
            return Ok(None);
        };
        let family_id = family_id
            .map(FamilyId::parse)
            .transpose()
            .map_err(|_| Error::Other(anyhow::anyhow!("code names a malformed session")))?;
        Ok(Some(CodeIssued {
            family_id,
            jti,
            jti_expires_at,
        }))
    }

    /// Deletes up to `batch` codes and browser sessions that ended before `before`.
    pub async fn prune_browser_state(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, Error> {
        let codes = on_writer!(&self.db, |pool| {
            sqlx::query(
                "DELETE FROM authorization_codes WHERE code_hash IN (SELECT code_hash \
                 FROM authorization_codes WHERE expires_at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        let sessions = on_writer!(&self.db, |pool| {
            sqlx::query(
                "DELETE FROM browser_sessions WHERE session_hash IN (SELECT session_hash \
                 FROM browser_sessions WHERE expires_at < $1 OR ended_at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(codes.max(sessions))
    }
}
