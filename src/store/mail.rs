//! The `mail_outbox` and `link_tokens` tables.
//!
//! A mail is queued in the transaction of the request that asks for it and claimed by the
//! mail relay with a lease: the claim moves the row's next attempt past the lease, so a relay
//! that dies mid-send leaves the row to be tried again, and on PostgreSQL `FOR UPDATE SKIP
//! LOCKED` hands each row to one instance. The row holds no link; the relay makes the token
//! when it sends. Link tokens are stored as their SHA-256 and deleted when used (one winner).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::tx::on_tx;
use super::{Error, Pools, Store, Tx, on_pool, on_writer};
use crate::domain::{LinkKind, SecretHash, UserId};

/// A queued mail, as the relay claims it.
#[derive(Debug, Clone)]
pub struct MailJob {
    /// Position in the queue.
    pub seq: i64,
    /// What the mail carries.
    pub kind: LinkKind,
    /// To whom (the address is read when the mail is made).
    pub user_id: UserId,
    /// The user's credentials version when the mail was asked for.
    pub credentials_version: i64,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

#[derive(FromRow)]
struct MailRow {
    seq: i64,
    kind: String,
    user_id: String,
    credentials_version: i64,
    requested_at: DateTime<Utc>,
    attempts: i64,
}

/// How a mail left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailEnd {
    /// The SMTP server accepted it.
    Sent,
    /// Nothing to send any more (user gone, already verified, password changed since).
    Skipped,
    /// Given up: the last attempt failed, or the server refused it for good.
    Dead,
}

impl MailEnd {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Dead => "dead",
        }
    }
}

/// A link token to store with the mail that carries it.
#[derive(Debug)]
pub struct NewLinkToken<'a> {
    /// SHA-256 of the token.
    pub hash: &'a SecretHash,
    /// What it does.
    pub kind: LinkKind,
    /// Whose it is.
    pub user_id: &'a UserId,
    /// The user's credentials version when it was made.
    pub credentials_version: i64,
    /// Made at.
    pub created_at: DateTime<Utc>,
    /// Useless after.
    pub expires_at: DateTime<Utc>,
}

/// A stored link token.
#[derive(Debug, Clone, FromRow)]
pub struct LinkTokenRecord {
    /// Whose it is.
    #[sqlx(try_from = "String")]
    pub user_id: UserId,
    /// The user's credentials version when it was made.
    pub credentials_version: i64,
    /// Useless after.
    pub expires_at: DateTime<Utc>,
}

impl Tx {
    /// Queues a `kind` mail to `user_id` (the relay is woken after the commit).
    pub async fn queue_mail(
        &mut self,
        kind: LinkKind,
        user_id: &UserId,
        credentials_version: i64,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO mail_outbox (kind, user_id, credentials_version, requested_at, \
                 next_attempt_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(kind.as_str())
            .bind(user_id.as_str())
            .bind(credentials_version)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(drop)
        })?;
        self.mailed = true;
        Ok(())
    }

    /// Stores a link token.
    pub async fn insert_link_token(&mut self, token: &NewLinkToken<'_>) -> Result<(), Error> {
        Ok(on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO link_tokens (token_hash, kind, user_id, credentials_version, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token.hash.as_bytes())
            .bind(token.kind.as_str())
            .bind(token.user_id.as_str())
            .bind(token.credentials_version)
            .bind(token.created_at)
            .bind(token.expires_at)
            .execute(&mut *conn)
            .await
            .map(drop)
        })?)
    }

    /// Uses up the `kind` token with this hash: deletes it and returns what it was, or `None`
    /// when there is none (never made, already used). Of parallel uses exactly one gets it.
    pub async fn take_link_token(
        &mut self,
        hash: &SecretHash,
        kind: LinkKind,
    ) -> Result<Option<LinkTokenRecord>, Error> {
        Ok(on_tx!(self, |conn| {
            sqlx::query_as(
                "DELETE FROM link_tokens WHERE token_hash = $1 AND kind = $2 \
                 RETURNING user_id, credentials_version, expires_at",
            )
            .bind(hash.as_bytes())
            .bind(kind.as_str())
            .fetch_optional(&mut *conn)
            .await
        })?)
    }

    /// Deletes every `kind` token of `user_id` (they have nothing left to do).
    pub async fn delete_link_tokens(
        &mut self,
        user_id: &UserId,
        kind: LinkKind,
    ) -> Result<(), Error> {
        Ok(on_tx!(self, |conn| {
            sqlx::query("DELETE FROM link_tokens WHERE user_id = $1 AND kind = $2")
                .bind(user_id.as_str())
                .bind(kind.as_str())
                .execute(&mut *conn)
                .await
                .map(drop)
        })?)
    }
}

impl Store {
    /// The `kind` token with this hash, without using it up.
    pub async fn find_link_token(
        &self,
        hash: &SecretHash,
        kind: LinkKind,
    ) -> Result<Option<LinkTokenRecord>, Error> {
        Ok(on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT user_id, credentials_version, expires_at FROM link_tokens \
                 WHERE token_hash = $1 AND kind = $2",
            )
            .bind(hash.as_bytes())
            .bind(kind.as_str())
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Deletes the token with this hash (its mail was never sent).
    pub async fn delete_link_token(&self, hash: &SecretHash) -> Result<(), Error> {
        Ok(on_writer!(&self.db, |pool| {
            sqlx::query("DELETE FROM link_tokens WHERE token_hash = $1")
                .bind(hash.as_bytes())
                .execute(pool)
                .await
                .map(drop)
        })?)
    }

    /// Claims up to `limit` mails due at `now`, oldest first, counting the attempt: none is
    /// claimed again before `lease_until` unless `retry_mail` or `finish_mail` says so.
    pub async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<MailJob>, Error> {
        let lock = match self.db.pools {
            Pools::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Pools::Sqlite { .. } => "",
        };
        let sql = format!(
            "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $2 \
             WHERE seq IN (SELECT seq FROM mail_outbox WHERE state = 'pending' \
             AND next_attempt_at <= $1 ORDER BY seq LIMIT $3{lock}) \
             RETURNING seq, kind, user_id, credentials_version, requested_at, attempts"
        );
        let rows: Vec<MailRow> = on_writer!(&self.db, |pool| {
            sqlx::query_as(&sql)
                .bind(now)
                .bind(lease_until)
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        let mut jobs =
            rows.into_iter()
                .map(|row| {
                    let kind = row.kind.parse().map_err(|_| {
                        Error::Other(anyhow::anyhow!("unknown mail kind {}", row.kind))
                    })?;
                    Ok(MailJob {
                        seq: row.seq,
                        kind,
                        user_id: UserId::parse(row.user_id).map_err(|_| {
                            Error::Other(anyhow::anyhow!("queued mail has a malformed user id"))
                        })?,
                        credentials_version: row.credentials_version,
                        requested_at: row.requested_at,
                        attempts: row.attempts,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
        jobs.sort_by_key(|job| job.seq);
        Ok(jobs)
    }

    /// Takes mail `seq` out of the queue as `end` at `at`, with the server's reply if any.
    pub async fn finish_mail(
        &self,
        seq: i64,
        end: MailEnd,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), Error> {
        Ok(on_writer!(&self.db, |pool| {
            sqlx::query(
                "UPDATE mail_outbox SET state = $2, done_at = $3, \
                 last_error = COALESCE($4, last_error) WHERE seq = $1",
            )
            .bind(seq)
            .bind(end.as_str())
            .bind(at)
            .bind(error)
            .execute(pool)
            .await
            .map(drop)
        })?)
    }

    /// Tries mail `seq` again at `at`, keeping the reply that failed this attempt.
    pub async fn retry_mail(&self, seq: i64, at: DateTime<Utc>, error: &str) -> Result<(), Error> {
        Ok(on_writer!(&self.db, |pool| {
            sqlx::query(
                "UPDATE mail_outbox SET next_attempt_at = $2, last_error = $3 WHERE seq = $1",
            )
            .bind(seq)
            .bind(at)
            .bind(error)
            .execute(pool)
            .await
            .map(drop)
        })?)
    }

    /// Mails waiting to be sent, and mails given up (dead letters kept until pruned).
    pub async fn mail_backlog(&self) -> Result<(i64, i64), Error> {
        Ok(on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) FROM mail_outbox",
            )
            .fetch_one(pool)
            .await
        })?)
    }

    /// Deletes up to `batch` mails that left the queue before `before`; returns how many.
    pub async fn prune_mail(&self, before: DateTime<Utc>, batch: u32) -> Result<u64, Error> {
        Ok(on_writer!(&self.db, |pool| {
            sqlx::query(
                "DELETE FROM mail_outbox WHERE seq IN (SELECT seq FROM mail_outbox \
                 WHERE state <> 'pending' AND done_at < $1 ORDER BY seq LIMIT $2)",
            )
            .bind(before)
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?)
    }

    /// Deletes up to `batch` link tokens that expired before `now`; returns how many.
    pub async fn prune_link_tokens(&self, now: DateTime<Utc>, batch: u32) -> Result<u64, Error> {
        Ok(on_writer!(&self.db, |pool| {
            sqlx::query(
                "DELETE FROM link_tokens WHERE token_hash IN (SELECT token_hash FROM link_tokens \
                 WHERE expires_at < $1 LIMIT $2)",
            )
            .bind(now)
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?)
    }

    /// Completes when a transaction that queued mail has committed (in this process).
    pub async fn mail_queued(&self) {
        self.outbox.mailed.notified().await;
    }
}
