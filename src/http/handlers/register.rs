//! `POST /register`: self-registration with email and password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::state::AppState;
use crate::oauth::RegisterError;

/// The registration body.
#[derive(Deserialize)]
pub(crate) struct RegisterRequest {
    email: String,
    password: String,
}

/// The new user's id.
#[derive(Debug, Serialize)]
pub(crate) struct RegisterResponse {
    id: String,
}

/// Creates a user (`201` with its id). `409 user_already_exists` for a taken email (compared
/// case-insensitively), `400` for a malformed email or a short password, `403` when
/// registration is switched off.
#[tracing::instrument(skip_all)]
pub(crate) async fn post_register(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    if !state.registration {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_disabled",
            "self-registration is switched off",
        ));
    }
    let user = state
        .issuer
        .register(&request.email, request.password, state.clock.now())
        .await
        .map_err(|error| match error {
            RegisterError::InvalidEmail(_) | RegisterError::InvalidPassword(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                error.to_string(),
            ),
            RegisterError::EmailTaken => ApiError::new(
                StatusCode::CONFLICT,
                "user_already_exists",
                error.to_string(),
            ),
            RegisterError::Unavailable => ApiError::unavailable(),
            RegisterError::Internal(source) => ApiError::internal(source),
        })?;
    Ok((StatusCode::CREATED, Json(RegisterResponse { id: user.id })))
}
