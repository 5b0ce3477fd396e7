//! Minting: what a successful grant turns into. The signed access token (RFC 9068) and ID
//! token (OIDC Core §2), and the start of a login session (refresh family) with its audit row
//! and events, in one transaction.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, ID_TOKEN_TYP, IdTokenClaims};
use super::events::{self, Issued, token_issued};
use super::{Error, IssuedTokens, TokenIssuer};
use crate::domain::{Actor, FamilyId, GrantType, RefreshToken, Scope};
use crate::store::{AuditEntry, Client, NewRefreshFamily, Tx, User};

/// A user's login session being continued or started.
pub(super) struct Session<'a> {
    pub(super) user: &'a User,
    pub(super) family_id: &'a FamilyId,
    /// The browser session a code-flow login came from: the ID token's `sid` (OIDC
    /// Front-Channel Logout §3: one value per OP session, shared by every client signed in
    /// through it). `None` for a password login, whose family is its own session.
    pub(super) browser_sid: Option<&'a str>,
    pub(super) auth_time: DateTime<Utc>,
    /// The authorization request's `nonce`, for the ID token of a code exchange.
    pub(super) nonce: Option<&'a str>,
}

impl TokenIssuer {
    /// The client an ID token sigil signed was issued to (`aud`) and its user (`sub`),
    /// expired or not; `None` for anything else.
    pub(super) fn id_token_parties(&self, token: &str) -> Option<(String, String)> {
        let jws = self.keys.verify(token).ok()?;
        if jws.typ.as_deref() != Some(ID_TOKEN_TYP) {
            return None;
        }
        let claims: serde_json::Value = serde_json::from_slice(&jws.payload).ok()?;
        if claims["iss"] != self.settings.issuer.as_str() {
            return None;
        }
        let party = |name: &str| claims[name].as_str().map(str::to_owned);
        Some((party("aud")?, party("sub")?))
    }

    /// A fresh `jti` for an access token.
    pub(super) fn new_jti() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// When an access token issued at `now` expires (the `exp` claim; the end of time for an
    /// absurdly long lifetime, never an overflow).
    pub(super) fn access_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.settings.access_token_ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Signs an RFC 9068 access token `jti` for `subject` with the current key.
    pub(super) fn mint_access_token(
        &self,
        client: &Client,
        subject: &str,
        scope: &Scope,
        (session, jti): (Option<&str>, &str),
        now: DateTime<Utc>,
    ) -> Result<(String, u64), Error> {
        let ttl = self.settings.access_token_ttl.as_secs();
        let claims = AccessTokenClaims {
            iss: &self.settings.issuer,
            sub: subject,
            aud: client
                .audience
                .as_deref()
                .unwrap_or(&self.settings.default_audience),
            iat: now.timestamp(),
            exp: self.access_expiry(now).timestamp(),
            jti: jti.to_owned(),
            client_id: client.id.as_str(),
            scope: (!scope.is_empty()).then(|| scope.to_string()),
            sid: session,
        };
        Ok((self.sign(ACCESS_TOKEN_TYP, &claims)?, ttl))
    }

    pub(super) fn sign(&self, typ: &str, claims: &impl serde::Serialize) -> Result<String, Error> {
        let payload = serde_json::to_vec(claims).map_err(|e| Error::Internal(e.into()))?;
        let signed = match typ {
            ID_TOKEN_TYP => self.keys.sign_id_token(typ, &payload),
            _ => self.keys.sign(typ, &payload),
        };
        signed.map_err(Error::Internal)
    }

    /// Access token (+ ID token with `openid`) for a user's session; the refresh token, if
    /// any, was already stored by the caller.
    pub(super) fn user_tokens(
        &self,
        client: &Client,
        session: &Session<'_>,
        scope: Scope,
        (refresh_token, jti): (Option<RefreshToken>, &str),
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, Error> {
        let (access_token, expires_in) = self.mint_access_token(
            client,
            session.user.id.as_str(),
            &scope,
            (Some(session.family_id.as_str()), jti),
            now,
        )?;
        // OIDC Core §5.4: scope `email` asks for `email` and `email_verified`, `profile` for
        // `name` (the only profile claim sigil keeps).
        let with_email = scope.contains("email");
        let with_profile = scope.contains("profile");
        let id_token = match scope.contains("openid") {
            true => Some(
                self.sign(
                    ID_TOKEN_TYP,
                    &IdTokenClaims {
                        iss: &self.settings.issuer,
                        sub: session.user.id.as_str(),
                        aud: client.id.as_str(),
                        iat: now.timestamp(),
                        exp: now.timestamp().saturating_add_unsigned(expires_in),
                        auth_time: session.auth_time.timestamp(),
                        sid: session.browser_sid.unwrap_or(session.family_id.as_str()),
                        nonce: session.nonce,
                        at_hash: at_hash(&access_token),
                        email: with_email.then_some(session.user.email.as_str()),
                        email_verified: with_email.then_some(session.user.email_verified),
                        name: session
                            .user
                            .display_name
                            .as_deref()
                            .filter(|_| with_profile),
                    },
                )?,
            ),
            false => None,
        };
        Ok(IssuedTokens {
            access_token,
            expires_in,
            scope,
            refresh_token,
            id_token,
        })
    }

    /// Starts a login session (refresh family), recording `login.success` in the same
    /// transaction; its first refresh token when the client may use the `refresh_token`
    /// grant.
    pub(super) async fn start_session(
        &self,
        client: &Client,
        user: &User,
        scope: Scope,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, Error> {
        let family_id = FamilyId::generate();
        let refresh = client
            .grant_types
            .contains(GrantType::RefreshToken)
            .then(RefreshToken::generate);
        // A session exists even without a refresh token, so logout and introspection see it.
        let placeholder = RefreshToken::generate();
        let first_hash = refresh.as_ref().unwrap_or(&placeholder).hash();
        let expires_at = now + self.settings.refresh_token_ttl;
        let family = NewRefreshFamily {
            family_id: &family_id,
            user_id: &user.id,
            client_id: &client.id,
            auth_time: now,
            expires_at,
            token_hash: first_hash.as_bytes(),
            scope: &scope,
            credentials_version: user.credentials_version,
            browser_sid: None,
        };
        let mut tx = self.store.begin().await?;
        // Created only while the checked credentials are still the user's: a password reset,
        // disabling or demotion that landed while this login was verifying wins.
        if !tx.insert_refresh_family(&family, now).await? {
            return Err(Error::InvalidGrant(
                "the account changed during login; log in again",
            ));
        }
        let jti = Self::new_jti();
        let login = (client, user, &family_id, &scope);
        self.record_login(&mut tx, login, &jti, ip, now).await?;
        tx.commit().await?;
        let session = Session {
            user,
            family_id: &family_id,
            browser_sid: None,
            auth_time: now,
            nonce: None,
        };
        self.user_tokens(client, &session, scope, (refresh, &jti), now)
    }

    /// `login.success` in the audit log, `session.created` and `token.issued`, in the login's
    /// transaction.
    async fn record_login(
        &self,
        tx: &mut Tx,
        (client, user, family_id, scope): (&Client, &User, &FamilyId, &Scope),
        jti: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let actor = Actor::user(user.id.as_str(), Some(client.id.to_string()), ip);
        let entry = AuditEntry::new(&actor, "login.success", now)
            .target("session", family_id.as_str())
            .details(serde_json::json!({ "scope": scope.to_string() }));
        tx.record(&entry).await?;
        let client_id = client.id.as_str();
        let created = (client_id, "password");
        let session = events::session_created(family_id.as_str(), &user.id, created, ip, now);
        tx.emit(&session).await?;
        let issued = Issued {
            grant: GrantType::Password,
            user_id: Some(&user.id),
            client_id,
            session_id: Some(family_id),
            jti,
            exp: self.access_expiry(now),
        };
        tx.emit(&token_issued(&issued, now)).await?;
        Ok(())
    }
}

/// OIDC Core §3.1.3.6 `at_hash`: base64url of the left half of the access token's SHA-256
/// (every ID token and access token sigil signs uses a SHA-256 algorithm).
fn at_hash(access_token: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}
