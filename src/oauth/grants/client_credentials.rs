//! RFC 6749 §4.4: a confidential client gets an access token for itself. No refresh token.

use chrono::{DateTime, Utc};

use crate::domain::Scope;
use crate::oauth::{Error, IssuedTokens, TokenIssuer};
use crate::store::Client;

/// Issues an access token whose subject is the client itself (the caller checked that the
/// client is confidential and allowed this grant).
pub(in crate::oauth) fn grant(
    issuer: &TokenIssuer,
    client: &Client,
    requested: Option<Scope>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, Error> {
    let scope = TokenIssuer::narrow_scope(requested, &client.scopes)?;
    let jti = TokenIssuer::new_jti();
    let (access_token, expires_in) =
        issuer.mint_access_token(client, client.id.as_str(), &scope, (None, &jti), now)?;
    Ok(IssuedTokens {
        access_token,
        expires_in,
        scope,
        refresh_token: None,
        id_token: None,
    })
}
