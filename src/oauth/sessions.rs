//! Revocation (RFC 7009), logout, introspection (RFC 7662) and OIDC UserInfo.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::events::{SessionEnd, session_invalidated};

use super::{AccessToken, ClientAuthentication, Error, TokenIssuer};
use crate::domain::{Actor, ClientId, FamilyId, RefreshToken, UserId};
use crate::store::{AuditEntry, Client, RefreshTokenRecord, User};

/// An RFC 7662 introspection answer; only `active` when the token is not usable.
#[derive(Debug, Default)]
pub struct Introspection {
    /// Whether the token is usable now.
    pub active: bool,
    /// Its scope.
    pub scope: Option<String>,
    /// The client it was issued to.
    pub client_id: Option<String>,
    /// Its subject.
    pub sub: Option<String>,
    /// When it expires (seconds since the epoch).
    pub exp: Option<i64>,
    /// When it was issued.
    pub iat: Option<i64>,
    /// Its issuer.
    pub iss: Option<String>,
    /// Its audience.
    pub aud: Option<String>,
    /// Its id.
    pub jti: Option<String>,
    /// `Bearer` or `refresh_token`.
    pub token_type: Option<&'static str>,
}

/// What a revocation ends.
enum Revocation {
    /// A login session (refresh family) and its user.
    Session(FamilyId, UserId),
    /// A client_credentials access token, by `jti`, until it expires.
    AccessToken(String, DateTime<Utc>),
}

/// OIDC Core §5.3 UserInfo claims.
#[derive(Debug)]
pub struct UserInfo {
    /// The user's id.
    pub sub: String,
    /// The user's email address.
    pub email: String,
    /// Whether it was verified.
    pub email_verified: bool,
    /// The display name, if one is set.
    pub name: Option<String>,
}

impl TokenIssuer {
    /// RFC 7009: revokes the family of a refresh token, or of the session an access token
    /// belongs to, or a client_credentials access token itself, when it was issued to this
    /// client. Unknown tokens are not an error.
    #[tracing::instrument(skip_all)]
    pub async fn revoke(
        &self,
        client: &ClientAuthentication,
        token: Option<&str>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let client = self.authenticate_client(client).await?;
        let token = token.ok_or(Error::InvalidRequest("token is required"))?;
        let actor = Actor::client(client.id.as_str(), ip);
        let entry = AuditEntry::new(&actor, "token.revoke", now);
        // Found first, so the transaction holds the writer only for the writes.
        let Some((entry, revocation)) = self.revocation(&client, token, entry, now).await? else {
            // RFC 7009 §2.2: an unknown token is not an error; nothing changes.
            return Ok(());
        };
        let mut tx = self.store.begin().await?;
        match &revocation {
            Revocation::Session(family_id, user_id) => {
                if tx.revoke_refresh_family(family_id, now).await? {
                    let ended =
                        session_invalidated(family_id.as_str(), user_id, SessionEnd::Revoked, now);
                    tx.emit(&ended).await?;
                }
            }
            Revocation::AccessToken(jti, expires_at) => {
                tx.revoke_access_token(jti, *expires_at).await?;
            }
        }
        tx.record(&entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What revoking `token` ends, with `entry` completed; `None` for a token that is not
    /// this client's (or not a token at all).
    async fn revocation(
        &self,
        client: &Client,
        token: &str,
        entry: AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<Option<(AuditEntry, Revocation)>, Error> {
        if let Some(record) = self.own_refresh_token(client, token).await? {
            let details = serde_json::json!({ "token_type": "refresh_token" });
            let entry = entry
                .target("session", record.family_id.as_str())
                .details(details);
            return Ok(Some((
                entry,
                Revocation::Session(record.family_id, record.user_id),
            )));
        }
        let Ok(access) = self.verify_access_token(token, now) else {
            return Ok(None);
        };
        if access.client_id != client.id.as_str() {
            return Ok(None);
        }
        let details = serde_json::json!({ "token_type": "access_token", "jti": access.jti });
        Ok(Some(match access.session {
            Some(session) => (
                entry
                    .target("session", session.family.as_str())
                    .details(details),
                Revocation::Session(session.family, session.user),
            ),
            // A token without a session (client_credentials) is refused by jti until it
            // expires: introspection, userinfo and the admin check consult the list.
            None => {
                let expires_at = DateTime::from_timestamp(access.exp, 0).unwrap_or(now);
                (
                    entry.target("client", client.id.as_str()).details(details),
                    Revocation::AccessToken(access.jti, expires_at),
                )
            }
        }))
    }

    /// Ends the session of `refresh_token`, or with `all` (and a live token) every session
    /// of its user.
    #[tracing::instrument(skip_all)]
    pub async fn logout(
        &self,
        client: &ClientAuthentication,
        token: Option<&str>,
        all: bool,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let client = self.authenticate_client(client).await?;
        let token = token.ok_or(Error::InvalidRequest("refresh_token is required"))?;
        let Some(record) = self.own_refresh_token(&client, token).await? else {
            return Err(Error::InvalidGrant(
                "the refresh token is invalid, expired or revoked",
            ));
        };
        let actor = Actor::user(record.user_id.as_str(), Some(client.id.to_string()), ip);
        let session = AuditEntry::new(&actor, "session.logout", now)
            .target("session", record.family_id.as_str());
        // Ending every session takes a live token: a spent, revoked or expired one (a thief's
        // old copy, one from before a password reset) ends at most its own session.
        let everywhere = all && self.is_refresh_live(&record, now).await?;
        let mut tx = self.store.begin().await?;
        if everywhere {
            let ended = tx.revoke_user_sessions(&record.user_id, now).await?;
            let entry = AuditEntry::new(&actor, "session.logout_all", now)
                .target("user", record.user_id.as_str())
                .details(serde_json::json!({ "sessions_ended": ended.len() }));
            tx.record(&entry).await?;
            for family_id in &ended {
                let event = session_invalidated(
                    family_id.as_str(),
                    &record.user_id,
                    SessionEnd::Logout,
                    now,
                );
                tx.emit(&event).await?;
            }
            tx.commit().await?;
            tracing::info!(user_id = %record.user_id, sessions = ended.len(), "logged out everywhere");
            return Ok(());
        }
        if tx.revoke_refresh_family(&record.family_id, now).await? {
            tx.record(&session).await?;
            let ended = session_invalidated(
                record.family_id.as_str(),
                &record.user_id,
                SessionEnd::Logout,
                now,
            );
            tx.emit(&ended).await?;
        }
        tx.commit().await?;
        if all {
            return Err(Error::InvalidGrant(
                "logging out everywhere needs a live refresh token",
            ));
        }
        Ok(())
    }

    /// RFC 7662 for a confidential client: `active` only for a live access or refresh token
    /// whose user (or client) still exists and whose session is not revoked, and only to the
    /// client it was issued to or one given the introspection right (a resource server);
    /// anyone else learns `active: false`, as for an unknown token.
    #[tracing::instrument(skip_all)]
    pub async fn introspect(
        &self,
        client: &ClientAuthentication,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Introspection, Error> {
        let client = self.authenticate_client(client).await?;
        if client.secret_hash.is_none() {
            // RFC 7662 §2.1: introspection is for authenticated (confidential) clients.
            return Err(Error::UnauthorizedClient(
                "a public client cannot introspect tokens: introspection needs a confidential client",
            ));
        }
        let token = token.ok_or(Error::InvalidRequest("token is required"))?;
        let may_see = |owner: &str| owner == client.id.as_str() || client.may_introspect;
        if let Ok(access) = self.verify_access_token(token, now) {
            if !may_see(&access.client_id) || !self.is_live(&access, now).await? {
                return Ok(Introspection::default());
            }
            return Ok(Introspection {
                active: true,
                scope: (!access.scope.is_empty()).then(|| access.scope.to_string()),
                client_id: Some(access.client_id),
                sub: Some(access.subject),
                exp: Some(access.exp),
                iat: Some(access.iat),
                iss: Some(self.settings.issuer.clone()),
                aud: access.audience,
                jti: Some(access.jti),
                token_type: Some("Bearer"),
            });
        }
        match self.find_refresh_token(token).await? {
            Some(record)
                if may_see(record.client_id.as_str())
                    && self.is_refresh_live(&record, now).await? =>
            {
                Ok(Introspection {
                    active: true,
                    scope: (!record.scope.is_empty()).then(|| record.scope.to_string()),
                    client_id: Some(record.client_id.into()),
                    sub: Some(record.user_id.into()),
                    exp: Some(record.expires_at.timestamp()),
                    iss: Some(self.settings.issuer.clone()),
                    token_type: Some("refresh_token"),
                    ..Introspection::default()
                })
            }
            _ => Ok(Introspection::default()),
        }
    }

    /// OIDC UserInfo for a live user access token.
    #[tracing::instrument(skip_all)]
    pub async fn userinfo(
        &self,
        token: &AccessToken,
        now: DateTime<Utc>,
    ) -> Result<Option<UserInfo>, Error> {
        if token.session.is_none() || !self.is_live(token, now).await? {
            return Ok(None);
        }
        let Some(session) = &token.session else {
            return Ok(None);
        };
        let user = self.live_user(&session.user).await?;
        Ok(user.map(|user| UserInfo {
            sub: user.id.to_string(),
            email: user.email,
            email_verified: user.email_verified,
            name: user.display_name,
        }))
    }

    /// A verified access token is live while its session is, and its user (or, for
    /// client_credentials, its client) still exists and is enabled, and it was not revoked.
    pub async fn is_live(&self, token: &AccessToken, now: DateTime<Utc>) -> Result<bool, Error> {
        match &token.session {
            Some(session) => Ok(self
                .store
                .is_refresh_family_active(&session.family, now)
                .await?
                && self.live_user(&session.user).await?.is_some()),
            None => {
                let Ok(id) = ClientId::parse(token.client_id.clone()) else {
                    return Ok(false);
                };
                Ok(self.store.find_client(&id).await?.is_some()
                    && !self.store.is_access_token_revoked(&token.jti).await?)
            }
        }
    }

    async fn is_refresh_live(
        &self,
        record: &RefreshTokenRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let usable =
            record.used_at.is_none() && record.revoked_at.is_none() && record.expires_at > now;
        let current = |user: &User| user.credentials_version == record.credentials_version;
        Ok(usable
            && self
                .live_user(&record.user_id)
                .await?
                .is_some_and(|u| current(&u)))
    }

    pub(super) async fn live_user(&self, user_id: &UserId) -> Result<Option<User>, Error> {
        Ok(self
            .store
            .find_user(user_id)
            .await?
            .filter(|user| !user.disabled))
    }

    /// The refresh token `token`, if it exists and was issued to `client`.
    async fn own_refresh_token(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Option<RefreshTokenRecord>, Error> {
        let record = self.find_refresh_token(token).await?;
        Ok(record.filter(|record| record.client_id == client.id))
    }

    /// The refresh token `token` (looked up by its hash), whoever it was issued to.
    async fn find_refresh_token(&self, token: &str) -> Result<Option<RefreshTokenRecord>, Error> {
        let hash = RefreshToken::presented(token.to_owned()).hash();
        Ok(self.store.find_refresh_token(hash.as_bytes()).await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::oauth::Error;
    use crate::oauth::testing::{Harness, public, refresh};

    #[tokio::test]
    async fn a_revoked_refresh_token_ends_its_session_and_the_access_tokens_of_it() {
        let harness = Harness::new().await;
        let client_id = harness.public_client("password refresh_token").await;
        harness.user("ann@example.com").await;
        let tokens = harness.login(&client_id, "ann@example.com").await;
        let sessions = &harness.sigil.tokens;
        let refresh_token = tokens.refresh_token.as_ref().unwrap().expose().to_owned();

        sessions
            .revoke(
                &public(&client_id),
                Some(&refresh_token),
                None,
                harness.now(),
            )
            .await
            .unwrap();

        let refreshed = harness.issue(&client_id, refresh(&tokens)).await;
        assert!(matches!(refreshed, Err(Error::InvalidGrant(_))));
        let access = sessions
            .verify_access_token(&tokens.access_token, harness.now())
            .unwrap();
        assert!(!sessions.is_live(&access, harness.now()).await.unwrap());
    }

    #[tokio::test]
    async fn logging_out_everywhere_ends_every_session_of_the_user_only() {
        let harness = Harness::new().await;
        let client_id = harness.public_client("password refresh_token").await;
        harness.user("ann@example.com").await;
        harness.user("bob@example.com").await;
        let phone = harness.login(&client_id, "ann@example.com").await;
        let laptop = harness.login(&client_id, "ann@example.com").await;
        let bob = harness.login(&client_id, "bob@example.com").await;
        let token = phone.refresh_token.as_ref().unwrap().expose().to_owned();

        harness
            .sigil
            .tokens
            .logout(&public(&client_id), Some(&token), true, None, harness.now())
            .await
            .unwrap();

        let laptop = harness.issue(&client_id, refresh(&laptop)).await;
        let bob = harness.issue(&client_id, refresh(&bob)).await;
        assert!(matches!(laptop, Err(Error::InvalidGrant(_))));
        assert!(bob.is_ok(), "another user's session lives on");
    }
}
