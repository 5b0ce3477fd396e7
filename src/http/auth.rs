//! Bearer authentication for endpoints that take sigil's own access tokens.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::client_ip::ClientIp;
use super::error::ApiError;
use super::state::AppState;
use crate::oauth::{self, AccessToken, Admin};

/// A caller allowed the admin API today: a valid token with scope `admin` whose principal
/// still has that right (see `TokenIssuer::authorize_admin`), carrying the `Admin` capability the admin use cases take. Rejections follow RFC 6750 §3:
/// `401 invalid_token` for a missing, bad or dead token, `403 insufficient_scope` without
/// the right.
#[derive(Debug)]
pub(super) struct AdminCaller(pub(super) Admin);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let BearerCaller(token) = BearerCaller::from_request_parts(parts, state).await?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        match state
            .sigil
            .tokens
            .authorize_admin(&token, ip, state.clock.now())
            .await
        {
            Ok(admin) => Ok(Self(admin)),
            Err(error) => Err(error.into()),
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
            .sigil
            .tokens
            .verify_access_token(token, state.clock.now())
            .map_err(|_| invalid_token())?;
        Ok(Self(token))
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    oauth::bearer_token(value)
}

/// RFC 6750 §3.1: `401` with `WWW-Authenticate: Bearer error="invalid_token"`, from the
/// error table.
pub(super) fn invalid_token() -> ApiError {
    oauth::Error::InvalidToken.into()
}
