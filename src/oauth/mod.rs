//! The application layer: everything sigil decides, free of HTTP and gRPC.
//!
//! Where each part lives:
//! - tokens: `TokenIssuer` here (client authentication, scope narrowing, the grant
//!   dispatch), `token_request.rs` (what a transport hands it), `grants/` (what differs per
//!   grant, the refresh-rotation rule in `grants/refresh_token.rs`), `minting.rs` (signing
//!   access and ID tokens, starting a session), `client_auth.rs`, `bearer.rs` (sigil's own
//!   tokens coming back), `claims.rs`;
//! - browser login: `browser/` (`login.rs`: login, consent, codes; `request.rs`: the
//!   request's named checks; `end_session.rs`);
//! - accounts: `users/` (create, manage, change), `verification.rs` (emailed links),
//!   `postman.rs` (the mail relay, a `worker::Drain`), `import.rs`;
//! - clients: `clients/` (use cases; `spec.rs` the operator's records and their parsing);
//! - sessions, keys, audit: `sessions.rs` (revocation, logout, introspection, userinfo, the
//!   admin check), `keys.rs`, `audit.rs`, `admin.rs` (the `Admin` capability, audited
//!   outcomes);
//! - limits: `limits/` (brute-force windows and per-client rates);
//! - the vocabulary: `error.rs` (the one `Error`), `classify.rs` (its one classification),
//!   `views.rs` (what transports get), `params.rs` (the RFC 6749 §3.1 parameter rule),
//!   `events.rs` (event builders);
//! - `testing.rs` (tests only): a `Sigil` on a fresh SQLite, for the unit tests of each part.
//!
//! Callers pass `now`, so tests never sleep. Imports `store`, `keys`, `password`, `events`'
//! mailer and `domain`, never `axum`, `tonic`, `config` or `app`.

mod admin;
mod audit;
mod bearer;
mod bootstrap;
mod browser;
pub mod claims;
mod classify;
mod client_auth;
mod client_ip;
mod clients;
mod directory;
mod error;
mod events;
mod grants;
mod import;
mod keys;
mod limits;
mod maintenance;
mod minting;
mod params;
mod postman;
mod sessions;
mod sigil;
#[cfg(test)]
pub(crate) mod testing;
mod token_request;
mod users;
mod verification;
mod views;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use admin::{Admin, AdminDenied};
pub use audit::{AuditError, AuditFilter, AuditLog, AuditPage};
pub use bearer::{AccessToken, InvalidToken};
pub use bootstrap::{Bootstrap, Bootstrapped};
pub use browser::{AuthorizeError, AuthorizeParams, Browser, EndSession, Logout, NewSession, Step};
pub use classify::{Classify, Failure, Kind};
pub use client_auth::{BasicCredentials, bearer_token};
pub use client_ip::{ClientAddress, client_ip};
pub use clients::{ClientChanges, ClientError, ClientSpec, Clients, RegisteredClient};
pub use directory::{Directory, DirectorySettings, InboundMessage, MAX_MESSAGE_BYTES};
pub use error::Error;
pub use import::{ImportProgress, ImportReport, MAX_LINE_BYTES, Rejection};
pub use keys::{KeyError, Keys, Revoked};
pub use limits::LimitSettings;
pub use maintenance::{Maintenance, spawn_maintenance};
use minting::Session;
pub use params::{Known, Params, TOKEN_PARAMETERS};
pub use postman::{Postman, PostmanSettings, spawn_postman};
pub use sessions::{Introspection, UserInfo};
pub use sigil::{Operator, Sigil};
pub use token_request::{
    AuthMethod, ClientAuthentication, Grant, IssuedTokens, TokenRequest, requested_scope,
};
pub use users::{
    AccountSettings, Accounts, Credential, NewAccount, UserChanges, UserError, UserPage,
};
pub use views::{AuditView, ClientView, KeyView, UserView};

use crate::clock::Clock;
use crate::domain::{ClientId, GrantType, Scope};
use crate::hooks::Hooks;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::password::PasswordHasher;
use crate::store::{Client, Store, User};

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
        let grant_type = request.grant.grant_type();
        let issued = self
            .run_grant(&client, request.grant, request.client_ip, now)
            .await;
        if issued.is_ok() {
            self.metrics.token_issued(grant_type.as_str());
        }
        issued
    }

    /// The grant's own steps, for an authenticated client allowed to use it.
    async fn run_grant(
        &self,
        client: &Client,
        grant: Grant,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, Error> {
        match grant {
            Grant::ClientCredentials { scope } => {
                grants::client_credentials::grant(self, client, scope, now).await
            }
            Grant::Password {
                username,
                password,
                scope,
            } => {
                let login = grants::password::Login {
                    username,
                    password,
                    ip,
                };
                grants::password::grant(self, client, login, scope, now).await
            }
            Grant::RefreshToken {
                refresh_token,
                scope,
            } => grants::refresh_token::grant(self, client, &refresh_token, scope, ip, now).await,
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                let exchange = grants::authorization_code::Exchange {
                    code,
                    redirect_uri,
                    code_verifier,
                    ip,
                };
                grants::authorization_code::grant(self, client, exchange, now).await
            }
        }
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
}
