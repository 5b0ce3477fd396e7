//! The vocabulary of a token request, as every transport hands it to `TokenIssuer::issue`:
//! who asks (`ClientAuthentication`), for which grant (`Grant`), and what comes back
//! (`IssuedTokens`). Parsed at the edge; nothing here reads a socket.

use std::net::IpAddr;

use secrecy::SecretString;

use super::Error;
use crate::domain::{AuthorizationCode, ClientSecret, GrantType, RefreshToken, Scope};

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
