//! `POST /token`: the RFC 6749 token endpoint.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::domain::{ClientSecret, GrantType, Scope};
use crate::http::error::TokenError;
use crate::http::extract::{self, BasicCredentials, OAuthForm};
use crate::http::state::AppState;
use crate::oauth::{AuthMethod, ClientAuthentication, Error, Grant, IssuedTokens, TokenRequest};

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(issued: IssuedTokens) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: (!issued.scope.is_empty()).then(|| issued.scope.to_string()),
        }
    }
}

/// Issues an access token. Client authentication: `client_secret_basic` or
/// `client_secret_post`; exactly one method per request.
#[tracing::instrument(skip_all)]
pub(crate) async fn post_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<impl IntoResponse, TokenError> {
    let basic = extract::basic_credentials(&headers)?;
    let request = token_request(form, basic)?;
    let issued = state.issuer.issue(request, state.clock.now()).await?;
    // RFC 6749 §5.1: token responses must not be cached.
    let headers = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    Ok((headers, Json(TokenResponse::from(issued))))
}

/// Turns the form and Basic credentials into a domain request.
fn token_request(
    mut form: OAuthForm,
    basic: Option<BasicCredentials>,
) -> Result<TokenRequest, Error> {
    let client = client_authentication(&mut form, basic)?;
    let grant_type = form
        .take("grant_type")
        .ok_or(Error::InvalidRequest("grant_type is required"))?;
    let grant_type: GrantType = grant_type
        .parse()
        .map_err(|_| Error::UnsupportedGrantType)?;
    let scope = match form.take("scope") {
        Some(scope) => Some(Scope::parse(&scope).map_err(|_| Error::InvalidScope)?),
        None => None,
    };
    let grant = match grant_type {
        GrantType::ClientCredentials => Grant::ClientCredentials { scope },
        GrantType::Password | GrantType::RefreshToken => return Err(Error::UnsupportedGrantType),
    };
    Ok(TokenRequest { client, grant })
}

/// RFC 6749 §2.3: one authentication method per request; a body `client_id` beside Basic
/// must name the same client.
fn client_authentication(
    form: &mut OAuthForm,
    basic: Option<BasicCredentials>,
) -> Result<ClientAuthentication, Error> {
    let body_id = form.take("client_id");
    let body_secret = form.take("client_secret");
    match (basic, body_secret) {
        (Some(_), Some(_)) => Err(Error::InvalidRequest(
            "use only one client authentication method",
        )),
        (Some(basic), None) => {
            if body_id.is_some_and(|id| id != basic.client_id) {
                return Err(Error::InvalidRequest(
                    "client_id does not match the Authorization header",
                ));
            }
            Ok(ClientAuthentication {
                client_id: basic.client_id,
                secret: Some(ClientSecret::presented(basic.client_secret)),
                method: AuthMethod::ClientSecretBasic,
            })
        }
        (None, secret) => {
            let client_id = body_id.ok_or(Error::InvalidClient)?;
            let method = if secret.is_some() {
                AuthMethod::ClientSecretPost
            } else {
                AuthMethod::None
            };
            Ok(ClientAuthentication {
                client_id,
                secret: secret.map(ClientSecret::presented),
                method,
            })
        }
    }
}
