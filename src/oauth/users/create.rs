//! Creating users: self-registration (throttled), the admin API and CLI, the first-start
//! admin; each with its audit row and event in the insert's transaction.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{Accounts, Credential, NewAccount, UserError, parse_display_name, user_details};
use crate::domain::{Actor, Email, LinkKind, Password};
use crate::oauth::Error;
use crate::oauth::admin::{Admin, audited};
use crate::oauth::{UserView, events};
use crate::password::check_imported_hash;
use crate::store::{self, AuditEntry, NewUser, User};

impl Accounts {
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
    ) -> Result<UserView, Error> {
        if !self.settings.registration {
            return Err(UserError::RegistrationClosed.into());
        }
        if let Some(limits) = &self.limits {
            limits.claim_registration(ip, now).await?;
        }
        let account = NewAccount {
            email: email.to_owned(),
            credential: Credential::Password(password),
            display_name: None,
            is_admin: false,
            email_verified: false,
        };
        let entry = AuditEntry::new(&Actor::anonymous(ip), "user.register", now);
        let user = self.insert(entry, account, self.settings.mail, now).await?;
        Ok(user.into())
    }

    /// Creates a user, admin or not.
    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        admin: &Admin,
        account: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        let entry = AuditEntry::new(admin.actor(), "user.create", now).details(serde_json::json!({
            "admin": account.is_admin,
            "email_verified": account.email_verified,
            "imported_hash": matches!(account.credential, Credential::Hash(_)),
        }));
        let created = self.insert(entry.clone(), account, false, now).await;
        audited(&self.store, entry, created.map(UserView::from)).await
    }

    /// Creates the configured admin user on first start (system actor `bootstrap`).
    pub(in crate::oauth) async fn create_first_admin(
        &self,
        account: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        let entry = AuditEntry::new(&Actor::system("bootstrap"), "user.create", now);
        let user = self.insert(entry, account, false, now).await?;
        Ok(user.into())
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
    ) -> Result<User, Error> {
        let email = Email::parse(&account.email).map_err(UserError::from)?;
        let display_name = parse_display_name(account.display_name.as_deref())?;
        let credential = match account.credential {
            Credential::Password(password) => Checked::Password(self.new_password(&password)?),
            Credential::Hash(hash) => {
                check_imported_hash(&hash).map_err(UserError::from)?;
                Checked::Hash(hash)
            }
        };
        // A taken email costs no hash (the insert still refuses one taken meanwhile).
        if self.store.find_user_by_email(&email).await?.is_some() {
            return Err(UserError::EmailTaken.into());
        }
        let password_hash = match credential {
            Checked::Password(password) => {
                self.hasher.hash(&password).await.map_err(Error::Internal)?
            }
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
        // The unique index has the last word on a taken email.
        let user = tx
            .insert_user(&new, now)
            .await
            .map_err(|error| match error {
                store::Error::Conflict => UserError::EmailTaken.into(),
                other => Error::from(other),
            })?;
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
}

/// A new user's credential once checked: a password that meets the policy, or an accepted
/// imported hash.
enum Checked {
    Password(Password),
    Hash(String),
}
