//! RFC 6749 §6 with RFC 9700 §4.14 rotation: every use consumes the token and returns a new
//! one; presenting a consumed token revokes the whole family.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::domain::{Actor, GrantType, RefreshToken, Scope};
use crate::oauth::events::{self, SessionEnd};
use crate::oauth::{Error, IssuedTokens, Session, TokenIssuer};
use crate::store::{Client, Rotation, RotationEvents};

/// The one answer to every unusable refresh token.
const INVALID: &str = "the refresh token is invalid, expired or revoked";

/// Rotates the refresh token and issues tokens with the same or a narrower scope: the
/// token's scope within the client's current scope (and `admin` only for admins).
pub(in crate::oauth) async fn grant(
    issuer: &TokenIssuer,
    client: &Client,
    presented: &RefreshToken,
    requested: Option<Scope>,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, Error> {
    let old_hash = presented.hash();
    let Some(record) = issuer.store.find_refresh_token(old_hash.as_bytes()).await? else {
        return Err(Error::InvalidGrant(INVALID));
    };
    // Bound to its client: another client's attempt neither works nor consumes the token.
    if record.client_id != client.id {
        return Err(Error::InvalidGrant(INVALID));
    }
    let Some(user) = issuer
        .store
        .find_user(&record.user_id)
        .await?
        .filter(|user| !user.disabled)
        // Where verification is required, a session outlives it no more than a login would.
        .filter(|user| user.email_verified || !issuer.settings.require_verified_email)
    else {
        return Err(Error::InvalidGrant(INVALID));
    };
    // A session older than the user's last password change (or disabling, or demotion)
    // is over, even if its revocation was missed.
    if record.credentials_version != user.credentials_version {
        return Err(Error::InvalidGrant(INVALID));
    }
    // Never wider than the client may have today: a scope taken from the client is gone
    // from its sessions at their next refresh.
    let original = record.scope.intersection(&client.scopes);
    let explicit = requested.is_some();
    let scope = TokenIssuer::narrow_scope(requested, &original)?;
    let scope = TokenIssuer::limit_admin(scope, &user, explicit)?;
    let next = RefreshToken::generate();
    let grace_since = now - issuer.settings.refresh_grace;
    // Recorded as the presenter should the token turn out to be a reuse.
    let actor = Actor::user(record.user_id.as_str(), Some(client.id.to_string()), ip);
    let jti = TokenIssuer::new_jti();
    // Built only while events are on: this is the hottest write path.
    let events = issuer.store.outbox_enabled().then(|| {
        let issued = events::Issued {
            grant: GrantType::RefreshToken,
            user_id: Some(&record.user_id),
            client_id: client.id.as_str(),
            session_id: Some(&record.family_id),
            jti: &jti,
            exp: issuer.access_expiry(now),
        };
        RotationEvents {
            issued: events::token_issued(&issued, now),
            reused: events::session_invalidated(
                record.family_id.as_str(),
                &record.user_id,
                SessionEnd::ReuseDetected,
                now,
            ),
        }
    });
    let rotation = issuer
        .store
        .rotate_refresh_token(
            old_hash.as_bytes(),
            next.hash().as_bytes(),
            &scope.to_string(),
            (now, grace_since),
            &actor,
            events,
        )
        .await?;
    match rotation {
        Rotation::Rotated => {
            let session = Session {
                user: &user,
                family_id: &record.family_id,
                browser_sid: record.browser_sid.as_deref(),
                auth_time: record.auth_time,
                nonce: None,
            };
            issuer.user_tokens(client, &session, scope, (Some(next), &jti), now)
        }
        Rotation::ReuseDetected => {
            tracing::warn!(family_id = %record.family_id, client_id = %client.id, "refresh token reused: family revoked");
            Err(Error::InvalidGrant(INVALID))
        }
        Rotation::Invalid => Err(Error::InvalidGrant(INVALID)),
    }
}
