//! `POST /introspect`: RFC 7662 token introspection.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::error::TokenError;
use crate::http::extract::ClientForm;
use crate::http::state::AppState;
use crate::oauth::Error;

/// The form of `/introspect`; parsing is `ClientForm`'s, this type describes it for the OpenAPI
/// document.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document only")]
pub(crate) struct IntrospectForm {
    /// The access or refresh token to inspect.
    token: String,
    /// `access_token` or `refresh_token`; a hint only.
    token_type_hint: Option<String>,
    /// `client_secret_post`: the client id.
    client_id: Option<String>,
    /// `client_secret_post`: the client secret.
    client_secret: Option<String>,
}

/// Whether a token is usable right now, for a confidential client. `{"active": false}` for
/// expired, revoked, forged or unknown tokens, and for tokens of deleted users.
#[utoipa::path(post, path = "/introspect", tag = "oauth",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    security(("client_secret_basic" = [])),
    responses((status = 200, body = crate::oauth::Introspection),
        (status = 400, body = crate::http::error::ErrorResponse), (status = 401, body = crate::http::error::ErrorResponse), (status = 503, body = crate::http::error::ErrorResponse)))]
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
