//! The `users` table.

use chrono::{DateTime, Utc};

use super::tx::on_tx;
use super::{Error, Store, Tx, on_pool, on_writer};
use crate::domain::{Email, UserId};

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    /// Stable id, the `sub` of the user's tokens.
    pub id: UserId,
    /// Login name, as registered.
    pub email: String,
    /// argon2id PHC string (or a bcrypt hash brought over by an import, until the first
    /// login replaces it).
    pub password_hash: String,
    /// Display name (OIDC `name`), if any.
    pub display_name: Option<String>,
    /// May be granted scope `admin`.
    pub is_admin: bool,
    /// A disabled user cannot log in or refresh.
    pub disabled: bool,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// When the user registered.
    pub created_at: DateTime<Utc>,
    /// Goes up with every change that ends all sessions (password, disabling, demotion).
    pub credentials_version: i64,
}

/// What `update_user` writes; the flags are always written.
#[derive(Debug)]
pub struct UserUpdate<'a> {
    /// A new login name, if any.
    pub email: Option<&'a Email>,
    /// A new password hash (reset), if any.
    pub password_hash: Option<&'a str>,
    /// The `disabled` flag.
    pub disabled: bool,
    /// The `is_admin` flag.
    pub is_admin: bool,
    /// The `email_verified` flag.
    pub email_verified: bool,
    /// The display name (`None` clears it).
    pub display_name: Option<&'a str>,
    /// Raise the credentials version: a login verified before this change cannot start a
    /// session after it (the caller revokes the live sessions in the same transaction).
    pub end_sessions: bool,
}

/// What `insert_user` needs.
#[derive(Debug)]
pub struct NewUser {
    /// Login name.
    pub email: Email,
    /// argon2id PHC string, or an imported hash `password::check_imported_hash` accepted.
    pub password_hash: String,
    /// Display name, if any.
    pub display_name: Option<String>,
    /// May be granted scope `admin`.
    pub is_admin: bool,
    /// Whether the address is known to be the user's (admin-created or imported users).
    pub email_verified: bool,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    user_id: String,
    email: String,
    password_hash: String,
    display_name: Option<String>,
    is_admin: bool,
    disabled: bool,
    email_verified: bool,
    created_at: DateTime<Utc>,
    credentials_version: i64,
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(row: UserRow) -> Result<Self, Error> {
        let id = UserId::parse(row.user_id)
            .map_err(|_| Error::Other(anyhow::anyhow!("user has a malformed id")))?;
        Ok(Self {
            id,
            email: row.email,
            password_hash: row.password_hash,
            display_name: row.display_name,
            is_admin: row.is_admin,
            disabled: row.disabled,
            email_verified: row.email_verified,
            created_at: row.created_at,
            credentials_version: row.credentials_version,
        })
    }
}

const USER_COLUMNS: &str = "user_id, email, password_hash, display_name, is_admin, disabled, \
     email_verified, created_at, credentials_version";

impl Tx {
    /// Registers a user with a fresh id; `Error::Conflict` when the email is taken (compared
    /// case-insensitively).
    #[tracing::instrument(skip_all)]
    pub async fn insert_user(&mut self, user: &NewUser, now: DateTime<Utc>) -> Result<User, Error> {
        self.insert_user_row(user, (now, now), "")
            .await?
            .ok_or(Error::Conflict)
    }

    /// Registers a user brought over from another service, created at `times.0` (from the
    /// import file) and written at `times.1`; `None`, changing nothing, when the email is
    /// taken (a re-run import skips the users it already brought over).
    #[tracing::instrument(skip_all)]
    pub async fn import_user(
        &mut self,
        user: &NewUser,
        times: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Option<User>, Error> {
        self.insert_user_row(user, times, " ON CONFLICT (email_normalized) DO NOTHING")
            .await
    }

    /// Inserts `user` (created at `times.0`, updated at `times.1`) with `on_conflict`; `None`
    /// when that clause skipped it.
    async fn insert_user_row(
        &mut self,
        user: &NewUser,
        (created_at, now): (DateTime<Utc>, DateTime<Utc>),
        on_conflict: &str,
    ) -> Result<Option<User>, Error> {
        let id = UserId::generate();
        let sql = format!(
            "INSERT INTO users (user_id, email, email_normalized, password_hash, is_admin, \
             email_verified, created_at, updated_at, display_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9){on_conflict}"
        );
        let inserted = on_tx!(self, |conn| {
            sqlx::query(&sql)
                .bind(id.as_str())
                .bind(user.email.as_str())
                .bind(user.email.normalized())
                .bind(&user.password_hash)
                .bind(user.is_admin)
                .bind(user.email_verified)
                .bind(created_at)
                .bind(now)
                .bind(user.display_name.as_deref())
                .execute(&mut *conn)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok((inserted == 1).then(|| User {
            id,
            email: user.email.as_str().to_owned(),
            password_hash: user.password_hash.clone(),
            display_name: user.display_name.clone(),
            is_admin: user.is_admin,
            disabled: false,
            email_verified: user.email_verified,
            created_at,
            credentials_version: 0,
        }))
    }

    /// The user with this id, locked until the transaction ends (PostgreSQL; SQLite's
    /// transaction already holds the only writer).
    #[tracing::instrument(skip_all)]
    pub async fn lock_user(&mut self, id: &UserId) -> Result<Option<User>, Error> {
        let lock = self.row_lock();
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = $1{lock}");
        let row: Option<UserRow> = on_tx!(self, |conn| {
            sqlx::query_as(&sql)
                .bind(id.as_str())
                .fetch_optional(&mut *conn)
                .await
        })?;
        row.map(User::try_from).transpose()
    }

    /// Writes the new email and hash (if any) and flags of user `id`, raising the credentials
    /// version with `end_sessions`. The updated user, or `None` when unknown;
    /// `Error::Conflict` when the new email is taken.
    #[tracing::instrument(skip_all)]
    pub async fn update_user(
        &mut self,
        id: &UserId,
        update: &UserUpdate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, Error> {
        let sql = format!(
            "UPDATE users SET password_hash = COALESCE($2, password_hash), disabled = $3, \
             is_admin = $4, email_verified = $5, credentials_version = credentials_version + $6, \
             updated_at = $7, display_name = $8, email = COALESCE($9, email), \
             email_normalized = COALESCE($10, email_normalized) \
             WHERE user_id = $1 RETURNING {USER_COLUMNS}"
        );
        let row: Option<UserRow> = on_tx!(self, |conn| {
            sqlx::query_as(&sql)
                .bind(id.as_str())
                .bind(update.password_hash)
                .bind(update.disabled)
                .bind(update.is_admin)
                .bind(update.email_verified)
                .bind(i64::from(update.end_sessions))
                .bind(now)
                .bind(update.display_name)
                .bind(update.email.map(Email::as_str))
                .bind(update.email.map(Email::normalized))
                .fetch_optional(&mut *conn)
                .await
        })?;
        row.map(User::try_from).transpose()
    }

    /// Deletes a user; their refresh families and tokens go with them. `false` if unknown.
    #[tracing::instrument(skip_all)]
    pub async fn delete_user(&mut self, id: &UserId) -> Result<bool, Error> {
        let deleted = on_tx!(self, |conn| {
            sqlx::query("DELETE FROM users WHERE user_id = $1")
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(deleted > 0)
    }
}

impl Store {
    /// The user with this login name (case-insensitive).
    #[tracing::instrument(skip_all)]
    pub async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_normalized = $1");
        self.select_user(&sql, email.normalized()).await
    }

    /// The user with this id.
    #[tracing::instrument(skip_all)]
    pub async fn find_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.select_user(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = $1"),
            id.as_str(),
        )
        .await
    }

    async fn select_user(&self, sql: &str, key: &str) -> Result<Option<User>, Error> {
        let row: Option<UserRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(sql).bind(key).fetch_optional(pool).await
        })?;
        row.map(User::try_from).transpose()
    }

    /// A page of users, oldest first: at most `limit` after skipping `offset`.
    #[tracing::instrument(skip_all)]
    pub async fn list_users(&self, limit: u32, offset: u64) -> Result<Vec<User>, Error> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, user_id LIMIT $1 OFFSET $2"
        );
        let rows: Vec<UserRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(&sql)
                .bind(i64::from(limit))
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(User::try_from).collect()
    }

    /// Whether any user exists (first-start bootstrap).
    #[tracing::instrument(skip_all)]
    pub async fn has_users(&self) -> Result<bool, Error> {
        let found: Option<(String,)> = on_pool!(&self.db, |pool| {
            sqlx::query_as("SELECT user_id FROM users LIMIT 1")
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }

    /// Replaces the hash a login just verified (`old`) with `new` (a rehash with today's
    /// parameters or from bcrypt to argon2id), only while `old` is still the stored hash: a
    /// password changed meanwhile is never overwritten. Whether it was replaced.
    #[tracing::instrument(skip_all)]
    pub async fn rehash_password(
        &self,
        id: &UserId,
        (old, new): (&str, &str),
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let replaced = on_writer!(&self.db, |pool| {
            sqlx::query(
                "UPDATE users SET password_hash = $3, updated_at = $4 \
                 WHERE user_id = $1 AND password_hash = $2",
            )
            .bind(id.as_str())
            .bind(old)
            .bind(new)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(replaced == 1)
    }
}
