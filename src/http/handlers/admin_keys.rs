//! `/admin/keys`: list, rotate and revoke signing keys (scope `admin`).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::auth::AdminCaller;
use crate::http::error::ApiError;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::state::AppState;
use crate::oauth::KeyView;

/// One key as operators see it; never any key material.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyResponse {
    kid: String,
    alg: String,
    state: &'static str,
    published_at: DateTime<Utc>,
    activated_at: Option<DateTime<Utc>>,
    retired_at: Option<DateTime<Utc>>,
    removed_at: Option<DateTime<Utc>>,
    revoked: bool,
}

impl From<KeyView> for KeyResponse {
    fn from(key: KeyView) -> Self {
        Self {
            kid: key.kid,
            alg: key.alg.to_string(),
            state: key.state.as_str(),
            published_at: key.published_at,
            activated_at: key.activated_at,
            retired_at: key.retired_at,
            removed_at: key.removed_at,
            revoked: key.revoked,
        }
    }
}

/// `?force=true` on rotate.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RotateQuery {
    /// Rotate even if the next key is younger than two JWKS cache lifetimes.
    #[serde(default)]
    force: bool,
}

/// Every key with its state and lifecycle times, oldest first.
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<KeyResponse>), (status = 401, body = crate::http::error::ErrorResponse),
        (status = 403, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_admin_keys(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
) -> Result<Json<Vec<KeyResponse>>, ApiError> {
    let keys = state.sigil.keys.list(&admin, state.clock.now()).await?;
    Ok(Json(keys.into_iter().map(KeyResponse::from).collect()))
}

/// Promotes the next key now and publishes a fresh one; `409` while the next key is younger
/// than two JWKS cache lifetimes, unless `force=true`.
#[utoipa::path(post, path = "/admin/keys/rotate", tag = "admin", params(RotateQuery),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<KeyResponse>), (status = 400, body = crate::http::error::ErrorResponse),
        (status = 401, body = crate::http::error::ErrorResponse), (status = 403, body = crate::http::error::ErrorResponse), (status = 409, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_admin_keys_rotate(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiQuery(query): ApiQuery<RotateQuery>,
) -> Result<Json<Vec<KeyResponse>>, ApiError> {
    let now = state.clock.now();
    let keys = state.sigil.keys.rotate(&admin, query.force, now).await?;
    Ok(Json(keys.into_iter().map(KeyResponse::from).collect()))
}

/// Emergency revocation: the key leaves the JWKS at once; `404` for an unknown kid.
#[utoipa::path(post, path = "/admin/keys/{kid}/revoke", tag = "admin",
    params(("kid" = String, Path, description = "key id")), security(("bearer" = ["admin"])),
    responses((status = 200, body = Vec<KeyResponse>), (status = 401, body = crate::http::error::ErrorResponse),
        (status = 403, body = crate::http::error::ErrorResponse), (status = 404, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all, fields(kid = %kid))]
pub(crate) async fn post_admin_key_revoke(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiPath(kid): ApiPath<String>,
) -> Result<Json<Vec<KeyResponse>>, ApiError> {
    let now = state.clock.now();
    let revoked = state.sigil.keys.revoke(&admin, &kid, now).await?;
    Ok(Json(
        revoked.ring.into_iter().map(KeyResponse::from).collect(),
    ))
}
