//! The `users` table.

use chrono::{DateTime, Utc};

use super::{Error, Store, on_pool, on_writer};
use crate::domain::Email;

/// A registered user.
#[derive(Debug, Clone)]
pub struct User {
    /// Stable id (a UUID), the `sub` of the user's tokens.
    pub id: String,
    /// Login name, as registered.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// May be granted scope `admin`.
    pub is_admin: bool,
    /// A disabled user cannot log in or refresh.
    pub disabled: bool,
    /// When the user registered.
    pub created_at: DateTime<Utc>,
}

/// What `insert_user` needs.
#[derive(Debug)]
pub struct NewUser {
    /// Login name.
    pub email: Email,
    /// argon2id PHC string.
    pub password_hash: String,
    /// May be granted scope `admin`.
    pub is_admin: bool,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    user_id: String,
    email: String,
    password_hash: String,
    is_admin: bool,
    disabled: bool,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.user_id,
            email: row.email,
            password_hash: row.password_hash,
            is_admin: row.is_admin,
            disabled: row.disabled,
            created_at: row.created_at,
        }
    }
}

const SELECT_USER: &str =
    "SELECT user_id, email, password_hash, is_admin, disabled, created_at FROM users";

impl Store {
    /// Registers a user with a fresh id; `Error::Conflict` when the email is taken (compared
    /// case-insensitively).
    #[tracing::instrument(skip_all)]
    pub async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<User, Error> {
        let id = uuid::Uuid::new_v4().to_string();
        on_writer!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO users (user_id, email, email_normalized, password_hash, is_admin, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(&id)
            .bind(user.email.as_str())
            .bind(user.email.normalized())
            .bind(&user.password_hash)
            .bind(user.is_admin)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(User {
            id,
            email: user.email.as_str().to_owned(),
            password_hash: user.password_hash.clone(),
            is_admin: user.is_admin,
            disabled: false,
            created_at: now,
        })
    }

    /// The user with this login name (case-insensitive).
    #[tracing::instrument(skip_all)]
    pub async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, Error> {
        let sql = format!("{SELECT_USER} WHERE email_normalized = $1");
        self.select_user(&sql, email.normalized()).await
    }

    /// The user with this id.
    #[tracing::instrument(skip_all)]
    pub async fn find_user(&self, id: &str) -> Result<Option<User>, Error> {
        self.select_user(&format!("{SELECT_USER} WHERE user_id = $1"), id)
            .await
    }

    async fn select_user(&self, sql: &str, key: &str) -> Result<Option<User>, Error> {
        let row: Option<UserRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(sql).bind(key).fetch_optional(pool).await
        })?;
        Ok(row.map(User::from))
    }

    /// A page of users, oldest first: at most `limit` after skipping `offset`.
    #[tracing::instrument(skip_all)]
    pub async fn list_users(&self, limit: u32, offset: u64) -> Result<Vec<User>, Error> {
        let sql = format!("{SELECT_USER} ORDER BY created_at, user_id LIMIT $1 OFFSET $2");
        let rows: Vec<UserRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(&sql)
                .bind(i64::from(limit))
                .bind(i64::try_from(offset).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(User::from).collect())
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

    /// Sets a user's `disabled` and `is_admin` flags; `false` when the user is unknown.
    #[tracing::instrument(skip_all)]
    pub async fn update_user_flags(
        &self,
        id: &str,
        disabled: bool,
        is_admin: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let updated = on_writer!(&self.db, |pool| {
            sqlx::query(
                "UPDATE users SET disabled = $2, is_admin = $3, updated_at = $4 WHERE user_id = $1",
            )
            .bind(id)
            .bind(disabled)
            .bind(is_admin)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(updated == 1)
    }

    /// Replaces a user's password hash (rehash after a parameter change, password reset).
    #[tracing::instrument(skip_all)]
    pub async fn update_password_hash(
        &self,
        id: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        on_writer!(&self.db, |pool| {
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE user_id = $1")
                .bind(id)
                .bind(hash)
                .bind(now)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Deletes a user; their refresh families and tokens go with them. `false` if unknown.
    #[tracing::instrument(skip_all)]
    pub async fn delete_user(&self, id: &str) -> Result<bool, Error> {
        let deleted = on_writer!(&self.db, |pool| {
            sqlx::query("DELETE FROM users WHERE user_id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(deleted > 0)
    }
}
