//! Token issuance: the grant logic of RFC 6749, free of HTTP.
//!
//! Shared steps live here once: client authentication, scope narrowing and access-token
//! minting. `grants/` holds only what differs per grant. Callers pass `now`, so tests never
//! sleep. Imports `store` and `keys`, never `axum`.

mod bearer;
pub mod claims;
mod error;
mod grants;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use bearer::{AccessToken, InvalidToken};
pub use error::Error;

use crate::domain::{ClientId, ClientSecret, GrantType, Scope};
use crate::keys::KeyRing;
use crate::store::{Client, Store};
use claims::{ACCESS_TOKEN_TYP, AccessTokenClaims};

/// Token settings, from `Config`.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// `iss` of every token: exactly the configured issuer URL.
    pub issuer: String,
    /// `aud` for clients without an audience of their own.
    pub default_audience: String,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
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

/// The grant-specific part of a token request.
#[derive(Debug)]
pub enum Grant {
    /// RFC 6749 §4.4.
    ClientCredentials {
        /// Requested scope; `None` means everything the client is allowed.
        scope: Option<Scope>,
    },
}

/// A parsed token request.
#[derive(Debug)]
pub struct TokenRequest {
    /// Who asks.
    pub client: ClientAuthentication,
    /// What for.
    pub grant: Grant,
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
}

/// Issues tokens; cheap to clone.
#[derive(Clone)]
pub struct TokenIssuer {
    store: Store,
    keys: Arc<KeyRing>,
    settings: Arc<IssuerSettings>,
}

impl TokenIssuer {
    /// Wires the issuer to its store and key ring.
    pub fn new(store: Store, keys: Arc<KeyRing>, settings: IssuerSettings) -> Self {
        Self {
            store,
            keys,
            settings: Arc::new(settings),
        }
    }

    /// Handles one token request at time `now`.
    #[tracing::instrument(skip_all, fields(client_id = %request.client.client_id))]
    pub async fn issue(
        &self,
        request: TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<IssuedTokens, Error> {
        let client = self.authenticate_client(&request.client).await?;
        match request.grant {
            Grant::ClientCredentials { scope } => {
                grants::client_credentials::grant(self, &client, scope, now)
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

    /// `unauthorized_client` unless the client was registered for `grant`.
    fn ensure_grant_allowed(client: &Client, grant: GrantType) -> Result<(), Error> {
        if client.grant_types.contains(grant) {
            Ok(())
        } else {
            Err(Error::UnauthorizedClient)
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

    /// Signs an RFC 9068 access token for `subject` with the current key.
    fn mint_access_token(
        &self,
        client: &Client,
        subject: &str,
        scope: &Scope,
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
            exp: now.timestamp().saturating_add_unsigned(ttl),
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: client.id.as_str(),
            scope: (!scope.is_empty()).then(|| scope.to_string()),
        };
        let payload = serde_json::to_vec(&claims).map_err(|e| Error::Internal(e.into()))?;
        let token = self
            .keys
            .sign(ACCESS_TOKEN_TYP, &payload)
            .map_err(Error::Internal)?;
        Ok((token, ttl))
    }
}
