//! `POST /introspect`: RFC 7662 token introspection.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::error::TokenError;
use crate::http::extract::ClientForm;
use crate::http::state::AppState;
use crate::oauth::Introspection;

/// RFC 7662 §2.2: `{"active": false}` alone when the token is not usable.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct IntrospectionResponse {
    /// Whether the token is usable now.
    active: bool,
    /// Its scope, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// The client it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// Its subject: a user id, or the client id for client_credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// The audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    /// The token's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// `Bearer` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
}

impl From<Introspection> for IntrospectionResponse {
    fn from(answer: Introspection) -> Self {
        Self {
            active: answer.active,
            scope: answer.scope,
            client_id: answer.client_id,
            sub: answer.sub,
            exp: answer.exp,
            iat: answer.iat,
            iss: answer.iss,
            aud: answer.aud,
            jti: answer.jti,
            token_type: answer.token_type,
        }
    }
}

/// The form of `/introspect`; parsing is `ClientForm`'s, this type describes it for the OpenAPI
/// document.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document only")]
pub(crate) struct IntrospectForm {
    /// The access or refresh token to inspect.
    #[schema(min_length = 1)]
    token: String,
    /// `access_token` or `refresh_token`; a hint only.
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    /// `client_secret_post`: the client id.
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// `client_secret_post`: the client secret.
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// Whether a token is usable right now, for a confidential client. `{"active": false}` for
/// expired, revoked, forged or unknown tokens, and for tokens of deleted users. The client
/// authenticates with HTTP Basic (`client_secret_basic`) or with `client_id` and
/// `client_secret` in the form (`client_secret_post`, which OpenAPI cannot name as a scheme:
/// hence the empty alternative); without either the answer is `401 invalid_client`.
#[utoipa::path(post, path = "/introspect", tag = "oauth",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses((status = 200, body = IntrospectionResponse),
        (status = 400, body = crate::http::error::ErrorResponse), (status = 401, body = crate::http::error::ErrorResponse), (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_introspect(
    State(state): State<AppState>,
    ClientForm { client, mut form }: ClientForm,
) -> Result<impl IntoResponse, TokenError> {
    let token = form.take("token");
    let answer = state
        .sigil
        .tokens
        .introspect(&client, token.as_deref(), state.clock.now())
        .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(IntrospectionResponse::from(answer)),
    ))
}
