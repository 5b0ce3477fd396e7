//! `POST /token`: the RFC 6749 token endpoint.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{AuthorizationCode, GrantType, RefreshToken};
use crate::http::client_ip::ClientIp;
use crate::http::error::TokenError;
use crate::http::extract::{ClientForm, OAuthForm};
use crate::http::state::AppState;
use crate::oauth::{self, ClientAuthentication, Error, Grant, IssuedTokens, TokenRequest};

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(issued: IssuedTokens) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: (!issued.scope.is_empty()).then(|| issued.scope.to_string()),
            refresh_token: issued.refresh_token.map(|token| token.expose().to_owned()),
            id_token: issued.id_token,
        }
    }
}

/// The form fields of a token request (RFC 6749 §4.3.2, §4.4.2, §6). Parsing is
/// `OAuthForm`'s, which also refuses repeated parameters; this type describes the form for the
/// OpenAPI document.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document only")]
pub(crate) struct TokenForm {
    /// `client_credentials`, `password` or `refresh_token`.
    #[schema(value_type = crate::http::schema::GrantType)]
    grant_type: String,
    /// Requested scope, space-separated; default: everything allowed.
    #[schema(value_type = Option<crate::http::schema::Scope>, nullable = false)]
    scope: Option<String>,
    /// `password` grant: the user's email.
    #[schema(nullable = false)]
    username: Option<String>,
    /// `password` grant: the user's password.
    #[schema(nullable = false)]
    password: Option<String>,
    /// `refresh_token` grant: the refresh token.
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    /// `client_secret_post` and public clients: the client id.
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// `client_secret_post`: the client secret.
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// Issues tokens for the `client_credentials`, `password` and `refresh_token` grants. Client
/// authentication: `client_secret_basic`, `client_secret_post`, or `none` for public clients;
/// exactly one method per request.
#[utoipa::path(post, path = "/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses((status = 200, body = TokenResponse),
        (status = 400, body = crate::http::error::ErrorResponse, description = "RFC 6749 §5.2 error"),
        (status = 401, body = crate::http::error::ErrorResponse, description = "invalid_client"),
        (status = 413, body = crate::http::error::ErrorResponse), (status = 429, body = crate::http::error::ErrorResponse, description = "too many failed logins or requests; see Retry-After"),
        (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_token(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ClientForm { client, form }: ClientForm,
) -> Result<impl IntoResponse, TokenError> {
    let mut request = token_request(client, form)?;
    request.client_ip = client_ip;
    let issued = state.sigil.tokens.issue(request, state.clock.now()).await?;
    // RFC 6749 §5.1: token responses must not be cached.
    let headers = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    Ok((headers, Json(TokenResponse::from(issued))))
}

/// Turns the form and Basic credentials into a domain request.
fn token_request(client: ClientAuthentication, mut form: OAuthForm) -> Result<TokenRequest, Error> {
    let grant_type = form
        .take("grant_type")
        .ok_or(Error::InvalidRequest("grant_type is required"))?;
    let grant_type: GrantType = grant_type
        .parse()
        .map_err(|_| Error::UnsupportedGrantType)?;
    let scope = oauth::requested_scope(form.take("scope").as_deref())?;
    let grant = match grant_type {
        GrantType::ClientCredentials => Grant::ClientCredentials { scope },
        GrantType::Password => Grant::Password {
            username: form
                .take("username")
                .ok_or(Error::InvalidRequest("username is required"))?,
            password: form
                .take("password")
                .ok_or(Error::InvalidRequest("password is required"))?
                .into(),
            scope,
        },
        GrantType::RefreshToken => Grant::RefreshToken {
            refresh_token: RefreshToken::presented(
                form.take("refresh_token")
                    .ok_or(Error::InvalidRequest("refresh_token is required"))?,
            ),
            scope,
        },
        GrantType::AuthorizationCode => Grant::AuthorizationCode {
            code: AuthorizationCode::presented(
                form.take("code")
                    .ok_or(Error::InvalidRequest("code is required"))?,
            ),
            redirect_uri: form.take("redirect_uri"),
            code_verifier: form.take("code_verifier"),
        },
    };
    Ok(TokenRequest {
        client,
        grant,
        client_ip: None,
    })
}
