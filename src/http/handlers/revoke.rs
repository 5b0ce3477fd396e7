//! `POST /revoke`: RFC 7009 token revocation.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::error::TokenError;
use crate::http::extract::ClientForm;
use crate::http::state::AppState;
use crate::oauth::Error;

/// Revokes a refresh token's whole family, or the session of an access token. `200` for
/// unknown or foreign tokens too (RFC 7009 §2.2), so nothing is learned from the answer.
#[tracing::instrument(skip_all)]
pub(crate) async fn post_revoke(
    State(state): State<AppState>,
    ClientForm { client, mut form }: ClientForm,
) -> Result<StatusCode, TokenError> {
    let token = form
        .take("token")
        .ok_or(Error::InvalidRequest("token is required"))?;
    state
        .issuer
        .revoke(&client, &token, state.clock.now())
        .await?;
    Ok(StatusCode::OK)
}
