//! `POST /logout`: end a login session, or all of a user's sessions.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::error::TokenError;
use crate::http::extract::ClientForm;
use crate::http::state::AppState;
use crate::oauth::Error;

/// Revokes the family of `refresh_token`; with `all=true`, every family of its user. `204`
/// on success, `400 invalid_grant` for an unknown or foreign refresh token.
#[tracing::instrument(skip_all)]
pub(crate) async fn post_logout(
    State(state): State<AppState>,
    ClientForm { client, mut form }: ClientForm,
) -> Result<StatusCode, TokenError> {
    let token = form
        .take("refresh_token")
        .ok_or(Error::InvalidRequest("refresh_token is required"))?;
    let all = match form.take("all").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::InvalidRequest("all must be true or false").into()),
    };
    state
        .issuer
        .logout(&client, &token, all, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
