//! JWT claim sets sigil signs.

use serde::Serialize;

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The `typ` header of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// Access-token claims per RFC 9068 §2.2.
#[derive(Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    /// Issuer: exactly the configured issuer URL.
    pub iss: &'a str,
    /// Subject: the user id, or the client id for `client_credentials`.
    pub sub: &'a str,
    /// Audience: the client's configured audience or the default.
    pub aud: &'a str,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued-at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: &'a str,
    /// Granted scope, space-delimited; absent when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user's session (refresh family); absent for client_credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
}

/// OIDC Core §2 ID-token claims.
#[derive(Debug, Serialize)]
pub struct IdTokenClaims<'a> {
    /// Issuer.
    pub iss: &'a str,
    /// The user id.
    pub sub: &'a str,
    /// The client id.
    pub aud: &'a str,
    /// Issued-at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// When the user entered their password.
    pub auth_time: i64,
    /// The session.
    pub sid: &'a str,
    /// The `nonce` of the authorization request (authorization code grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    /// OIDC Core §3.1.3.6: the left half of the access token's SHA-256, base64url.
    pub at_hash: String,
    /// The user's email address, with scope `email` (OIDC Core §5.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    /// Whether that address was verified, with scope `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's display name, with scope `profile` when one is set (OIDC Core §5.4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
}
