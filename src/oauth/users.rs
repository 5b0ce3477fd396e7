//! Self-registration and user creation.

use chrono::{DateTime, Utc};

use super::TokenIssuer;
use crate::domain::{Email, EmailError, Password, PasswordError};
use crate::password::PasswordHasher;
use crate::store::{self, NewUser, Store, User};

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The email is malformed.
    #[error("{0}")]
    InvalidEmail(#[from] EmailError),
    /// The password breaks the policy.
    #[error("{0}")]
    InvalidPassword(#[from] PasswordError),
    /// Another user has this email (compared case-insensitively).
    #[error("a user with this email already exists")]
    EmailTaken,
    /// The database is unreachable.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Anything else.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<store::Error> for RegisterError {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::Conflict => Self::EmailTaken,
            store::Error::Unavailable(_) => Self::Unavailable,
            other => Self::Internal(other.into()),
        }
    }
}

/// A user to create.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// Email address (login name).
    pub email: &'a str,
    /// The chosen password.
    pub password: String,
    /// May be granted scope `admin`.
    pub is_admin: bool,
}

impl TokenIssuer {
    /// Self-registration (`POST /register`): never an admin.
    pub async fn register(
        &self,
        email: &str,
        password: String,
        now: DateTime<Utc>,
    ) -> Result<User, RegisterError> {
        let account = NewAccount {
            email,
            password,
            is_admin: false,
        };
        create_user(
            &self.store,
            &self.hasher,
            self.settings.password_min_length,
            account,
            now,
        )
        .await
    }
}

/// Creates a user with an argon2id hash of the password (registration and `sigil user create`).
#[tracing::instrument(skip_all)]
pub async fn create_user(
    store: &Store,
    hasher: &PasswordHasher,
    password_min_length: usize,
    account: NewAccount<'_>,
    now: DateTime<Utc>,
) -> Result<User, RegisterError> {
    let email = Email::parse(account.email)?;
    let password = Password::parse_new(account.password, password_min_length)?;
    let password_hash = hasher
        .hash(&password)
        .await
        .map_err(RegisterError::Internal)?;
    let new = NewUser {
        email,
        password_hash,
        is_admin: account.is_admin,
    };
    let user = store.insert_user(&new, now).await?;
    tracing::info!(user_id = %user.id, admin = user.is_admin, "user created");
    Ok(user)
}
