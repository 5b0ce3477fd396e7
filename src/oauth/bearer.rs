//! Verifying sigil's own access tokens when they come back as Bearer credentials.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::TokenIssuer;
use super::claims::ACCESS_TOKEN_TYP;
use crate::domain::{FamilyId, Scope, UserId};

/// A verified access token's claims.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The user id, or the client id for client_credentials.
    pub subject: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scope.
    pub scope: Scope,
    /// The user's session; `None` for client_credentials.
    pub session: Option<UserSession>,
    /// Audience.
    pub audience: Option<String>,
    /// Token id.
    pub jti: String,
    /// Issued-at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// The login session a user's access token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    /// The session (refresh family): the token's `sid`.
    pub family: FamilyId,
    /// Its user: the token's `sub`.
    pub user: UserId,
}

/// The token is forged, expired, malformed or not an access token of this issuer.
#[derive(Debug, thiserror::Error)]
#[error("invalid token")]
pub struct InvalidToken;

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default)]
    aud: Option<String>,
    iat: i64,
    exp: i64,
    jti: String,
    client_id: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    sid: Option<String>,
}

impl TokenIssuer {
    /// Checks signature (against a published key, with that key's algorithm), `typ`, `iss`
    /// and `exp` at `now`. Says nothing about revocation: see `introspect`.
    pub fn verify_access_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, InvalidToken> {
        let jws = self.keys.verify(token).map_err(|_| InvalidToken)?;
        // RFC 9068 §4: reject anything but an access-token JWT (e.g. an ID token).
        let typ = jws.typ.as_deref().unwrap_or_default().to_ascii_lowercase();
        if typ != ACCESS_TOKEN_TYP && typ != "application/at+jwt" {
            return Err(InvalidToken);
        }
        let claims: Claims = serde_json::from_slice(&jws.payload).map_err(|_| InvalidToken)?;
        if claims.iss != self.settings.issuer || claims.exp <= now.timestamp() {
            return Err(InvalidToken);
        }
        let scope =
            Scope::parse(claims.scope.as_deref().unwrap_or_default()).map_err(|_| InvalidToken)?;
        let session = match claims.sid {
            Some(sid) => Some(UserSession {
                family: FamilyId::parse(sid).map_err(|_| InvalidToken)?,
                user: UserId::parse(claims.sub.as_str()).map_err(|_| InvalidToken)?,
            }),
            None => None,
        };
        Ok(AccessToken {
            subject: claims.sub,
            client_id: claims.client_id,
            scope,
            session,
            audience: claims.aud,
            jti: claims.jti,
            iat: claims.iat,
            exp: claims.exp,
        })
    }
}
