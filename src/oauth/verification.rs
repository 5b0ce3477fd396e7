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
            LinkKind::ResetPassword | LinkKind::Invitation => "password.reset_request",
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
    !user.disabled && (kind.token_kind() == LinkKind::ResetPassword || !user.email_verified)
}

/// A reset token works while the password (and the other credentials) are as they were
/// when it was made, and the user is enabled.
fn reset_allowed(record: &LinkTokenRecord, user: &User) -> bool {
    record.credentials_version == user.credentials_version && !user.disabled
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::UserId;
    use crate::oauth::testing::{Harness, PASSWORD, refresh};
    use crate::oauth::{Grant, postman};
    use crate::store::NewLinkToken;

    const EMAIL: &str = "ada@example.com";

    async fn with_mail() -> Harness {
        Harness::with(|settings| settings.mail = true).await
    }

    /// A `kind` link for `user` as the mail relay makes it when it sends one; its token.
    async fn link(h: &Harness, user: &str, kind: LinkKind) -> String {
        let store = &h.sigil.accounts.store;
        let id = UserId::try_from(user.to_owned()).unwrap();
        let user = store.find_user(&id).await.unwrap().unwrap();
        let ttl = match kind {
            LinkKind::VerifyEmail => postman::VERIFY_TTL,
            LinkKind::ResetPassword => postman::RESET_TTL,
            LinkKind::Invitation => postman::INVITATION_TTL,
        };
        let token = LinkToken::generate();
        let mut tx = store.begin().await.unwrap();
        let new = NewLinkToken {
            hash: &token.hash(),
            kind,
            user_id: &user.id,
            credentials_version: user.credentials_version,
            created_at: h.now(),
            expires_at: h.now() + ttl,
        };
        tx.insert_link_token(&new).await.unwrap();
        tx.commit().await.unwrap();
        token.expose().to_owned()
    }

    fn is_invalid_link<T: std::fmt::Debug>(outcome: &Result<T, Error>) -> bool {
        matches!(outcome, Err(Error::User(UserError::InvalidLink)))
    }

    #[tokio::test]
    async fn asking_for_a_link_answers_alike_for_any_address_and_queues_mail_only_for_a_user() {
        let h = with_mail().await;
        h.user_verified(EMAIL, false).await;
        let accounts = &h.sigil.accounts;

        let known = accounts.resend_verification(EMAIL, None, h.now()).await;
        let unknown = accounts
            .resend_verification("bob@example.com", None, h.now())
            .await;
        let reset = accounts
            .forgot_password("bob@example.com", None, h.now())
            .await;

        assert!(known.is_ok() && unknown.is_ok() && reset.is_ok());
        assert_eq!(accounts.store.mail_backlog().await.unwrap(), (1, 0));
        let rows = h.audit_rows("email.verification_request").await;
        assert_eq!(rows.len(), 2, "one row each, known or not");
    }

    #[tokio::test]
    async fn a_user_whose_address_is_verified_is_sent_no_verification_link() {
        let h = with_mail().await;
        h.user_verified(EMAIL, true).await;

        let asked = h.sigil.accounts.resend_verification(EMAIL, None, h.now());

        assert!(asked.await.is_ok());
        assert_eq!(h.sigil.accounts.store.mail_backlog().await.unwrap(), (0, 0));
    }

    #[tokio::test]
    async fn without_mail_asking_for_a_link_is_refused_as_not_configured_and_bad_input_first() {
        let h = Harness::new().await;

        let asked = h.sigil.accounts.forgot_password(EMAIL, None, h.now()).await;
        let malformed = h
            .sigil
            .accounts
            .forgot_password("not an address", None, h.now());

        assert!(matches!(
            asked,
            Err(Error::User(UserError::MailNotConfigured))
        ));
        assert!(matches!(
            malformed.await,
            Err(Error::User(UserError::InvalidEmail(_)))
        ));
    }

    #[tokio::test]
    async fn a_verification_link_verifies_the_address_once() {
        let h = with_mail().await;
        let user = h.user_verified(EMAIL, false).await;
        let token = link(&h, &user, LinkKind::VerifyEmail).await;

        let verified = h.sigil.accounts.verify_email(&token, None, h.now()).await;
        let again = h.sigil.accounts.verify_email(&token, None, h.now()).await;

        assert!(verified.unwrap().email_verified);
        assert!(is_invalid_link(&again), "{again:?}");
        assert_eq!(h.audit_rows("email.verify").await.len(), 2);
    }

    #[tokio::test]
    async fn a_verification_link_expires_after_a_day() {
        let h = with_mail().await;
        let user = h.user_verified(EMAIL, false).await;
        let token = link(&h, &user, LinkKind::VerifyEmail).await;
        h.clock.advance(Duration::from_secs(24 * 3600 + 1));

        let verified = h.sigil.accounts.verify_email(&token, None, h.now()).await;

        assert!(is_invalid_link(&verified), "{verified:?}");
    }

    #[tokio::test]
    async fn a_reset_link_sets_the_password_and_ends_every_session() {
        let h = with_mail().await;
        let client = h.public_client("password refresh_token").await;
        let user = h.user(EMAIL).await;
        let tokens = h.login(&client, EMAIL).await;
        let token = link(&h, &user, LinkKind::ResetPassword).await;
        let new_password = "a brand new password";

        let reset = h
            .sigil
            .accounts
            .reset_password(&token, new_password.to_owned().into(), None, h.now())
            .await;

        assert!(reset.is_ok(), "{reset:?}");
        let refreshed = h.issue(&client, refresh(&tokens)).await;
        assert!(
            matches!(refreshed, Err(Error::InvalidGrant(_))),
            "{refreshed:?}"
        );
        let old = password_grant(&h, &client, PASSWORD).await;
        assert!(matches!(old, Err(Error::InvalidGrant(_))), "{old:?}");
        assert!(password_grant(&h, &client, new_password).await.is_ok());
    }

    #[tokio::test]
    async fn a_reset_link_dies_with_any_password_change_made_after_it() {
        let h = with_mail().await;
        let user = h.user(EMAIL).await;
        let first = link(&h, &user, LinkKind::ResetPassword).await;
        let second = link(&h, &user, LinkKind::ResetPassword).await;
        let accounts = &h.sigil.accounts;
        let password = || SecretString::from("a brand new password".to_owned());

        let used = accounts
            .reset_password(&first, password(), None, h.now())
            .await;
        let outdated = accounts
            .reset_password(&second, password(), None, h.now())
            .await;

        assert!(used.is_ok(), "{used:?}");
        assert!(is_invalid_link(&outdated), "{outdated:?}");
    }

    async fn password_grant(
        h: &Harness,
        client: &str,
        password: &str,
    ) -> Result<crate::oauth::IssuedTokens, Error> {
        let grant = Grant::Password {
            username: EMAIL.to_owned(),
            password: SecretString::from(password.to_owned()),
            scope: None,
        };
        h.issue(client, grant).await
    }
}
