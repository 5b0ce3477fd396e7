//! RFC 6749 §4.4: a confidential client gets an access token for itself. No refresh token.

use chrono::{DateTime, Utc};

use crate::domain::{GrantType, Scope};
use crate::oauth::{Error, IssuedTokens, TokenIssuer};
use crate::store::Client;

/// Issues an access token whose subject is the client itself.
pub(in crate::oauth) fn grant(
    issuer: &TokenIssuer,
    client: &Client,
    requested: Option<Scope>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, Error> {
    // RFC 6749 §4.4: only confidential clients may use this grant.
    if client.secret_hash.is_none() {
        return Err(Error::UnauthorizedClient);
    }
    TokenIssuer::ensure_grant_allowed(client, GrantType::ClientCredentials)?;
    let scope = TokenIssuer::narrow_scope(requested, &client.scopes)?;
    let (access_token, expires_in) =
        issuer.mint_access_token(client, client.id.as_str(), &scope, None, now)?;
    Ok(IssuedTokens {
        access_token,
        expires_in,
        scope,
        refresh_token: None,
        id_token: None,
    })
}
