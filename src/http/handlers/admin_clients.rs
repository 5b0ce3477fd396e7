//! `/admin/clients`: list, get, create (the secret is shown once), update, rotate the secret
//! and delete clients (scope `admin`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::auth::AdminCaller;
use crate::http::error::{ApiError, ErrorResponse};
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::state::AppState;
use crate::oauth::ClientView;
use crate::oauth::{ClientChanges, ClientSpec, RegisteredClient};

/// A client as operators see it; never its secret or the secret's hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientResponse {
    /// Public identifier.
    client_id: String,
    /// Display name.
    name: String,
    /// A public client has no secret.
    public: bool,
    /// Grants the client may use.
    grant_types: Vec<&'static str>,
    /// Scopes it may request, space-separated.
    scope: String,
    /// `aud` of its access tokens; absent means the configured default.
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
    /// May introspect tokens issued to other clients (a resource server).
    introspection: bool,
    /// Where authorization responses may go (authorization code grant).
    redirect_uris: Vec<String>,
    /// Where the browser may go after logout (`/end-session`).
    post_logout_redirect_uris: Vec<String>,
    /// A first-party client: its users are not asked for consent.
    first_party: bool,
    /// When it was registered.
    created_at: DateTime<Utc>,
}

impl From<&ClientView> for ClientResponse {
    fn from(client: &ClientView) -> Self {
        Self {
            client_id: client.id.to_string(),
            name: client.name.clone(),
            public: client.public,
            grant_types: client
                .grant_types
                .iter()
                .map(|grant| grant.as_str())
                .collect(),
            scope: client.scopes.to_string(),
            audience: client.audience.clone(),
            introspection: client.may_introspect,
            redirect_uris: uri_strings(&client.redirect_uris),
            post_logout_redirect_uris: uri_strings(&client.post_logout_redirect_uris),
            first_party: client.first_party,
            created_at: client.created_at,
        }
    }
}

fn uri_strings(uris: &[crate::domain::RedirectUri]) -> Vec<String> {
    uris.iter().map(|uri| uri.as_str().to_owned()).collect()
}

/// A client with its secret, answered once: on creation and on secret rotation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClientWithSecret {
    #[serde(flatten)]
    client: ClientResponse,
    /// The secret; absent for a public client. sigil keeps only its hash: store it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

/// A client to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateClientRequest {
    /// Display name, 1 to 200 characters.
    #[schema(value_type = crate::http::schema::DisplayName)]
    name: String,
    /// Grants: `client_credentials`, `password`, `refresh_token`, `authorization_code`.
    #[schema(value_type = Vec<crate::http::schema::GrantType>, min_items = 1)]
    grant_types: Vec<String>,
    /// Scopes it may request, space-separated (default none).
    #[serde(default)]
    #[schema(value_type = crate::http::schema::Scope)]
    scope: String,
    /// `aud` of its access tokens (default: the configured audience).
    #[schema(value_type = Option<crate::http::schema::Audience>)]
    audience: Option<String>,
    /// A public client gets no secret and cannot use `client_credentials` (default false).
    #[serde(default)]
    public: bool,
    /// May introspect tokens issued to other clients, for resource servers (default false;
    /// every confidential client may introspect its own).
    #[serde(default)]
    introspection: bool,
    /// Redirect URIs for the authorization code grant, matched exactly (an `http` loopback
    /// URI on any port, RFC 8252 §7.3).
    #[serde(default)]
    #[schema(value_type = Vec<crate::http::schema::RedirectUri>, max_items = 20)]
    redirect_uris: Vec<String>,
    /// Where `/end-session` may send the browser afterwards (OIDC RP-Initiated Logout),
    /// matched like redirect URIs.
    #[serde(default)]
    #[schema(value_type = Vec<crate::http::schema::RedirectUri>, max_items = 20)]
    post_logout_redirect_uris: Vec<String>,
    /// A first-party client: its users are not asked for consent (default false).
    #[serde(default)]
    first_party: bool,
}

/// Changes to a client; absent fields stay as they are, `"audience": null` restores the
/// default audience.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateClientRequest {
    /// New display name.
    #[schema(value_type = Option<crate::http::schema::DisplayName>)]
    name: Option<String>,
    /// New grant types.
    #[schema(value_type = Option<Vec<crate::http::schema::GrantType>>, min_items = 1)]
    grant_types: Option<Vec<String>>,
    /// New scopes, space-separated.
    #[schema(value_type = Option<crate::http::schema::Scope>)]
    scope: Option<String>,
    /// New audience, or `null` for the default.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<crate::http::schema::Audience>)]
    audience: Option<Option<String>>,
    /// Grant or withdraw the right to introspect other clients' tokens.
    introspection: Option<bool>,
    /// New redirect URIs, replacing the old ones.
    #[schema(value_type = Option<Vec<crate::http::schema::RedirectUri>>, max_items = 20)]
    redirect_uris: Option<Vec<String>>,
    /// New post-logout redirect URIs, replacing the old ones.
    #[schema(value_type = Option<Vec<crate::http::schema::RedirectUri>>, max_items = 20)]
    post_logout_redirect_uris: Option<Vec<String>>,
    /// Make it a first-party client (no consent screen) or not.
    first_party: Option<bool>,
}

/// Every client, oldest first.
#[utoipa::path(get, path = "/admin/clients", tag = "admin", security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<ClientResponse>), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_admin_clients(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
) -> Result<Json<Vec<ClientResponse>>, ApiError> {
    let clients = state.sigil.clients.list(&admin, state.clock.now()).await?;
    Ok(Json(clients.iter().map(ClientResponse::from).collect()))
}

/// Registers a client (`201`); the answer carries its secret, shown only this once.
#[utoipa::path(post, path = "/admin/clients", tag = "admin", request_body = CreateClientRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = ClientWithSecret, links(
            ("GetClient" = (operation_id = "get_admin_client", parameters(("id" = "$response.body#/client_id")))),
            ("UpdateClient" = (operation_id = "patch_admin_client", parameters(("id" = "$response.body#/client_id")))),
            ("RotateSecret" = (operation_id = "post_admin_client_secret", parameters(("id" = "$response.body#/client_id")))),
            ("DeleteClient" = (operation_id = "delete_admin_client", parameters(("id" = "$response.body#/client_id")))))),
        (status = 400, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_admin_clients(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiJson(request): ApiJson<CreateClientRequest>,
) -> Result<(StatusCode, Json<ClientWithSecret>), ApiError> {
    let spec = ClientSpec {
        name: request.name,
        grant_types: request.grant_types,
        scopes: request.scope,
        audience: request.audience,
        public: request.public,
        introspection: request.introspection,
        redirect_uris: request.redirect_uris,
        post_logout_redirect_uris: request.post_logout_redirect_uris,
        first_party: request.first_party,
    };
    let RegisteredClient { client, secret } = state
        .sigil
        .clients
        .register(&admin, spec, state.clock.now())
        .await?;
    let body = ClientWithSecret {
        client: ClientResponse::from(&client),
        client_secret: secret.map(|secret| secret.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// One client; `404` when unknown.
#[utoipa::path(get, path = "/admin/clients/{id}", tag = "admin",
    params(("id" = String, Path, description = "client id")), security(("bearer" = ["admin"])),
    responses((status = 200, body = ClientResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_admin_client(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientResponse>, ApiError> {
    let client = state
        .sigil
        .clients
        .find(&admin, &id, state.clock.now())
        .await?;
    Ok(Json(ClientResponse::from(&client)))
}

/// Changes a client's name, grants, scopes or audience; the next token request sees them.
#[utoipa::path(patch, path = "/admin/clients/{id}", tag = "admin",
    request_body = UpdateClientRequest, params(("id" = String, Path, description = "client id")),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = ClientResponse), (status = 400, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse, description = "a public client cannot be given client_credentials")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn patch_admin_client(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateClientRequest>,
) -> Result<Json<ClientResponse>, ApiError> {
    let changes = ClientChanges {
        name: request.name,
        grant_types: request.grant_types,
        scopes: request.scope,
        audience: request.audience,
        introspection: request.introspection,
        redirect_uris: request.redirect_uris,
        post_logout_redirect_uris: request.post_logout_redirect_uris,
        first_party: request.first_party,
    };
    let client = state
        .sigil
        .clients
        .update(&admin, &id, changes, state.clock.now())
        .await?;
    Ok(Json(ClientResponse::from(&client)))
}

/// Gives a confidential client a new secret (shown once); the old one stops working at once.
#[utoipa::path(post, path = "/admin/clients/{id}/secret", tag = "admin",
    params(("id" = String, Path, description = "client id")), security(("bearer" = ["admin"])),
    responses((status = 200, body = ClientWithSecret), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse, description = "a public client has no secret")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_admin_client_secret(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientWithSecret>, ApiError> {
    let RegisteredClient { client, secret } = state
        .sigil
        .clients
        .rotate_secret(&admin, &id, state.clock.now())
        .await?;
    Ok(Json(ClientWithSecret {
        client: ClientResponse::from(&client),
        client_secret: secret.map(|secret| secret.expose().to_owned()),
    }))
}

/// Deletes a client (`204`): its next token request fails; `404` when unknown.
#[utoipa::path(delete, path = "/admin/clients/{id}", tag = "admin",
    params(("id" = String, Path, description = "client id")), security(("bearer" = ["admin"])),
    responses((status = 204), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn delete_admin_client(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    state.sigil.clients.delete(&admin, &id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}
