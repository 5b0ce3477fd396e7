//! `POST /introspect`: RFC 7662 token introspection.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::error::TokenError;
use crate::http::extract::ClientForm;
use crate::http::state::AppState;
use crate::oauth::Error;

/// Whether a token is usable right now, for a confidential client. `{"active": false}` for
/// expired, revoked, forged or unknown tokens, and for tokens of deleted users.
#[tracing::instrument(skip_all)]
pub(crate) async fn post_introspect(
    State(state): State<AppState>,
    ClientForm { client, mut form }: ClientForm,
) -> Result<impl IntoResponse, TokenError> {
    let token = form
        .take("token")
        .ok_or(Error::InvalidRequest("token is required"))?;
    let answer = state
        .issuer
        .introspect(&client, &token, state.clock.now())
        .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(answer)))
}
