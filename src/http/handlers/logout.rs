//! `POST /logout`: end a login session, or all of a user's sessions.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::client_ip::ClientIp;
use crate::http::error::TokenError;
use crate::http::extract::ClientForm;
use crate::http::state::AppState;
use crate::oauth::Error;

/// The form of `/logout`; parsing is `ClientForm`'s, this type describes it for the OpenAPI
/// document.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document only")]
pub(crate) struct LogoutForm {
    /// A refresh token of the session to end.
    #[schema(min_length = 1)]
    refresh_token: String,
    /// `true` ends every session of the token's user (default `false`).
    #[schema(nullable = false)]
    all: Option<bool>,
    /// `client_secret_post` and public clients: the client id.
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// `client_secret_post`: the client secret.
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// Revokes the family of `refresh_token`; with `all=true`, every family of its user. `204`
/// on success, `400 invalid_grant` for an unknown or foreign refresh token.
#[utoipa::path(post, path = "/logout", tag = "oauth",
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses((status = 204, description = "the session (or every session) ended"),
        (status = 400, body = crate::http::error::ErrorResponse), (status = 401, body = crate::http::error::ErrorResponse), (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_logout(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ClientForm { client, mut form }: ClientForm,
) -> Result<StatusCode, TokenError> {
    let token = form.take("refresh_token");
    let all = match form.take("all").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Error::InvalidRequest("all must be true or false").into()),
    };
    state
        .sigil
        .tokens
        .logout(&client, token.as_deref(), all, client_ip, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
