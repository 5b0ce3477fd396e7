//! `POST /register`: self-registration with email and password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;

/// The registration body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    /// The email address to log in with (at most 254 characters).
    #[schema(value_type = crate::http::schema::Email)]
    email: String,
    /// The password (at least the configured minimum length, at most 1024 characters).
    #[schema(value_type = crate::http::schema::NewPassword)]
    password: String,
}

/// The new user's id.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegisterResponse {
    /// The new user's id, the `sub` of their tokens.
    id: String,
}

/// Creates a user (`201` with its id). `409 user_already_exists` for a taken email (compared
/// case-insensitively), `400` for a malformed email or a short password, `403` when
/// registration is switched off, `429` (with `Retry-After`) beyond the registrations allowed
/// per IP or in total per window.
#[utoipa::path(post, path = "/register", tag = "users", request_body = RegisterRequest,
    responses((status = 201, body = RegisterResponse), (status = 400, body = crate::http::error::ErrorResponse),
        (status = 403, body = crate::http::error::ErrorResponse), (status = 409, body = crate::http::error::ErrorResponse), (status = 413, body = crate::http::error::ErrorResponse),
        (status = 415, body = crate::http::error::ErrorResponse),
        (status = 429, body = crate::http::error::ErrorResponse, description = "too many registrations; see Retry-After"), (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_register(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let user = state
        .sigil
        .accounts
        .register(
            &request.email,
            request.password.into(),
            client_ip,
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse { id: user.id.into() }),
    ))
}
