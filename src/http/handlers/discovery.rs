//! `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.

use crate::http::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;

/// OpenID Connect Discovery metadata.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    responses((status = 200, body = serde_json::Value, description = "OIDC Discovery 1.0 metadata")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_openid_configuration(State(state): State<AppState>) -> impl IntoResponse {
    metadata_response(&state)
}

/// RFC 8414 authorization-server metadata (the same document).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, body = serde_json::Value, description = "RFC 8414 metadata")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_oauth_authorization_server(
    State(state): State<AppState>,
) -> impl IntoResponse {
    metadata_response(&state)
}

fn metadata_response(state: &AppState) -> impl IntoResponse + use<> {
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (header::CACHE_CONTROL, state.documents.cache_control.clone()),
    ];
    (headers, state.documents.discovery.clone())
}
