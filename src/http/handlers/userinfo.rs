//! `GET /userinfo` and `GET /me`: OIDC UserInfo.

use axum::Json;
use axum::extract::State;

use crate::http::auth::{BearerCaller, invalid_token};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::oauth::UserInfo;

/// The user behind a live user access token: `sub`, `email`. `401` with
/// `WWW-Authenticate: Bearer error="invalid_token"` for forged, expired or revoked tokens,
/// client_credentials tokens and tokens of deleted or disabled users.
#[utoipa::path(get, path = "/userinfo", tag = "oidc", security(("bearer" = [])),
    responses((status = 200, body = UserInfo), (status = 401, body = crate::http::error::ErrorResponse),
        (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_userinfo(
    State(state): State<AppState>,
    BearerCaller(token): BearerCaller,
) -> Result<Json<UserInfo>, ApiError> {
    let info = state
        .issuer
        .userinfo(&token, state.clock.now())
        .await
        .map_err(ApiError::from)?;
    info.map(Json).ok_or_else(invalid_token)
}

/// The same as `/userinfo`, for dashboards.
#[utoipa::path(get, path = "/me", tag = "oidc", security(("bearer" = [])),
    responses((status = 200, body = UserInfo), (status = 401, body = crate::http::error::ErrorResponse),
        (status = 503, body = crate::http::error::ErrorResponse)))]
pub(crate) async fn get_me(
    state: State<AppState>,
    caller: BearerCaller,
) -> Result<Json<UserInfo>, ApiError> {
    get_userinfo(state, caller).await
}
