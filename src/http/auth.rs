//! Bearer authentication for endpoints that take sigil's own access tokens.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};

use super::error::ApiError;
use super::state::AppState;
use crate::oauth::{ADMIN_SCOPE, AccessToken};

/// A caller holding a live access token with scope `admin`. Rejections follow RFC 6750 §3:
/// `401 invalid_token` for a missing or bad token, `403 insufficient_scope` without `admin`.
/// Live means the session, user or client behind the token still exists and is enabled:
/// disabling an admin or deleting an admin client ends its admin access at once, not when
/// its tokens expire.
#[derive(Debug)]
pub(super) struct AdminCaller(pub(super) AccessToken);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let BearerCaller(token) = BearerCaller::from_request_parts(parts, state).await?;
        if !token.scope.contains(ADMIN_SCOPE) {
            let challenge = "Bearer error=\"insufficient_scope\", scope=\"admin\"";
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this endpoint needs scope admin",
            )
            .with_challenge(HeaderValue::from_static(challenge)));
        }
        if !state.issuer.is_live(&token, state.clock.now()).await? {
            return Err(invalid_token());
        }
        Ok(Self(token))
    }
}

/// A caller holding a validly signed, unexpired sigil access token (liveness is checked by
/// the handler: sessions can be revoked before tokens expire).
#[derive(Debug)]
pub(super) struct BearerCaller(pub(super) AccessToken);

impl FromRequestParts<AppState> for BearerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or_else(invalid_token)?;
        let token = state
            .issuer
            .verify_access_token(token, state.clock.now())
            .map_err(|_| invalid_token())?;
        Ok(Self(token))
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// RFC 6750 §3.1: `401` with `WWW-Authenticate: Bearer error="invalid_token"`.
pub(super) fn invalid_token() -> ApiError {
    let challenge = HeaderValue::from_static("Bearer error=\"invalid_token\"");
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the access token is missing, invalid or expired",
    )
    .with_challenge(challenge)
}
