//! Accounts: self-registration, and the admin operations on users (create, list, read,
//! update, delete). A change that takes access away ends the user's sessions in the same
//! transaction, and every change is in the audit log with it.
//!
//! Here: the errors, the records the use cases take and give, and `Accounts` itself.
//! `create.rs`: registration and creation; `manage.rs`: list, read, update, delete;
//! `change.rs`: one change to one user inside a transaction (also used by the emailed links),
//! with the rule of which changes end the user's sessions.

use secrecy::{ExposeSecret as _, SecretString};

use super::Error;
use super::limits::Limits;
use crate::domain::{DisplayName, DisplayNameError, EmailError, Password, PasswordError};
use crate::password::{HashFormatError, PasswordHasher};
use crate::store::{Store, User};

mod change;
mod create;
mod manage;

pub(super) use change::{Change, change_user};
pub(super) use manage::delete_user;

/// Page size when the caller gives none.
const DEFAULT_PAGE: u32 = 50;
/// Largest page size.
const MAX_PAGE: u32 = 200;

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The email is malformed.
    #[error("{0}")]
    InvalidEmail(#[from] EmailError),
    /// The password breaks the policy.
    #[error("{0}")]
    InvalidPassword(#[from] PasswordError),
    /// A password hash brought from another service is of an unknown or refused kind.
    #[error("{0}")]
    InvalidPasswordHash(#[from] HashFormatError),
    /// Neither or both of a password and a password hash were given.
    #[error("give either password or password_hash")]
    CredentialChoice,
    /// The display name is empty, too long or has control characters.
    #[error("display_name: {0}")]
    InvalidDisplayName(#[from] DisplayNameError),
    /// A page size outside 1..=200.
    #[error("limit must be between 1 and {MAX_PAGE}")]
    InvalidPage,
    /// A negative offset.
    #[error("offset must not be negative")]
    InvalidOffset,
    /// Another user has this email (compared case-insensitively).
    #[error("a user with this email already exists")]
    EmailTaken,
    /// No user has this id.
    #[error("no user has this id")]
    NotFound,
    /// Self-registration is switched off.
    #[error("self-registration is switched off")]
    RegistrationClosed,
    /// The request would send mail, and no SMTP server is configured: a permanent state of
    /// this server, not an outage.
    #[error("email verification and password reset are not enabled on this server")]
    MailNotConfigured,
    /// An emailed link's token is unknown, used, expired or outdated.
    #[error("the link is invalid, expired or already used")]
    InvalidLink,
}

/// A user to create.
#[derive(Debug)]
pub struct NewAccount {
    /// Email address (login name).
    pub email: String,
    /// The chosen password, or a hash brought over from another service.
    pub credential: Credential,
    /// Display name (OIDC `name`), if any.
    pub display_name: Option<String>,
    /// May be granted scope `admin`.
    pub is_admin: bool,
    /// Created with a verified address (an admin or an import vouches for it).
    pub email_verified: bool,
}

/// What a new user will log in with.
#[derive(Debug)]
pub enum Credential {
    /// A password, checked against the policy and hashed with argon2id.
    Password(SecretString),
    /// A hash made by the service the user comes from: argon2 PHC or bcrypt (`$2a$`, `$2b$`,
    /// `$2y$`, cost ≤ 14), stored as it is; the first login replaces bcrypt with argon2id.
    Hash(String),
}

impl Credential {
    /// The one of `password` and `password_hash` that was given.
    pub fn either(password: Option<String>, password_hash: Option<String>) -> Result<Self, Error> {
        match (password, password_hash) {
            (Some(password), None) => Ok(Self::Password(password.into())),
            (None, Some(hash)) => Ok(Self::Hash(hash)),
            _ => Err(UserError::CredentialChoice.into()),
        }
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// Disable (`true`) or enable the account. Disabling ends every session.
    pub disabled: Option<bool>,
    /// Grant or withdraw scope `admin`. Withdrawing ends every session.
    pub admin: Option<bool>,
    /// A new password (reset). Ends every session.
    pub password: Option<SecretString>,
    /// Mark the address verified (or not).
    pub email_verified: Option<bool>,
    /// A new display name; `Some(None)` removes it.
    pub display_name: Option<Option<String>>,
}

/// One page of the user list.
#[derive(Debug)]
pub struct UserPage {
    /// The users on it, oldest first.
    pub users: Vec<super::UserView>,
    /// The offset of the next page; `None` on the last one.
    pub next_offset: Option<u64>,
}

/// Account settings, from `Config`.
#[derive(Debug, Clone, Copy)]
pub struct AccountSettings {
    /// Minimum length of a new password, in characters.
    pub password_min_length: usize,
    /// Whether `POST /register` is open.
    pub registration: bool,
    /// Whether mail can be sent (`--smtp-url`): registration then queues a verification mail.
    pub mail: bool,
    /// Whether logins need a verified address (`--require-verified-email`): withdrawing
    /// verification then ends the user's sessions.
    pub require_verified_email: bool,
}

/// Accounts: cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pub(super) store: Store,
    hasher: PasswordHasher,
    pub(super) settings: AccountSettings,
    /// The registration and mail-request throttles (the server's); `None` at the command
    /// line.
    pub(super) limits: Option<Limits>,
}

impl Accounts {
    /// Accounts for the command line: no registration, no throttle.
    pub fn new(store: Store, hasher: PasswordHasher, password_min_length: usize) -> Self {
        let settings = AccountSettings {
            password_min_length,
            registration: false,
            mail: false,
            require_verified_email: false,
        };
        Self::with_limits(store, hasher, settings, None)
    }

    pub(super) fn with_limits(
        store: Store,
        hasher: PasswordHasher,
        settings: AccountSettings,
        limits: Option<Limits>,
    ) -> Self {
        Self {
            store,
            hasher,
            settings,
            limits,
        }
    }

    /// Checks `password` against the policy and hashes it (before any transaction: the
    /// writer is never held for a hash).
    pub(super) async fn hash_new_password(&self, password: &SecretString) -> Result<String, Error> {
        let password = self.new_password(password)?;
        self.hasher.hash(&password).await.map_err(Error::Internal)
    }

    /// A new password, checked against the policy.
    fn new_password(&self, password: &SecretString) -> Result<Password, UserError> {
        let min_length = self.settings.password_min_length;
        Ok(Password::parse_new(
            password.expose_secret().to_owned(),
            min_length,
        )?)
    }

    /// Whether any user exists (first-start bootstrap).
    pub(super) async fn any(&self) -> Result<bool, Error> {
        Ok(self.store.has_users().await?)
    }
}

/// A display name as given (`None`: none), parsed.
pub(super) fn parse_display_name(name: Option<&str>) -> Result<Option<String>, UserError> {
    Ok(name.map(DisplayName::parse).transpose()?.map(String::from))
}

/// What the audit log keeps of a new user: never the password or its hash.
pub(super) fn user_details(user: &User) -> serde_json::Value {
    serde_json::json!({
        "admin": user.is_admin,
        "email_verified": user.email_verified,
        "display_name": user.display_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::testing::Harness;

    fn account(email: &str) -> NewAccount {
        NewAccount {
            email: email.to_owned(),
            credential: Credential::Password("correct horse battery".to_owned().into()),
            display_name: None,
            is_admin: false,
            email_verified: true,
        }
    }

    #[tokio::test]
    async fn an_email_is_taken_whatever_its_case() {
        let harness = Harness::new().await;
        let (accounts, admin, now) = (&harness.sigil.accounts, harness.admin(), harness.now());

        let first = accounts
            .create(&admin, account("Ann@Example.com"), now)
            .await;
        let second = accounts
            .create(&admin, account("ann@example.COM"), now)
            .await;

        assert_eq!(first.unwrap().email, "Ann@Example.com");
        assert!(matches!(second, Err(Error::User(UserError::EmailTaken))));
    }

    #[tokio::test]
    async fn a_weak_password_and_a_malformed_email_are_refused_before_anything_is_stored() {
        let harness = Harness::new().await;
        let (accounts, admin, now) = (&harness.sigil.accounts, harness.admin(), harness.now());
        let short = NewAccount {
            credential: Credential::Password("short".to_owned().into()),
            ..account("bob@example.com")
        };

        let weak = accounts.create(&admin, short, now).await;
        let malformed = accounts.create(&admin, account("not-an-email"), now).await;

        assert!(matches!(
            weak,
            Err(Error::User(UserError::InvalidPassword(_)))
        ));
        assert!(matches!(
            malformed,
            Err(Error::User(UserError::InvalidEmail(_)))
        ));
        assert!(!accounts.any().await.unwrap(), "no user was stored");
    }
}
