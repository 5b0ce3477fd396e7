//! Email verification and password reset (SPEC "Email verification and password reset"):
//! asking for a link (`resend_verification`, `forgot_password`) and using one (`verify_email`,
//! `reset_password`).
//!
//! Asking never says whether an account exists: known and unknown addresses are counted by
//! the same limits, do the same lookup and write the same audit row, and get the same answer;
//! only a known one also queues a mail. The mail holds the link; the mail relay
//! (`postman.rs`) makes its token when it sends. Using a link deletes its token in the
//! transaction of the change (one winner under concurrency); a reset token also dies with any
//! password change made after it, through the credentials version it carries.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::admin::audited;
use super::users::{Accounts, Change, UserError, change_user};
use super::views::UserView;
use crate::domain::{Actor, Email, LinkKind, LinkToken};
use crate::oauth::Error;
use crate::store::{AuditEntry, LinkTokenRecord, User};

impl Accounts {
    /// Queues a new verification link for `email` from `ip`, if that address belongs to an
    /// unverified, enabled user. The outcome is the same for every well-formed address.
    #[tracing::instrument(skip_all)]
    pub async fn resend_verification(
        &self,
        email: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.request_link(LinkKind::VerifyEmail, email, ip, now)
            .await
    }

    /// Queues a password-reset link for `email` from `ip`, if that address belongs to an
    /// enabled user. The outcome is the same for every well-formed address.
    #[tracing::instrument(skip_all)]
    pub async fn forgot_password(
        &self,
        email: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.request_link(LinkKind::ResetPassword, email, ip, now)
            .await
    }

    async fn request_link(
        &self,
        kind: LinkKind,
        email: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        // Bad input is a 400 whatever the configuration; then a server without mail says
        // so as a permanent state, never as an outage.
        let email = Email::parse(email).map_err(UserError::from)?;
        if !self.settings.mail {
            return Err(UserError::MailNotConfigured.into());
        }
        let send = self
            .claim_mail_request(Some(email.as_str()), ip, now)
            .await?;
        let user = self.store.find_user_by_email(&email).await?;
        let user = user.filter(|user| wants_link(user, kind));
        let action = match kind {
            LinkKind::VerifyEmail => "email.verification_request",
            LinkKind::ResetPassword => "password.reset_request",
        };
        let mut entry = AuditEntry::new(&Actor::anonymous(ip), action, now);
        if let Some(user) = &user {
            entry = entry.target("user", user.id.as_str());
        }
        // The address's share from everyone is spent: answered alike, nothing is sent.
        let user = match send {
            true => user,
            false => {
                entry = entry.details(serde_json::json!({ "mail": "not sent: address limit" }));
                None
            }
        };
        let mut tx = self.store.begin().await?;
        if let Some(user) = &user {
            tx.queue_mail(kind, &user.id, user.credentials_version, now)
                .await?;
        }
        tx.record(&entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Verifies the address the `token`'s link was sent to. Returns the user. Counted by the
    /// mail-request limit of `ip`.
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        self.claim_mail_request(None, ip, now).await?;
        let entry = AuditEntry::new(&Actor::anonymous(ip), "email.verify", now);
        let verified = async {
            let hash = LinkToken::presented(token.to_owned()).hash();
            let mut tx = self.store.begin().await?;
            let record = tx.take_link_token(&hash, LinkKind::VerifyEmail).await?;
            let Some(record) = record.filter(|record| record.expires_at > now) else {
                // An expired token is deleted all the same: it can never work again.
                tx.commit().await?;
                return Err(UserError::InvalidLink.into());
            };
            let entry = entry.clone().target("user", record.user_id.as_str());
            let change = Change {
                email_verified: Some(true),
                ..Change::default()
            };
            let user = change_user(&mut tx, &entry, &record.user_id, &change, now)
                .await
                .map_err(|error| match error {
                    Error::User(UserError::NotFound) => UserError::InvalidLink.into(),
                    other => other,
                })?;
            tx.delete_link_tokens(&user.id, LinkKind::VerifyEmail)
                .await?;
            tx.commit().await?;
            Ok(user)
        }
        .await;
        audited(&self.store, entry, verified.map(UserView::from)).await
    }

    /// Sets a new `password` for the user the `token`'s reset link was sent to, and ends
    /// every session of theirs. Counted by the mail-request limit of `ip`.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        password: SecretString,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.claim_mail_request(None, ip, now).await?;
        let entry = AuditEntry::new(&Actor::anonymous(ip), "password.reset", now);
        let reset = async {
            let hash = LinkToken::presented(token.to_owned()).hash();
            // A dead link costs no password hash.
            let found = self
                .store
                .find_link_token(&hash, LinkKind::ResetPassword)
                .await?;
            if found.is_none_or(|record| record.expires_at <= now) {
                return Err(UserError::InvalidLink.into());
            }
            let password_hash = self.hash_new_password(&password).await?;
            let mut tx = self.store.begin().await?;
            let record = tx.take_link_token(&hash, LinkKind::ResetPassword).await?;
            let Some(record) = record.filter(|record| record.expires_at > now) else {
                return Err(UserError::InvalidLink.into());
            };
            let Some(user) = tx.lock_user(&record.user_id).await? else {
                return Err(UserError::InvalidLink.into());
            };
            if !reset_allowed(&record, &user) {
                // Outdated by a later password change (or disabling): deleted all the same.
                tx.commit().await?;
                return Err(UserError::InvalidLink.into());
            }
            let entry = entry.clone().target("user", user.id.as_str());
            let change = Change {
                password_hash: Some(&password_hash),
                ..Change::default()
            };
            change_user(&mut tx, &entry, &user.id, &change, now).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        audited(&self.store, entry, reset).await
    }

    async fn claim_mail_request(
        &self,
        email: Option<&str>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let Some(limits) = &self.limits else {
            return Ok(true);
        };
        limits.claim_mail_request(email, ip, now).await
    }
}

/// Whether `user` should be sent a `kind` link now: never to a disabled user, and a
/// verification link only while the address is unverified. Checked when the link is asked
/// for and again when the mail is made.
pub(super) fn wants_link(user: &User, kind: LinkKind) -> bool {
    !user.disabled && (kind == LinkKind::ResetPassword || !user.email_verified)
}

/// A reset token works while the password (and the other credentials) are as they were
/// when it was made, and the user is enabled.
fn reset_allowed(record: &LinkTokenRecord, user: &User) -> bool {
    record.credentials_version == user.credentials_version && !user.disabled
}
