//! Token issuance and sessions: the grant logic of RFC 6749, free of HTTP.
//!
//! Shared steps live here once: client authentication, scope narrowing, token minting and
//! session (refresh-family) creation. `grants/` holds only what differs per grant; `users/`
//! and `clients/` account management, `sessions.rs` revocation, logout, introspection and
//! userinfo; `authorize.rs` the browser login and `authorize_request.rs` the checks of an
//! authorization request; `params.rs` the one OAuth parameter rule (RFC 6749 §3.1) every
//! endpoint reads by; `classify.rs` the one error classification both transports map;
//! `limits/` the brute-force limits and rates. Callers pass `now`, so tests never sleep.
//! Imports `store`, `keys` and `password`, never `axum`.

mod admin;
mod audit;
mod authorize;
mod authorize_request;
mod bearer;
mod bootstrap;
pub mod claims;
mod classify;
mod client_auth;
mod client_ip;
mod clients;
mod end_session;
mod error;
mod events;
mod grants;
mod import;
mod keys;
mod limits;
mod maintenance;
mod params;
mod postman;
mod sessions;
mod sigil;
mod users;
mod verification;
mod views;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use admin::Admin;
pub use audit::{AuditError, AuditFilter, AuditLog, AuditPage};
pub use authorize::{AuthorizeError, Browser, NewSession, Step};
pub use authorize_request::AuthorizeParams;
pub use bearer::{AccessToken, InvalidToken};
pub use bootstrap::{Bootstrap, Bootstrapped};
pub use classify::{Classify, Failure, Kind};
pub use client_auth::{BasicCredentials, bearer_token};
pub use client_ip::{ClientAddress, client_ip};
pub use clients::{ClientChanges, ClientError, ClientSpec, Clients, RegisteredClient};
pub use end_session::{EndSession, Logout};
pub use error::Error;
pub use import::{ImportProgress, ImportReport, MAX_LINE_BYTES, Rejection};
pub use keys::{KeyError, Keys, Revoked};
pub use limits::LimitSettings;
pub use maintenance::{Maintenance, spawn_maintenance};
pub use params::{Known, Params, TOKEN_PARAMETERS};
pub use postman::{Postman, PostmanSettings, spawn_postman};
pub use sessions::{AdminDenied, Introspection, UserInfo};
pub use sigil::{Operator, Sigil};
pub use users::{
    AccountSettings, Accounts, Credential, NewAccount, UserChanges, UserError, UserPage,
};
pub use views::{AuditView, ClientView, KeyView, UserView};

use secrecy::SecretString;

use crate::clock::Clock;
use crate::domain::{
    Actor, AuthorizationCode, ClientId, ClientSecret, FamilyId, GrantType, RefreshToken, Scope,
};
use crate::hooks::Hooks;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::password::PasswordHasher;
use crate::store::{AuditEntry, Client, NewRefreshFamily, Store, User};
use claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, ID_TOKEN_TYP, IdTokenClaims};
use events::{Issued, token_issued};

/// The scope that opens the admin API; granted to users only when they are admins.
pub const ADMIN_SCOPE: &str = "admin";

/// The algorithm of every ID token (OIDC Discovery §3: RS256 must be supported), whatever
/// the access-token algorithm.
pub const ID_TOKEN_SIGNING_ALG: &str = crate::domain::SigningAlgorithm::Rs256.as_str();

/// Token settings, from `Config`.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// `iss` of every token: exactly the configured issuer URL.
    pub issuer: String,
    /// `aud` for clients without an audience of their own.
    pub default_audience: String,
    /// Lifetime of access and ID tokens.
    pub access_token_ttl: Duration,
    /// Absolute lifetime of a login session (refresh-token family).
    pub refresh_token_ttl: Duration,
    /// How long a consumed refresh token may be presented again without revoking its family.
    pub refresh_grace: Duration,
    /// Minimum length of a new password, in characters.
    pub password_min_length: usize,
    /// Whether self-registration (`POST /register`) is open.
    pub registration: bool,
    /// Whether mail can be sent (`--smtp-url`).
    pub mail: bool,
    /// Whether the password grant refuses users whose email address is not verified.
    pub require_verified_email: bool,
    /// How long audit rows are kept.
    pub audit_retention: Duration,
    /// Brute-force and rate limits.
    pub limits: LimitSettings,
    /// Test seams (unset in production).
    pub hooks: Hooks,
    /// The server's time source (manual in tests).
    pub clock: Clock,
    /// Whether client_credentials tokens write `token.issued` (`--events-client-credentials`).
    pub events_client_credentials: bool,
}

/// How the client presented its credentials (RFC 6749 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with form-urlencoded id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` only.
    None,
}

/// The client's claimed identity and proof.
#[derive(Debug)]
pub struct ClientAuthentication {
    /// The claimed client id, as sent (unparsed: an invalid id is just an unknown client).
    pub client_id: String,
    /// The presented secret, if any.
    pub secret: Option<ClientSecret>,
    /// Where the credentials came from.
    pub method: AuthMethod,
}

/// The `scope` parameter of a request (RFC 6749 §3.3): `None` when absent or empty, and
/// `invalid_scope` when malformed.
pub fn requested_scope(text: Option<&str>) -> Result<Option<Scope>, Error> {
    match text.filter(|text| !text.is_empty()) {
        Some(text) => Scope::parse(text)
            .map(Some)
            .map_err(|_| Error::InvalidScope),
        None => Ok(None),
    }
}

/// The grant-specific part of a token request.
#[derive(Debug)]
pub enum Grant {
    /// RFC 6749 §4.4.
    ClientCredentials {
        /// Requested scope; `None` means everything the client is allowed.
        scope: Option<Scope>,
    },
    /// RFC 6749 §4.3.
    Password {
        /// The user's email address.
        username: String,
        /// The user's password.
        password: SecretString,
        /// Requested scope; `None` means everything the client is allowed.
        scope: Option<Scope>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// The presented refresh token.
        refresh_token: RefreshToken,
        /// Requested scope; `None` means the token's scope. Never wider.
        scope: Option<Scope>,
    },
    /// RFC 6749 §4.1.3 with PKCE.
    AuthorizationCode {
        /// The code from the authorization response.
        code: AuthorizationCode,
        /// The `redirect_uri` parameter, when sent.
        redirect_uri: Option<String>,
        /// The PKCE verifier (RFC 7636 §4.5); the grant refuses a request without one, so
        /// every transport requires PKCE.
        code_verifier: Option<String>,
    },
}

impl Grant {
    /// The grant type this is.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::Password { .. } => GrantType::Password,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
        }
    }
}

/// A parsed token request.
#[derive(Debug)]
pub struct TokenRequest {
    /// Who asks.
    pub client: ClientAuthentication,
    /// What for.
    pub grant: Grant,
    /// The caller's IP address, for the failed-login limit (`None` when unknown).
    pub client_ip: Option<IpAddr>,
}

/// What a successful token request returns.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The signed access token (JWS compact).
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The granted scope.
    pub scope: Scope,
    /// A new refresh token, for user grants of clients allowed `refresh_token`.
    pub refresh_token: Option<RefreshToken>,
    /// An OIDC ID token, when the scope includes `openid`.
    pub id_token: Option<String>,
}

/// Issues tokens and manages sessions; cheap to clone.
#[derive(Clone)]
pub struct TokenIssuer {
    store: Store,
    keys: Arc<KeyRing>,
    hasher: PasswordHasher,
    settings: Arc<IssuerSettings>,
    limits: limits::Limits,
    metrics: Metrics,
}

/// A user's login session being continued or started.
struct Session<'a> {
    user: &'a User,
    family_id: &'a FamilyId,
    /// The browser session a code-flow login came from: the ID token's `sid` (OIDC
    /// Front-Channel Logout §3: one value per OP session, shared by every client signed in
    /// through it). `None` for a password login, whose family is its own session.
    browser_sid: Option<&'a str>,
    auth_time: DateTime<Utc>,
    /// The authorization request's `nonce`, for the ID token of a code exchange.
    nonce: Option<&'a str>,
}

impl TokenIssuer {
    /// Wires the issuer to its store, key ring, password hasher and metrics.
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        hasher: PasswordHasher,
        settings: IssuerSettings,
        metrics: Metrics,
    ) -> Self {
        Self {
            limits: limits::Limits::new(
                settings.limits,
                &store,
                metrics.clone(),
                settings.clock.clone(),
            ),
            store,
            keys,
            hasher,
            settings: Arc::new(settings),
            metrics,
        }
    }

    /// The password hasher (its queue is reported in the metrics).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Handles one token request at time `now`.
    #[tracing::instrument(skip_all, fields(client_id = %request.client.client_id))]
    pub async fn issue(
        &self,
        request: TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, Error> {
        let client = self.authenticate_client(&request.client).await?;
        // Charged only once the request is known to mean work: a request refused before
        // (unauthorized_client) drains nobody's allowance.
        Self::ensure_grant_allowed(&client, request.grant.grant_type())?;
        let public = client.secret_hash.is_none();
        let rate_key = limits::RateKey::new(&client.id, public, request.client_ip);
        self.limits.check_client(&rate_key)?;
        let (issued, grant_type) = match request.grant {
            Grant::ClientCredentials { scope } => (
                grants::client_credentials::grant(self, &client, scope, now).await,
                GrantType::ClientCredentials,
            ),
            Grant::Password {
                username,
                password,
                scope,
            } => {
                let login = grants::password::Login {
                    username,
                    password,
                    ip: request.client_ip,
                };
                (
                    grants::password::grant(self, &client, login, scope, now).await,
                    GrantType::Password,
                )
            }
            Grant::RefreshToken {
                refresh_token,
                scope,
            } => (
                grants::refresh_token::grant(
                    self,
                    &client,
                    &refresh_token,
                    scope,
                    request.client_ip,
                    now,
                )
                .await,
                GrantType::RefreshToken,
            ),
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let exchange = grants::authorization_code::Exchange {
                    code,
                    redirect_uri,
                    code_verifier,
                    ip: request.client_ip,
                };
                (
                    grants::authorization_code::grant(self, &client, exchange, now).await,
                    GrantType::AuthorizationCode,
                )
            }
        };
        if issued.is_ok() {
            self.metrics.token_issued(grant_type.as_str());
        }
        issued
    }

    /// RFC 6749 §2.3: finds the client and checks its secret in constant time. Every failure
    /// is the same `invalid_client`, so callers learn nothing about which check failed.
    async fn authenticate_client(&self, auth: &ClientAuthentication) -> Result<Arc<Client>, Error> {
        let Ok(id) = ClientId::parse(auth.client_id.as_str()) else {
            return Err(Error::InvalidClient);
        };
        let Some(client) = self.store.find_client(&id).await? else {
            return Err(Error::InvalidClient);
        };
        let authenticated = match (&client.secret_hash, &auth.secret) {
            (Some(hash), Some(secret)) => hash.verify(secret),
            (None, None) => auth.method == AuthMethod::None,
            _ => false,
        };
        if !authenticated {
            return Err(Error::InvalidClient);
        }
        Ok(client)
    }

    /// `unauthorized_client` unless the client was registered for `grant`; RFC 6749 §4.4:
    /// client_credentials only for confidential clients.
    fn ensure_grant_allowed(client: &Client, grant: GrantType) -> Result<(), Error> {
        let public = client.secret_hash.is_none();
        if client.grant_types.contains(grant) && !(public && grant == GrantType::ClientCredentials)
        {
            Ok(())
        } else {
            Err(Error::UnauthorizedClient(error::GRANT_NOT_ALLOWED))
        }
    }

    /// RFC 6749 §3.3: the requested scope must be within `allowed`; none requested means all.
    fn narrow_scope(requested: Option<Scope>, allowed: &Scope) -> Result<Scope, Error> {
        match requested {
            None => Ok(allowed.clone()),
            Some(scope) if scope.is_subset_of(allowed) => Ok(scope),
            Some(_) => Err(Error::InvalidScope),
        }
    }

    /// Scope `admin` goes only to admin users: dropped from a default scope, refused when asked.
    fn limit_admin(scope: Scope, user: &User, requested: bool) -> Result<Scope, Error> {
        match (scope.contains(ADMIN_SCOPE) && !user.is_admin, requested) {
            (false, _) => Ok(scope),
            (true, true) => Err(Error::InvalidScope),
            (true, false) => Ok(scope.without(ADMIN_SCOPE)),
        }
    }

    /// The client an ID token sigil signed was issued to (`aud`) and its user (`sub`),
    /// expired or not; `None` for anything else.
    fn id_token_parties(&self, token: &str) -> Option<(String, String)> {
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
    fn new_jti() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// When an access token issued at `now` expires (the `exp` claim; the end of time for an
    /// absurdly long lifetime, never an overflow).
    fn access_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.settings.access_token_ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Signs an RFC 9068 access token `jti` for `subject` with the current key.
    fn mint_access_token(
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

    fn sign(&self, typ: &str, claims: &impl serde::Serialize) -> Result<String, Error> {
        let payload = serde_json::to_vec(claims).map_err(|e| Error::Internal(e.into()))?;
        let signed = match typ {
            ID_TOKEN_TYP => self.keys.sign_id_token(typ, &payload),
            _ => self.keys.sign(typ, &payload),
        };
        signed.map_err(Error::Internal)
    }

    /// Access token (+ ID token with `openid`) for a user's session; the refresh token, if
    /// any, was already stored by the caller.
    fn user_tokens(
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
    async fn start_session(
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
        let actor = Actor::user(user.id.as_str(), Some(client.id.to_string()), ip);
        let entry = AuditEntry::new(&actor, "login.success", now)
            .target("session", family_id.as_str())
            .details(serde_json::json!({ "scope": scope.to_string() }));
        tx.record(&entry).await?;
        let client_id = client.id.as_str();
        let created = (client_id, "password");
        tx.emit(&events::session_created(
            family_id.as_str(),
            &user.id,
            created,
            ip,
            now,
        ))
        .await?;
        let jti = Self::new_jti();
        let issued = Issued {
            grant: GrantType::Password,
            user_id: Some(&user.id),
            client_id,
            session_id: Some(&family_id),
            jti: &jti,
            exp: self.access_expiry(now),
        };
        tx.emit(&token_issued(&issued, now)).await?;
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
}

/// OIDC Core §3.1.3.6 `at_hash`: base64url of the left half of the access token's SHA-256
/// (every ID token and access token sigil signs uses a SHA-256 algorithm).
fn at_hash(access_token: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}
