//! RFC 6749 §6 with RFC 9700 §4.14 rotation: every use consumes the token and returns a new
//! one; presenting a consumed token revokes the whole family. The rule is decided here, in
//! one place (who may present the token, the scope, the grace window, what a reuse records);
//! the store executes the plan (`store::RotationPlan`).

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::domain::{Actor, GrantType, RefreshToken, Scope};
use crate::oauth::events::{self, SessionEnd};
use crate::oauth::{Error, IssuedTokens, Session, TokenIssuer};
use crate::store::{
    AuditEntry, Client, RefreshTokenRecord, Rotation, RotationEvents, RotationPlan, User,
};

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
    let user = presenter(issuer, client, &record).await?;
    // Never wider than the client may have today: a scope taken from the client is gone
    // from its sessions at their next refresh.
    let original = record.scope.intersection(&client.scopes);
    let explicit = requested.is_some();
    let scope = TokenIssuer::narrow_scope(requested, &original)?;
    let scope = TokenIssuer::limit_admin(scope, &user, explicit)?;
    let next = RefreshToken::generate();
    let jti = TokenIssuer::new_jti();
    let plan = RotationPlan {
        old_hash: old_hash.as_bytes().to_vec(),
        new_hash: next.hash().as_bytes().to_vec(),
        scope: scope.clone(),
        now,
        grace_since: now - issuer.settings.refresh_grace,
        reuse_audit: reuse_audit(client, &record, ip, now),
        events: rotation_events(issuer, client, &record, &jti, now),
    };
    match issuer.store.rotate_refresh_token(plan).await? {
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

/// The user a token may still be presented for: bound to its client (another client's
/// attempt neither works nor consumes it), its user enabled (and verified where that is
/// required) and at the credentials version the session started with.
async fn presenter(
    issuer: &TokenIssuer,
    client: &Client,
    record: &RefreshTokenRecord,
) -> Result<User, Error> {
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
    Ok(user)
}

/// `session.reuse_detected`, recorded under the presenter should the token turn out to have
/// been spent before.
fn reuse_audit(
    client: &Client,
    record: &RefreshTokenRecord,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> AuditEntry {
    let actor = Actor::user(record.user_id.as_str(), Some(client.id.to_string()), ip);
    AuditEntry::new(&actor, "session.reuse_detected", now)
        .target("session", record.family_id.as_str())
}

/// The events of either outcome; built only while events are on (this is the hottest write
/// path).
fn rotation_events(
    issuer: &TokenIssuer,
    client: &Client,
    record: &RefreshTokenRecord,
    jti: &str,
    now: DateTime<Utc>,
) -> Option<RotationEvents> {
    issuer.store.outbox_enabled().then(|| {
        let issued = events::Issued {
            grant: GrantType::RefreshToken,
            user_id: Some(&record.user_id),
            client_id: client.id.as_str(),
            session_id: Some(&record.family_id),
            jti,
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
    })
}

#[cfg(test)]
mod tests {
    use crate::oauth::testing::{Harness, refresh};
    use crate::oauth::{Error, IssuedTokens};

    /// A public dashboard client and a user signed in through it (password grant).
    async fn signed_in(harness: &Harness) -> (String, IssuedTokens) {
        let client_id = harness.public_client("password refresh_token").await;
        harness.user("ann@example.com").await;
        let tokens = harness.login(&client_id, "ann@example.com").await;
        (client_id, tokens)
    }

    #[tokio::test]
    async fn a_spent_token_presented_again_revokes_the_family_and_is_recorded() {
        let harness = Harness::new().await;
        let (client_id, first) = signed_in(&harness).await;

        let second = harness.issue(&client_id, refresh(&first)).await.unwrap();
        let reuse = harness.issue(&client_id, refresh(&first)).await;
        let after = harness.issue(&client_id, refresh(&second)).await;

        assert!(matches!(reuse, Err(Error::InvalidGrant(_))));
        assert!(
            matches!(after, Err(Error::InvalidGrant(_))),
            "the family is revoked"
        );
        let rows = harness.audit_rows("session.reuse_detected").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].target_type.as_deref(), Some("session"));
        assert_eq!(rows[0].actor_type, "user");
    }

    #[tokio::test]
    async fn another_clients_attempt_neither_works_nor_spends_the_token() {
        let harness = Harness::new().await;
        let (client_id, first) = signed_in(&harness).await;
        let other = harness.public_client("refresh_token").await;

        let stolen = harness.issue(&other, refresh(&first)).await;
        let own = harness.issue(&client_id, refresh(&first)).await;

        assert!(matches!(stolen, Err(Error::InvalidGrant(_))));
        assert!(own.is_ok(), "still unspent: {own:?}");
    }
}
