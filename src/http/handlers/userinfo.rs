//! `GET /userinfo` and `GET /me`: OIDC UserInfo.

use axum::Json;
use axum::extract::State;

use crate::http::auth::{BearerCaller, invalid_token};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;

use crate::oauth::UserInfo;

/// OIDC Core §5.3 UserInfo claims.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserInfoResponse {
    /// The user's id.
    sub: String,
    /// The user's email address (login name).
    email: String,
    /// Whether the address was verified.
    email_verified: bool,
    /// The display name; absent when none is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl From<UserInfo> for UserInfoResponse {
    fn from(info: UserInfo) -> Self {
        Self {
            sub: info.sub,
            email: info.email,
            email_verified: info.email_verified,
            name: info.name,
        }
    }
}

/// The user behind a live user access token: `sub`, `email`, `email_verified` and `name`
/// (when a display name is set). `401` with
/// `WWW-Authenticate: Bearer error="invalid_token"` for forged, expired or revoked tokens,
/// client_credentials tokens and tokens of deleted or disabled users.
#[utoipa::path(get, path = "/userinfo", tag = "oidc", security(("bearer" = [])),
    responses((status = 200, body = UserInfoResponse), (status = 401, body = crate::http::error::ErrorResponse),
        (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_userinfo(
    State(state): State<AppState>,
    BearerCaller(token): BearerCaller,
) -> Result<Json<UserInfoResponse>, ApiError> {
    let info = state
        .sigil
        .tokens
        .userinfo(&token, state.clock.now())
        .await
        .map_err(ApiError::from)?;
    info.map(|info| Json(UserInfoResponse::from(info)))
        .ok_or_else(invalid_token)
}

/// The same as `/userinfo`, for dashboards.
#[utoipa::path(get, path = "/me", tag = "oidc", security(("bearer" = [])),
    responses((status = 200, body = UserInfoResponse), (status = 401, body = crate::http::error::ErrorResponse),
        (status = 503, body = crate::http::error::ErrorResponse)))]
pub(crate) async fn get_me(
    state: State<AppState>,
    caller: BearerCaller,
) -> Result<Json<UserInfoResponse>, ApiError> {
    get_userinfo(state, caller).await
}
