//! Users: self-registration, creation, and the admin operations (update, delete), which end
//! the user's sessions when they take access away.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::{Error, TokenIssuer};
use crate::domain::{Email, EmailError, Password, PasswordError};
use crate::password::PasswordHasher;
use crate::store::{self, NewUser, Store, User, UserUpdate};

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The email is malformed.
    #[error("{0}")]
    InvalidEmail(#[from] EmailError),
    /// The password breaks the policy.
    #[error("{0}")]
    InvalidPassword(#[from] PasswordError),
    /// Another user has this email (compared case-insensitively).
    #[error("a user with this email already exists")]
    EmailTaken,
    /// No user has this id.
    #[error("no user has this id")]
    NotFound,
    /// Too many registrations; retry after the given time.
    #[error("too many registrations, retry later")]
    TooManyRequests(std::time::Duration),
    /// The database is unreachable.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Anything else.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<store::Error> for UserError {
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

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// Disable (`true`) or enable the account. Disabling ends every session.
    pub disabled: Option<bool>,
    /// Grant or withdraw scope `admin`.
    pub admin: Option<bool>,
    /// A new password (reset). Ends every session.
    pub password: Option<String>,
}

impl TokenIssuer {
    /// Self-registration (`POST /register`) from `ip`: never an admin. The registration
    /// throttle is claimed first, so neither a flood nor a probe for taken emails gets any
    /// further (and no argon2 hash) once the window is used up.
    pub async fn register(
        &self,
        email: &str,
        password: String,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        self.limits
            .claim_registration(ip, now)
            .await
            .map_err(|error| match error {
                Error::TooManyRequests(wait) => UserError::TooManyRequests(wait),
                Error::Unavailable => UserError::Unavailable,
                other => UserError::Internal(other.into()),
            })?;
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

impl TokenIssuer {
    /// Creates a user, admin or not (admin API).
    pub async fn create_user(
        &self,
        account: NewAccount<'_>,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let min_length = self.settings.password_min_length;
        create_user(&self.store, &self.hasher, min_length, account, now).await
    }

    /// Applies `changes` to user `id` atomically. Disabling the user, resetting the
    /// password or withdrawing `admin` ends every session of the user in the same
    /// transaction (and raises the credentials version, so a login verified before the change
    /// cannot start a session after it).
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn update_user(
        &self,
        id: &str,
        changes: UserChanges,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let current = self.store.find_user(id).await?.ok_or(UserError::NotFound)?;
        let password_hash = match changes.password {
            Some(password) => {
                let min_length = self.settings.password_min_length;
                let password = Password::parse_new(password, min_length)?;
                Some(
                    self.hasher
                        .hash(&password)
                        .await
                        .map_err(UserError::Internal)?,
                )
            }
            None => None,
        };
        let disabled = changes.disabled.unwrap_or(current.disabled);
        let is_admin = changes.admin.unwrap_or(current.is_admin);
        let end_sessions = password_hash.is_some()
            || changes.disabled == Some(true)
            || (current.is_admin && !is_admin);
        let update = UserUpdate {
            password_hash: password_hash.as_deref(),
            disabled,
            is_admin,
            end_sessions,
        };
        let user = self
            .store
            .update_user(id, &update, now)
            .await?
            .ok_or(UserError::NotFound)?;
        if end_sessions {
            tracing::info!(user_id = %id, "user sessions revoked");
        }
        tracing::info!(user_id = %id, disabled, admin = is_admin, "user updated");
        Ok(user)
    }

    /// Deletes user `id`; the user's refresh families go with the row.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn delete_user(&self, id: &str) -> Result<(), UserError> {
        if !self.store.delete_user(id).await? {
            return Err(UserError::NotFound);
        }
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
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
) -> Result<User, UserError> {
    let email = Email::parse(account.email)?;
    let password = Password::parse_new(account.password, password_min_length)?;
    // A taken email costs no hash (the insert still refuses one taken meanwhile).
    if store.find_user_by_email(&email).await?.is_some() {
        return Err(UserError::EmailTaken);
    }
    let password_hash = hasher.hash(&password).await.map_err(UserError::Internal)?;
    let new = NewUser {
        email,
        password_hash,
        is_admin: account.is_admin,
    };
    let user = store.insert_user(&new, now).await?;
    tracing::info!(user_id = %user.id, admin = user.is_admin, "user created");
    Ok(user)
}
