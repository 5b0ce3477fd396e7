//! RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): a code from `/authorize` for tokens and a new
//! session. The code is used by one conditional update (one winner); a second use of it is
//! `invalid_grant` and revokes what the first issued (RFC 6749 §4.1.2).

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::domain::{Actor, AuthorizationCode, CodeChallenge, FamilyId, GrantType, RefreshToken};
use crate::oauth::events::{self, Issued, SessionEnd};
use crate::oauth::{Error, IssuedTokens, Session, TokenIssuer};
use crate::store::{AuditEntry, AuthorizationCodeRecord, Client, NewRefreshFamily, Tx, User};

/// The one answer to a code that cannot be exchanged, whatever the reason.
const BAD_CODE: &str = "the authorization code is invalid, expired, already used or was issued for another client or redirect URI";

/// What the client sends with the code.
pub(in crate::oauth) struct Exchange {
    pub(in crate::oauth) code: AuthorizationCode,
    /// The `redirect_uri` of the token request (`None` when absent).
    pub(in crate::oauth) redirect_uri: Option<String>,
    /// The PKCE verifier; `None` when the request carried none (refused).
    pub(in crate::oauth) code_verifier: Option<String>,
    pub(in crate::oauth) ip: Option<IpAddr>,
}

/// Exchanges the code for tokens: checks that it was issued to this client for this
/// redirect URI, unexpired, and that the verifier matches its challenge; then starts a
/// session (refresh family) tied to the browser session, all in one transaction.
pub(in crate::oauth) async fn grant(
    issuer: &TokenIssuer,
    client: &Client,
    exchange: Exchange,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, Error> {
    // RFC 9700 §2.1.1: PKCE for every client. Refused before the code is looked at, so a
    // request without a verifier does not spend it.
    let Some(verifier) = exchange.code_verifier.as_deref() else {
        return Err(Error::InvalidRequest("code_verifier is required (PKCE)"));
    };
    let hash = exchange.code.hash();
    let mut tx = issuer.store.begin().await?;
    let Some(code) = tx.use_authorization_code(&hash, now).await? else {
        drop(tx);
        revoke_reused(issuer, client, &exchange, now).await?;
        return Err(Error::InvalidGrant(BAD_CODE));
    };
    if !is_bound(&code, client, &exchange, verifier, now) {
        // Spent all the same: a code presented wrongly is never tried again.
        tx.commit().await?;
        return Err(Error::InvalidGrant(BAD_CODE));
    }
    // The code is worth what the browser session that minted it is worth now: a logout, a
    // password change or disabling the user since then leaves it nothing to start.
    let Some(credentials_version) = tx.live_browser_session(&code.sid, now).await? else {
        tx.commit().await?;
        return Err(Error::InvalidGrant(BAD_CODE));
    };
    let user = match tx.lock_user(&code.user_id).await? {
        Some(user) if !user.disabled => user,
        _ => return Err(Error::InvalidGrant(BAD_CODE)),
    };
    let (family_id, refresh) = start_family(
        issuer,
        &mut tx,
        (client, &user, &code),
        credentials_version,
        now,
    )
    .await?;
    let jti = TokenIssuer::new_jti();
    let exp = issuer.access_expiry(now);
    tx.record_code_issue(&hash, &family_id, (&jti, exp)).await?;
    let exchanged = (&user, client, &code, &family_id, jti.as_str(), exp);
    record_exchange(&mut tx, exchanged, exchange.ip, now).await?;
    tx.commit().await?;
    let session = Session {
        user: &user,
        family_id: &family_id,
        browser_sid: Some(&code.sid),
        auth_time: code.auth_time,
        nonce: code.nonce.as_deref(),
    };
    issuer.user_tokens(client, &session, code.scope.clone(), (refresh, &jti), now)
}

/// Whether the code was issued to this client for this redirect URI, is unexpired, and the
/// verifier matches its challenge.
fn is_bound(
    code: &AuthorizationCodeRecord,
    client: &Client,
    exchange: &Exchange,
    verifier: &str,
    now: DateTime<Utc>,
) -> bool {
    let challenge = CodeChallenge::stored(code.code_challenge.clone());
    code.client_id == client.id
        && code.redirect_uri == exchange.redirect_uri.as_deref().unwrap_or_default()
        && code.expires_at > now
        && challenge.verifies(verifier)
}

/// Inserts the session (refresh family) the code starts, and its first refresh token when
/// the client may use the grant (a session exists even without one, so logout and
/// introspection see it). It carries the browser session's credentials version, not the
/// user's as read now: a change committed after the check fails the conditional insert.
async fn start_family(
    issuer: &TokenIssuer,
    tx: &mut Tx,
    (client, user, code): (&Client, &User, &AuthorizationCodeRecord),
    credentials_version: i64,
    now: DateTime<Utc>,
) -> Result<(FamilyId, Option<RefreshToken>), Error> {
    let family_id = FamilyId::generate();
    let refresh = client
        .grant_types
        .contains(GrantType::RefreshToken)
        .then(RefreshToken::generate);
    let first_hash = match &refresh {
        Some(token) => token.hash(),
        None => RefreshToken::generate().hash(),
    };
    let family = NewRefreshFamily {
        family_id: &family_id,
        user_id: &user.id,
        client_id: &client.id,
        auth_time: code.auth_time,
        expires_at: now + issuer.settings.refresh_token_ttl,
        token_hash: first_hash.as_bytes(),
        scope: &code.scope,
        credentials_version,
        browser_sid: Some(&code.sid),
    };
    match tx.insert_refresh_family(&family, now).await? {
        true => Ok((family_id, refresh)),
        false => Err(Error::InvalidGrant(BAD_CODE)),
    }
}

/// What a successful exchange started: for whom, through which client, from which code,
/// the session and the access token's `jti` and expiry.
type Exchanged<'a> = (
    &'a User,
    &'a Client,
    &'a AuthorizationCodeRecord,
    &'a FamilyId,
    &'a str,
    DateTime<Utc>,
);

/// `code.exchange` in the audit log and `token.issued`, in the exchange's transaction.
async fn record_exchange(
    tx: &mut Tx,
    (user, client, code, family_id, jti, exp): Exchanged<'_>,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let actor = Actor::user(user.id.as_str(), Some(client.id.to_string()), ip);
    let entry = AuditEntry::new(&actor, "code.exchange", now)
        .target("session", family_id.as_str())
        .details(serde_json::json!({ "scope": code.scope.to_string(), "sid": code.sid }));
    tx.record(&entry).await?;
    let issued = Issued {
        grant: GrantType::AuthorizationCode,
        user_id: Some(&user.id),
        client_id: client.id.as_str(),
        session_id: Some(family_id),
        jti,
        exp,
    };
    tx.emit(&events::token_issued(&issued, now)).await?;
    Ok(())
}

/// A used code came back: revokes the session and the access token its first exchange
/// issued, and records it. Nothing happens for a code that never existed.
async fn revoke_reused(
    issuer: &TokenIssuer,
    client: &Client,
    exchange: &Exchange,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let Some(issued) = issuer.store.used_code(&exchange.code.hash()).await? else {
        return Ok(());
    };
    let mut tx = issuer.store.begin().await?;
    revoke_issued(&mut tx, &issued, now).await?;
    let actor = Actor::anonymous(exchange.ip).via(client.id.as_str());
    let mut entry = AuditEntry::new(&actor, "code.reuse_detected", now);
    if let Some(family_id) = &issued.family_id {
        entry = entry.target("session", family_id.as_str());
    }
    tx.record(&entry).await?;
    tx.commit().await?;
    tracing::warn!(client_id = %client.id, "authorization code reused; what it issued is revoked");
    Ok(())
}

async fn revoke_issued(
    tx: &mut Tx,
    issued: &crate::store::CodeIssued,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if let (Some(jti), Some(expires_at)) = (&issued.jti, issued.jti_expires_at) {
        tx.revoke_access_token(jti, expires_at).await?;
    }
    let Some(family_id) = &issued.family_id else {
        return Ok(());
    };
    if let Some(user_id) = tx.revoke_refresh_family_owner(family_id, now).await? {
        let ended = events::session_invalidated(
            family_id.as_str(),
            &user_id,
            SessionEnd::ReuseDetected,
            now,
        );
        tx.emit(&ended).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::domain::AuthorizationCode;
    use crate::oauth::testing::{Harness, REDIRECT_URI, VERIFIER, claims, code_grant, refresh};
    use crate::oauth::{Error, Grant};

    const EMAIL: &str = "ada@example.com";

    /// The code grant with `code` and the other parts as given.
    fn grant(code: &str, redirect_uri: &str, verifier: Option<&str>) -> Grant {
        Grant::AuthorizationCode {
            code: AuthorizationCode::presented(code.to_owned()),
            redirect_uri: Some(redirect_uri.to_owned()),
            code_verifier: verifier.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn a_code_gives_tokens_for_its_user_with_the_nonce_and_browser_session() {
        let h = Harness::new().await;
        let client = h.browser_client(true).await;
        let user = h.user(EMAIL).await;
        let (code, _) = h.code(&client, EMAIL).await;

        let tokens = h.issue(&client, code_grant(&code)).await.unwrap();

        let id_token = claims(tokens.id_token.as_deref().unwrap());
        assert_eq!(id_token["sub"], user.as_str());
        assert_eq!(id_token["aud"], client.as_str());
        assert_eq!(id_token["nonce"], "n-1");
        assert!(id_token["sid"].is_string());
        assert_eq!(claims(&tokens.access_token)["sub"], user.as_str());
        assert!(tokens.refresh_token.is_some());
        assert_eq!(h.audit_rows("code.exchange").await.len(), 1);
    }

    #[tokio::test]
    async fn a_second_use_is_refused_and_revokes_what_the_first_issued() {
        let h = Harness::new().await;
        let client = h.browser_client(true).await;
        h.user(EMAIL).await;
        let (code, _) = h.code(&client, EMAIL).await;
        let tokens = h.issue(&client, code_grant(&code)).await.unwrap();

        let again = h.issue(&client, code_grant(&code)).await;

        assert!(matches!(again, Err(Error::InvalidGrant(_))), "{again:?}");
        assert_eq!(h.audit_rows("code.reuse_detected").await.len(), 1);
        let refreshed = h.issue(&client, refresh(&tokens)).await;
        assert!(
            matches!(refreshed, Err(Error::InvalidGrant(_))),
            "{refreshed:?}"
        );
    }

    #[tokio::test]
    async fn a_request_without_a_verifier_is_refused_before_the_code_is_spent() {
        let h = Harness::new().await;
        let client = h.browser_client(true).await;
        h.user(EMAIL).await;
        let (code, _) = h.code(&client, EMAIL).await;

        let without = h.issue(&client, grant(&code, REDIRECT_URI, None)).await;
        let with = h.issue(&client, code_grant(&code)).await;

        assert!(
            matches!(without, Err(Error::InvalidRequest(_))),
            "{without:?}"
        );
        assert!(with.is_ok(), "{with:?}");
    }

    #[tokio::test]
    async fn a_code_presented_wrongly_is_refused_alike_and_spent() {
        let h = Harness::new().await;
        let client = h.browser_client(true).await;
        let other_client = h.browser_client(true).await;
        h.user(EMAIL).await;
        let other_verifier = "x".repeat(43);
        let cases = [
            (
                "another verifier",
                client.clone(),
                Some(other_verifier.as_str()),
                REDIRECT_URI,
            ),
            (
                "another redirect URI",
                client.clone(),
                Some(VERIFIER),
                "https://app.test/other",
            ),
            ("another client", other_client, Some(VERIFIER), REDIRECT_URI),
            (
                "a malformed verifier",
                client.clone(),
                Some("short"),
                REDIRECT_URI,
            ),
        ];

        let mut answers = Vec::new();
        for (case, presenter, verifier, redirect_uri) in cases {
            let (code, _) = h.code(&client, EMAIL).await;

            let wrong = h
                .issue(&presenter, grant(&code, redirect_uri, verifier))
                .await;
            let right = h.issue(&client, code_grant(&code)).await;

            let Err(Error::InvalidGrant(why)) = wrong else {
                panic!("{case}: {wrong:?}");
            };
            answers.push(why);
            assert!(
                matches!(right, Err(Error::InvalidGrant(_))),
                "{case}: spent"
            );
        }
        answers.dedup();
        assert_eq!(answers.len(), 1, "one answer whatever the reason");
    }

    #[tokio::test]
    async fn a_code_works_for_sixty_seconds() {
        let h = Harness::new().await;
        let client = h.browser_client(true).await;
        h.user(EMAIL).await;
        let (fresh, _) = h.code(&client, EMAIL).await;
        let (stale, _) = h.code(&client, EMAIL).await;
        h.clock.advance(Duration::from_secs(59));
        let in_time = h.issue(&client, code_grant(&fresh)).await;

        h.clock.advance(Duration::from_secs(2));
        let late = h.issue(&client, code_grant(&stale)).await;

        assert!(in_time.is_ok(), "{in_time:?}");
        assert!(matches!(late, Err(Error::InvalidGrant(_))), "{late:?}");
    }

    #[tokio::test]
    async fn a_password_change_after_the_code_was_issued_leaves_it_nothing() {
        let h = Harness::new().await;
        let client = h.browser_client(true).await;
        let user = h.user(EMAIL).await;
        let (code, _) = h.code(&client, EMAIL).await;
        let changes = crate::oauth::UserChanges {
            password: Some("another good password".to_owned().into()),
            ..crate::oauth::UserChanges::default()
        };
        let admin = h.admin();
        let update = h.sigil.accounts.update(&admin, &user, changes, h.now());
        update.await.unwrap();

        let exchanged = h.issue(&client, code_grant(&code)).await;

        assert!(
            matches!(exchanged, Err(Error::InvalidGrant(_))),
            "{exchanged:?}"
        );
    }
}
