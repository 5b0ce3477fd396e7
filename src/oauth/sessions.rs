//! Revocation (RFC 7009), logout, introspection (RFC 7662) and OIDC UserInfo.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AccessToken, ClientAuthentication, Error, TokenIssuer};
use crate::domain::{ClientId, RefreshToken};
use crate::store::{Client, RefreshTokenRecord, User};

/// An RFC 7662 introspection answer; only `active` when the token is not usable.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
}

/// OIDC Core §5.3 UserInfo claims.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    sub: String,
    email: String,
    email_verified: bool,
}

impl TokenIssuer {
    /// RFC 7009: revokes the family of a refresh token, or of the session an access token
    /// belongs to, when it was issued to this client. Unknown tokens are not an error.
    #[tracing::instrument(skip_all)]
    pub async fn revoke(
        &self,
        client: &ClientAuthentication,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let client = self.authenticate_client(client).await?;
        if let Some(record) = self.own_refresh_token(&client, token).await? {
            self.store
                .revoke_refresh_family(&record.family_id, now)
                .await?;
        } else if let Ok(access) = self.verify_access_token(token, now)
            && let Some(session) = access.session.as_deref()
            && access.client_id == client.id.as_str()
        {
            self.store.revoke_refresh_family(session, now).await?;
        }
        Ok(())
    }

    /// Ends the session of `refresh_token`, or with `all` every session of its user.
    #[tracing::instrument(skip_all)]
    pub async fn logout(
        &self,
        client: &ClientAuthentication,
        token: &str,
        all: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let client = self.authenticate_client(client).await?;
        let Some(record) = self.own_refresh_token(&client, token).await? else {
            return Err(Error::InvalidGrant(
                "the refresh token is invalid, expired or revoked",
            ));
        };
        if all {
            let ended = self
                .store
                .revoke_user_refresh_families(&record.user_id, now)
                .await?;
            tracing::info!(user_id = %record.user_id, sessions = ended, "logged out everywhere");
        } else {
            self.store
                .revoke_refresh_family(&record.family_id, now)
                .await?;
        }
        Ok(())
    }

    /// RFC 7662 for a confidential client: `active` only for a live access or refresh token
    /// whose user (or client) still exists and whose session is not revoked.
    #[tracing::instrument(skip_all)]
    pub async fn introspect(
        &self,
        client: &ClientAuthentication,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Introspection, Error> {
        let client = self.authenticate_client(client).await?;
        if client.secret_hash.is_none() {
            return Err(Error::UnauthorizedClient);
        }
        if let Ok(access) = self.verify_access_token(token, now) {
            if !self.is_live(&access, now).await? {
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
            Some(record) if self.is_refresh_live(&record, now).await? => Ok(Introspection {
                active: true,
                scope: (!record.scope.is_empty()).then(|| record.scope.clone()),
                client_id: Some(record.client_id),
                sub: Some(record.user_id),
                exp: Some(record.expires_at.timestamp()),
                iss: Some(self.settings.issuer.clone()),
                token_type: Some("refresh_token"),
                ..Introspection::default()
            }),
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
        let user = self.live_user(&token.subject).await?;
        Ok(user.map(|user| UserInfo {
            sub: user.id,
            email: user.email,
            email_verified: false,
        }))
    }

    /// A verified access token is live while its session is, and its user (or, for
    /// client_credentials, its client) still exists and is enabled.
    pub async fn is_live(&self, token: &AccessToken, now: DateTime<Utc>) -> Result<bool, Error> {
        match token.session.as_deref() {
            Some(session) => Ok(self.store.is_refresh_family_active(session, now).await?
                && self.live_user(&token.subject).await?.is_some()),
            None => {
                let Ok(id) = ClientId::parse(token.client_id.clone()) else {
                    return Ok(false);
                };
                Ok(self.store.find_client(&id).await?.is_some())
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
        Ok(usable && self.live_user(&record.user_id).await?.is_some())
    }

    async fn live_user(&self, user_id: &str) -> Result<Option<User>, Error> {
        Ok(self
            .store
            .find_user(user_id)
            .await?
            .filter(|user| !user.disabled))
    }

    /// The refresh token `token`, if it exists and was issued to `client`.
    async fn own_refresh_token(
        &self,
        client: &Arc<Client>,
        token: &str,
    ) -> Result<Option<RefreshTokenRecord>, Error> {
        let record = self.find_refresh_token(token).await?;
        Ok(record.filter(|record| record.client_id == client.id.as_str()))
    }

    /// The refresh token `token` (looked up by its hash), whoever it was issued to.
    async fn find_refresh_token(&self, token: &str) -> Result<Option<RefreshTokenRecord>, Error> {
        let hash = RefreshToken::presented(token.to_owned()).hash();
        Ok(self.store.find_refresh_token(hash.as_bytes()).await?)
    }
}
