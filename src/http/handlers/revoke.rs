//! `POST /revoke`: RFC 7009 token revocation.

use axum::extract::State;
use axum::http::StatusCode;

use crate::http::client_ip::ClientIp;
use crate::http::error::TokenError;
use crate::http::extract::ClientForm;
use crate::http::state::AppState;

/// The form of `/revoke`; parsing is `ClientForm`'s, this type describes it for the OpenAPI
/// document.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document only")]
pub(crate) struct RevokeForm {
    /// The refresh or access token to revoke.
    #[schema(min_length = 1)]
    token: String,
    /// `refresh_token` or `access_token`; a hint only.
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    /// `client_secret_post` and public clients: the client id.
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// `client_secret_post`: the client secret.
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// Revokes a refresh token's whole family, or the session of an access token. `200` for
/// unknown or foreign tokens too (RFC 7009 §2.2), so nothing is learned from the answer.
#[utoipa::path(post, path = "/revoke", tag = "oauth",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses((status = 200, description = "revoked, or nothing to revoke"),
        (status = 400, body = crate::http::error::ErrorResponse), (status = 401, body = crate::http::error::ErrorResponse), (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_revoke(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ClientForm { client, mut form }: ClientForm,
) -> Result<StatusCode, TokenError> {
    let token = form.take("token");
    state
        .sigil
        .tokens
        .revoke(&client, token.as_deref(), client_ip, state.clock.now())
        .await?;
    Ok(StatusCode::OK)
}
