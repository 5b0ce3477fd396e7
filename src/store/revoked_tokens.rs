//! The `revoked_access_tokens` table: access tokens without a session (client_credentials)
//! revoked before they expire, by `jti`. Shared by every instance through the database.

use chrono::{DateTime, Utc};

use super::tx::on_tx;
use super::{Error, Store, Tx, on_pool};

impl Tx {
    /// Refuses the access token `jti` from now until `expires_at` (repeating is harmless).
    #[tracing::instrument(skip_all)]
    pub async fn revoke_access_token(
        &mut self,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(expires_at)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }
}

impl Store {
    /// Whether the access token `jti` was revoked.
    #[tracing::instrument(skip_all)]
    pub async fn is_access_token_revoked(&self, jti: &str) -> Result<bool, Error> {
        let found: Option<(String,)> = on_pool!(&self.db, |pool| {
            sqlx::query_as("SELECT jti FROM revoked_access_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }

    /// Forgets revocations of tokens expired before `before`, at most `batch` of them;
    /// returns how many went.
    #[tracing::instrument(skip_all)]
    pub async fn prune_revoked_access_tokens(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, Error> {
        let sql = "DELETE FROM revoked_access_tokens WHERE jti IN (SELECT jti FROM \
                   revoked_access_tokens WHERE expires_at < $1 LIMIT $2)";
        self.delete_batch(sql, before, batch).await
    }
}
