//! What an operator types to register or change a client, and its parsing into the stored
//! row: one set of rules for the admin API and the CLI (names, grant types, scopes,
//! audience, redirect URIs, the public-client rule of RFC 6749 §4.4).

use super::ClientError;
use crate::domain::{
    Audience, ClientId, DisplayName, GrantType, GrantTypes, RedirectUri, RedirectUriError, Scope,
    SecretHash,
};
use crate::store::{Client, NewClient};

/// A client to register, as typed by an operator.
#[derive(Debug, Default)]
pub struct ClientSpec {
    /// Display name.
    pub name: String,
    /// Grant types, one name each.
    pub grant_types: Vec<String>,
    /// Allowed scopes, space-separated (may be empty).
    pub scopes: String,
    /// `aud` of its access tokens; `None` for the configured default.
    pub audience: Option<String>,
    /// A public client has no secret (password and refresh grants only).
    pub public: bool,
    /// May introspect tokens issued to other clients (a resource server).
    pub introspection: bool,
    /// Where authorization responses may go (authorization code grant).
    pub redirect_uris: Vec<String>,
    /// Where the browser may go after an RP-initiated logout.
    pub post_logout_redirect_uris: Vec<String>,
    /// A first-party client: its users are not asked for consent.
    pub first_party: bool,
}

/// Changes to a client; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ClientChanges {
    /// New display name.
    pub name: Option<String>,
    /// New grant types, one name each.
    pub grant_types: Option<Vec<String>>,
    /// New allowed scopes.
    pub scopes: Option<String>,
    /// New audience; `Some(None)` returns to the configured default.
    pub audience: Option<Option<String>>,
    /// Grant or withdraw the right to introspect other clients' tokens.
    pub introspection: Option<bool>,
    /// New redirect URIs (replacing the old ones).
    pub redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs (replacing the old ones).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Make it a first-party client or not.
    pub first_party: Option<bool>,
}

impl ClientChanges {
    /// `current` with these changes, parsed by the same rules as a new client.
    pub(super) fn apply(self, current: &Client) -> Result<Client, ClientError> {
        let public = current.secret_hash.is_none();
        Ok(Client {
            name: match self.name {
                Some(name) => DisplayName::parse(&name)?.into(),
                None => current.name.clone(),
            },
            grant_types: match self.grant_types {
                Some(names) => {
                    let grants = parse_grant_types(&names, false)?;
                    if public && grants.contains(GrantType::ClientCredentials) {
                        return Err(ClientError::PublicClientConflict);
                    }
                    grants
                }
                None => current.grant_types.clone(),
            },
            scopes: match self.scopes {
                Some(scopes) => Scope::parse(&scopes)?,
                None => current.scopes.clone(),
            },
            audience: match self.audience {
                Some(audience) => parse_audience(audience.as_deref())?,
                None => current.audience.clone(),
            },
            may_introspect: self.introspection.unwrap_or(current.may_introspect),
            redirect_uris: match self.redirect_uris {
                Some(uris) => parse_redirect_uris(&uris, ClientError::InvalidRedirectUri)?,
                None => current.redirect_uris.clone(),
            },
            post_logout_redirect_uris: match self.post_logout_redirect_uris {
                Some(uris) => {
                    parse_redirect_uris(&uris, ClientError::InvalidPostLogoutRedirectUri)?
                }
                None => current.post_logout_redirect_uris.clone(),
            },
            first_party: self.first_party.unwrap_or(current.first_party),
            ..current.clone()
        })
    }
}

/// Parses `spec` into the row to insert.
pub(in crate::oauth) fn new_client(
    id: ClientId,
    spec: ClientSpec,
    secret_hash: Option<SecretHash>,
) -> Result<NewClient, ClientError> {
    Ok(NewClient {
        id,
        name: DisplayName::parse(&spec.name)?.into(),
        secret_hash,
        grant_types: parse_grant_types(&spec.grant_types, spec.public)?,
        scopes: Scope::parse(&spec.scopes)?,
        audience: parse_audience(spec.audience.as_deref())?,
        may_introspect: spec.introspection,
        redirect_uris: parse_redirect_uris(&spec.redirect_uris, ClientError::InvalidRedirectUri)?,
        post_logout_redirect_uris: parse_redirect_uris(
            &spec.post_logout_redirect_uris,
            ClientError::InvalidPostLogoutRedirectUri,
        )?,
        first_party: spec.first_party,
    })
}

/// Most URIs in either list of a client.
const MAX_REDIRECT_URIS: usize = 20;

/// Each URI parsed, duplicates dropped, in the order given; `field` names a bad one. At
/// most `MAX_REDIRECT_URIS` may be given (the documented `maxItems`).
fn parse_redirect_uris(
    uris: &[String],
    field: fn(RedirectUriError) -> ClientError,
) -> Result<Vec<RedirectUri>, ClientError> {
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(field(RedirectUriError::TooMany(MAX_REDIRECT_URIS)));
    }
    let mut parsed: Vec<RedirectUri> = Vec::with_capacity(uris.len());
    for uri in uris {
        let uri = RedirectUri::parse(uri).map_err(field)?;
        if !parsed.contains(&uri) {
            parsed.push(uri);
        }
    }
    Ok(parsed)
}

fn parse_grant_types(names: &[String], public: bool) -> Result<GrantTypes, ClientError> {
    let grant_types = GrantTypes::from_names(names.iter().map(String::as_str))
        .map_err(|_| ClientError::InvalidGrantTypes)?;
    if public && grant_types.contains(GrantType::ClientCredentials) {
        return Err(ClientError::PublicClientCredentials);
    }
    Ok(grant_types)
}

fn parse_audience(audience: Option<&str>) -> Result<Option<String>, ClientError> {
    Ok(audience.map(Audience::parse).transpose()?.map(String::from))
}
