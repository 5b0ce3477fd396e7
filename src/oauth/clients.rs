//! Client management for the admin API and the CLI: registration (the secret is returned
//! once), updates, secret rotation and deletion. Input is parsed here, so both front ends
//! apply the same rules.

use crate::domain::{
    Audience, AudienceError, ClientId, ClientName, ClientNameError, ClientSecret, GrantType,
    GrantTypes, Scope, ScopeError, SecretHash,
};
use crate::store::{self, Client, NewClient, Store};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The name is empty, too long or has control characters.
    #[error("name: {0}")]
    InvalidName(#[from] ClientNameError),
    /// A grant type is unknown, or none was given.
    #[error("grant_types: expected one or more of client_credentials, password, refresh_token")]
    InvalidGrantTypes,
    /// The scope list is malformed.
    #[error("scope: {0}")]
    InvalidScope(#[from] ScopeError),
    /// The audience is malformed.
    #[error("audience: {0}")]
    InvalidAudience(#[from] AudienceError),
    /// RFC 6749 §4.4: client_credentials needs a confidential client.
    #[error("a public client cannot use client_credentials (RFC 6749 §4.4)")]
    PublicClientCredentials,
    /// A public client has no secret to rotate.
    #[error("a public client has no secret")]
    PublicClient,
    /// No client has this id.
    #[error("no client has this id")]
    NotFound,
    /// The id is taken.
    #[error("a client with this id already exists")]
    IdTaken,
    /// The database is unreachable.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Anything else.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<store::Error> for ClientError {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::Conflict => Self::IdTaken,
            store::Error::Unavailable(_) => Self::Unavailable,
            other => Self::Internal(other.into()),
        }
    }
}

/// A client to register, as typed by an operator.
#[derive(Debug, Default)]
pub struct ClientSpec {
    /// Display name.
    pub name: String,
    /// Grant types, comma- or space-separated.
    pub grant_types: String,
    /// Allowed scopes, space-separated (may be empty).
    pub scopes: String,
    /// `aud` of its access tokens; `None` for the configured default.
    pub audience: Option<String>,
    /// A public client has no secret (password and refresh grants only).
    pub public: bool,
    /// May introspect tokens issued to other clients (a resource server).
    pub introspection: bool,
}

/// Changes to a client; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ClientChanges {
    /// New display name.
    pub name: Option<String>,
    /// New grant types, comma- or space-separated.
    pub grant_types: Option<String>,
    /// New allowed scopes.
    pub scopes: Option<String>,
    /// New audience; `Some(None)` returns to the configured default.
    pub audience: Option<Option<String>>,
    /// Grant or withdraw the right to introspect other clients' tokens.
    pub introspection: Option<bool>,
}

/// A registered client and, for a confidential one, its secret: shown this once.
#[derive(Debug)]
pub struct RegisteredClient {
    /// The stored client.
    pub client: Client,
    /// The generated secret; `None` for a public client.
    pub secret: Option<ClientSecret>,
}

/// Registers a client with a generated id (or `id` when given) and a generated secret.
#[tracing::instrument(skip_all)]
pub async fn register_client(
    store: &Store,
    spec: ClientSpec,
    id: Option<ClientId>,
    secret: Option<ClientSecret>,
) -> Result<RegisteredClient, ClientError> {
    let public = spec.public;
    let secret = (!public).then(|| secret.unwrap_or_else(ClientSecret::generate));
    let id = id.unwrap_or_else(ClientId::generate);
    let new = new_client(id, spec, secret.as_ref().map(ClientSecret::hash))?;
    let client = store.insert_client(&new).await?;
    tracing::info!(client_id = %client.id, public, "client registered");
    Ok(RegisteredClient { client, secret })
}

/// Parses `spec` into the row to insert.
pub(super) fn new_client(
    id: ClientId,
    spec: ClientSpec,
    secret_hash: Option<SecretHash>,
) -> Result<NewClient, ClientError> {
    Ok(NewClient {
        id,
        name: ClientName::parse(&spec.name)?.into(),
        secret_hash,
        grant_types: parse_grant_types(&spec.grant_types, spec.public)?,
        scopes: Scope::parse(&spec.scopes)?,
        audience: parse_audience(spec.audience.as_deref())?,
        may_introspect: spec.introspection,
    })
}

/// Applies `changes` to the client `id`; the next token request sees them.
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn update_client(
    store: &Store,
    id: &ClientId,
    changes: ClientChanges,
) -> Result<Client, ClientError> {
    let current = store.find_client(id).await?.ok_or(ClientError::NotFound)?;
    let public = current.secret_hash.is_none();
    let grant_types = match changes.grant_types {
        Some(text) => parse_grant_types(&text, public)?,
        None => current.grant_types.clone(),
    };
    let client = Client {
        name: match changes.name {
            Some(name) => ClientName::parse(&name)?.into(),
            None => current.name.clone(),
        },
        grant_types,
        scopes: match changes.scopes {
            Some(scopes) => Scope::parse(&scopes)?,
            None => current.scopes.clone(),
        },
        audience: match changes.audience {
            Some(audience) => parse_audience(audience.as_deref())?,
            None => current.audience.clone(),
        },
        may_introspect: changes.introspection.unwrap_or(current.may_introspect),
        ..current.as_ref().clone()
    };
    if !store.update_client(&client).await? {
        return Err(ClientError::NotFound);
    }
    tracing::info!(client_id = %id, "client updated");
    Ok(client)
}

/// Gives a confidential client a new secret (returned with the client, to be shown once);
/// the old one stops working at once.
#[tracing::instrument(skip_all, fields(client_id = %id))]
pub async fn rotate_client_secret(
    store: &Store,
    id: &ClientId,
) -> Result<RegisteredClient, ClientError> {
    let client = store.find_client(id).await?.ok_or(ClientError::NotFound)?;
    if client.secret_hash.is_none() {
        return Err(ClientError::PublicClient);
    }
    let secret = ClientSecret::generate();
    if !store.update_client_secret(id, &secret.hash()).await? {
        return Err(ClientError::NotFound);
    }
    tracing::info!(client_id = %id, "client secret rotated");
    let client = Client {
        secret_hash: Some(secret.hash()),
        ..client.as_ref().clone()
    };
    Ok(RegisteredClient {
        client,
        secret: Some(secret),
    })
}

fn parse_grant_types(text: &str, public: bool) -> Result<GrantTypes, ClientError> {
    let grant_types = GrantTypes::parse(text).map_err(|_| ClientError::InvalidGrantTypes)?;
    if public && grant_types.contains(GrantType::ClientCredentials) {
        return Err(ClientError::PublicClientCredentials);
    }
    Ok(grant_types)
}

fn parse_audience(audience: Option<&str>) -> Result<Option<String>, ClientError> {
    Ok(audience.map(Audience::parse).transpose()?.map(String::from))
}
