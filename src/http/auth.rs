//! Bearer authentication for endpoints that take sigil's own access tokens.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};

use super::error::ApiError;
use super::state::AppState;
use crate::oauth::{AccessToken, Actor, AdminDenied};

/// A caller allowed the admin API today: a valid token with scope `admin` whose principal
/// still has that right (see `TokenIssuer::authorize_admin`). Rejections follow RFC 6750 §3:
/// `401 invalid_token` for a missing, bad or dead token, `403 insufficient_scope` without
/// the right.
#[derive(Debug)]
pub(super) struct AdminCaller(pub(super) Actor);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let BearerCaller(token) = BearerCaller::from_request_parts(parts, state).await?;
        match state
            .issuer
            .authorize_admin(&token, state.clock.now())
            .await
        {
            Ok(actor) => Ok(Self(actor)),
            Err(AdminDenied::InvalidToken) => Err(invalid_token()),
            Err(AdminDenied::InsufficientScope) => {
                let challenge = "Bearer error=\"insufficient_scope\", scope=\"admin\"";
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "this endpoint needs scope admin",
                )
                .with_challenge(HeaderValue::from_static(challenge)))
            }
            Err(AdminDenied::Failed(error)) => Err(error.into()),
        }
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
