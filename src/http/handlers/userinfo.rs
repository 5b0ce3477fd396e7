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
