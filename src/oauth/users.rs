//! Accounts: self-registration, and the admin operations on users (create, list, read,
//! update, delete). A change that takes access away ends the user's sessions in the same
//! transaction, and every change is in the audit log with it.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::Error;
use super::admin::{Admin, audited, read_audited};
use super::events::{self, SessionEnd};
use super::limits::Limits;
use crate::domain::{
    Actor, DisplayName, DisplayNameError, Email, EmailError, LinkKind, Password, PasswordError,
};
use crate::password::{HashFormatError, PasswordHasher, check_imported_hash};
use crate::store::{self, AuditEntry, NewUser, Store, Tx, User, UserUpdate};

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
    /// Too many requests (registrations, mail); retry after the given time.
    #[error("too many requests, retry later")]
    TooManyRequests(std::time::Duration),
    /// The request would send mail, and no SMTP server is configured: a permanent state of
    /// this server, not an outage.
    #[error("email verification and password reset are not enabled on this server")]
    MailNotConfigured,
    /// An emailed link's token is unknown, used, expired or outdated.
    #[error("the link is invalid, expired or already used")]
    InvalidLink,
    /// The database is unreachable.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Anything else.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl UserError {
    /// A throttle's refusal (or failure) as the user operation's error.
    pub(super) fn from_limit(error: Error) -> Self {
        match error {
            Error::TooManyRequests(wait) => Self::TooManyRequests(wait),
            Error::Unavailable => Self::Unavailable,
            other => Self::Internal(other.into()),
        }
    }
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
    pub fn either(
        password: Option<String>,
        password_hash: Option<String>,
    ) -> Result<Self, UserError> {
        match (password, password_hash) {
            (Some(password), None) => Ok(Self::Password(password.into())),
            (None, Some(hash)) => Ok(Self::Hash(hash)),
            _ => Err(UserError::CredentialChoice),
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
    pub users: Vec<User>,
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

    /// Self-registration from `ip`: never an admin. The registration throttle is claimed
    /// first, so neither a flood nor a probe for taken emails gets any further (and no
    /// argon2 hash) once the window is used up.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        email: &str,
        password: SecretString,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        if !self.settings.registration {
            return Err(UserError::RegistrationClosed);
        }
        if let Some(limits) = &self.limits {
            limits
                .claim_registration(ip, now)
                .await
                .map_err(UserError::from_limit)?;
        }
        let account = NewAccount {
            email: email.to_owned(),
            credential: Credential::Password(password),
            display_name: None,
            is_admin: false,
            email_verified: false,
        };
        let entry = AuditEntry::new(&Actor::anonymous(ip), "user.register", now);
        self.insert(entry, account, self.settings.mail, now).await
    }

    /// Creates a user, admin or not.
    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        admin: &Admin,
        account: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let entry = AuditEntry::new(admin.actor(), "user.create", now).details(serde_json::json!({
            "admin": account.is_admin,
            "email_verified": account.email_verified,
            "imported_hash": matches!(account.credential, Credential::Hash(_)),
        }));
        let created = self.insert(entry.clone(), account, false, now).await;
        audited(&self.store, entry, created).await
    }

    /// Creates the configured admin user on first start (system actor `bootstrap`).
    pub(super) async fn create_first_admin(
        &self,
        account: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let entry = AuditEntry::new(&Actor::system("bootstrap"), "user.create", now);
        self.insert(entry, account, false, now).await
    }

    /// Hashes the password (before the transaction: the writer is never held for a hash),
    /// then inserts the user and `entry`, completed with its target, in one transaction; with
    /// `verify`, an unverified address is sent a verification link.
    async fn insert(
        &self,
        entry: AuditEntry,
        account: NewAccount,
        verify: bool,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let email = Email::parse(&account.email)?;
        let display_name = parse_display_name(account.display_name.as_deref())?;
        let credential = match account.credential {
            Credential::Password(password) => Checked::Password(self.new_password(&password)?),
            Credential::Hash(hash) => {
                check_imported_hash(&hash)?;
                Checked::Hash(hash)
            }
        };
        // A taken email costs no hash (the insert still refuses one taken meanwhile).
        if self.store.find_user_by_email(&email).await?.is_some() {
            return Err(UserError::EmailTaken);
        }
        let password_hash = match credential {
            Checked::Password(password) => self
                .hasher
                .hash(&password)
                .await
                .map_err(UserError::Internal)?,
            Checked::Hash(hash) => hash,
        };
        let new = NewUser {
            email,
            password_hash,
            display_name,
            is_admin: account.is_admin,
            email_verified: account.email_verified,
        };
        let mut tx = self.store.begin().await?;
        let user = tx.insert_user(&new, now).await?;
        let entry = entry
            .target("user", user.id.as_str())
            .details(user_details(&user));
        tx.record(&entry).await?;
        tx.emit(&events::user("created", &user, &[], now)).await?;
        if verify && !user.email_verified {
            tx.queue_mail(
                LinkKind::VerifyEmail,
                &user.id,
                user.credentials_version,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        tracing::info!(user_id = %user.id, admin = user.is_admin, "user created");
        Ok(user)
    }

    /// A page of users, oldest first: `limit` (1 to 200, default 50) after `offset`.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        admin: &Admin,
        limit: Option<u32>,
        offset: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<UserPage, UserError> {
        let entry = AuditEntry::new(admin.actor(), "user.list", now);
        let page = async {
            let limit = limit.unwrap_or(DEFAULT_PAGE);
            if !(1..=MAX_PAGE).contains(&limit) {
                return Err(UserError::InvalidPage);
            }
            let offset =
                u64::try_from(offset.unwrap_or(0)).map_err(|_| UserError::InvalidOffset)?;
            let mut users = self.store.list_users(limit + 1, offset).await?;
            let more = users.len() > limit as usize;
            users.truncate(limit as usize);
            Ok(UserPage {
                users,
                next_offset: more.then(|| offset.saturating_add(u64::from(limit))),
            })
        }
        .await;
        read_audited(&self.store, entry, page).await
    }

    /// One user.
    #[tracing::instrument(skip_all)]
    pub async fn find(
        &self,
        admin: &Admin,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let entry = AuditEntry::new(admin.actor(), "user.read", now).target("user", id);
        let found = self.store.find_user(id).await?.ok_or(UserError::NotFound);
        read_audited(&self.store, entry, found).await
    }

    /// Applies `changes` to user `id` in one transaction. Disabling the user, resetting the
    /// password or withdrawing `admin` raises the credentials version (a login verified
    /// before the change cannot start a session after it) and ends every session of the
    /// user, in the same transaction as the change and its audit row: either all of it
    /// happens or none.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn update(
        &self,
        admin: &Admin,
        id: &str,
        changes: UserChanges,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let entry = AuditEntry::new(admin.actor(), "user.update", now).target("user", id);
        let updated = self.apply(&entry, id, changes, now).await;
        audited(&self.store, entry, updated).await
    }

    /// The transaction of `update`; `entry` is its audit row, completed with the details.
    async fn apply(
        &self,
        entry: &AuditEntry,
        id: &str,
        changes: UserChanges,
        now: DateTime<Utc>,
    ) -> Result<User, UserError> {
        let display_name = match changes.display_name {
            Some(name) => Some(parse_display_name(name.as_deref())?),
            None => None,
        };
        let password_hash = match &changes.password {
            Some(password) => Some(self.hash_new_password(password).await?),
            None => None,
        };
        let change = Change {
            disabled: changes.disabled,
            admin: changes.admin,
            password_hash: password_hash.as_deref(),
            email_verified: changes.email_verified,
            display_name,
            verified_email_required: self.settings.require_verified_email,
        };
        let mut tx = self.store.begin().await?;
        let user = change_user(&mut tx, entry, id, &change, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Checks `password` against the policy and hashes it (before any transaction: the
    /// writer is never held for a hash).
    pub(super) async fn hash_new_password(
        &self,
        password: &SecretString,
    ) -> Result<String, UserError> {
        let password = self.new_password(password)?;
        self.hasher
            .hash(&password)
            .await
            .map_err(UserError::Internal)
    }

    /// Deletes user `id`; the user's sessions go with the row.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn delete(
        &self,
        admin: &Admin,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), UserError> {
        let entry = AuditEntry::new(admin.actor(), "user.delete", now).target("user", id);
        let deleted = async {
            let mut tx = self.store.begin().await?;
            let user = tx.lock_user(id).await?.ok_or(UserError::NotFound)?;
            // Ended first, so their events can name them: the rows go with the user.
            let sessions = tx.revoke_user_sessions(id, now).await?;
            if !tx.delete_user(id).await? {
                return Err(UserError::NotFound);
            }
            tx.record(&entry).await?;
            for session in &sessions {
                let ended = events::session_invalidated(session, id, SessionEnd::UserDeleted, now);
                tx.emit(&ended).await?;
            }
            tx.emit(&events::user("deleted", &user, &[], now)).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        audited(&self.store, entry, deleted).await?;
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
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
    pub(super) async fn any(&self) -> Result<bool, UserError> {
        Ok(self.store.has_users().await?)
    }
}

/// A new user's credential once checked: a password that meets the policy, or an accepted
/// imported hash.
enum Checked {
    Password(Password),
    Hash(String),
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

/// A change to one user, its password already hashed; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub(super) struct Change<'a> {
    pub(super) disabled: Option<bool>,
    pub(super) admin: Option<bool>,
    pub(super) password_hash: Option<&'a str>,
    pub(super) email_verified: Option<bool>,
    /// A new display name, already parsed; `Some(None)` removes it.
    pub(super) display_name: Option<Option<String>>,
    /// The server refuses unverified users (`--require-verified-email`): withdrawing
    /// `email_verified` then ends the user's sessions, as a login would now be refused.
    pub(super) verified_email_required: bool,
}

/// Applies `change` to user `id` inside `tx`, with its audit row (`entry`, completed with the
/// details) and events. A new password, disabling, withdrawing `admin` (or `email_verified`
/// where verification is required) raises the credentials version (a login verified before the change cannot start a session after it)
/// and ends every session of the user, in the same transaction as the change.
pub(super) async fn change_user(
    tx: &mut Tx,
    entry: &AuditEntry,
    id: &str,
    change: &Change<'_>,
    now: DateTime<Utc>,
) -> Result<User, UserError> {
    let password_hash = change.password_hash;
    let current = tx.lock_user(id).await?.ok_or(UserError::NotFound)?;
    let disabled = change.disabled.unwrap_or(current.disabled);
    let is_admin = change.admin.unwrap_or(current.is_admin);
    let email_verified = change.email_verified.unwrap_or(current.email_verified);
    let display_name = match &change.display_name {
        Some(name) => name.as_deref(),
        None => current.display_name.as_deref(),
    };
    let end_sessions = password_hash.is_some()
        || (disabled && !current.disabled)
        || (current.is_admin && !is_admin)
        || (change.verified_email_required && current.email_verified && !email_verified);
    let update = UserUpdate {
        password_hash,
        disabled,
        is_admin,
        email_verified,
        display_name,
        end_sessions,
    };
    let user = tx
        .update_user(id, &update, now)
        .await?
        .ok_or(UserError::NotFound)?;
    let sessions_ended = match end_sessions {
        true => tx.revoke_user_sessions(id, now).await?,
        false => Vec::new(),
    };
    let mut changed = Vec::new();
    if password_hash.is_some() {
        changed.push("password");
    }
    if disabled != current.disabled {
        changed.push("disabled");
    }
    if is_admin != current.is_admin {
        changed.push("admin");
    }
    if email_verified != current.email_verified {
        changed.push("email_verified");
    }
    if display_name != current.display_name.as_deref() {
        changed.push("display_name");
    }
    let entry = entry.clone().details(serde_json::json!({
        "changed": changed,
        "disabled": disabled,
        "admin": is_admin,
        "email_verified": email_verified,
        "display_name": display_name,
        "sessions_ended": sessions_ended.len(),
    }));
    tx.record(&entry).await?;
    tx.emit(&events::user("updated", &user, &changed, now))
        .await?;
    if email_verified && !current.email_verified {
        tx.emit(&events::user("email_verified", &user, &[], now))
            .await?;
    }
    // Why the sessions ended: the strongest of the changes.
    let reason = if password_hash.is_some() {
        SessionEnd::PasswordChanged
    } else if disabled && !current.disabled {
        SessionEnd::UserDisabled
    } else {
        SessionEnd::AdminWithdrawn
    };
    for session in &sessions_ended {
        tx.emit(&events::session_invalidated(session, id, reason, now))
            .await?;
    }
    if password_hash.is_some() {
        // Dead already (the credentials version moved); removed so nothing lingers.
        tx.delete_link_tokens(id, LinkKind::ResetPassword).await?;
    }
    let sessions_ended = sessions_ended.len();
    tracing::info!(user_id = %id, disabled, admin = is_admin, sessions_ended, "user updated");
    Ok(user)
}
