//! RFC 6749 §4.4: a confidential client gets an access token for itself. No refresh token.

use chrono::{DateTime, Utc};

use crate::domain::{GrantType, Scope};
use crate::oauth::events::{Issued, token_issued};
use crate::oauth::{Error, IssuedTokens, TokenIssuer};
use crate::store::Client;

/// Issues an access token whose subject is the client itself (the caller checked that the
/// client is confidential and allowed this grant). With `--events-client-credentials` its
/// `token.issued` is written first: the token is answered only once its event is committed.
pub(in crate::oauth) async fn grant(
    issuer: &TokenIssuer,
    client: &Client,
    requested: Option<Scope>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, Error> {
    let scope = TokenIssuer::narrow_scope(requested, &client.scopes)?;
    let jti = TokenIssuer::new_jti();
    let (access_token, expires_in) =
        issuer.mint_access_token(client, client.id.as_str(), &scope, (None, &jti), now)?;
    if issuer.settings.events_client_credentials {
        let issued = Issued {
            grant: GrantType::ClientCredentials,
            user_id: None,
            client_id: client.id.as_str(),
            session_id: None,
            jti: &jti,
            exp: issuer.access_expiry(now),
        };
        issuer.store.emit(&token_issued(&issued, now)).await?;
    }
    Ok(IssuedTokens {
        access_token,
        expires_in,
        scope,
        refresh_token: None,
        id_token: None,
    })
}
